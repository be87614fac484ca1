/* peardeck's browser client, shared by every page. No build step: a plain script that defines
 * window.Peardeck.
 *
 * - api(method, path, body, {token}): JSON over HTTP with the CSRF header; rejects with the
 *   server's {code, message, field} error.
 * - connect(options): a live link to one session. Push transports are tried in the page's order
 *   of preference (WebSocket, then Firebase for students when this deployment has it), with HTTP
 *   polling whenever none is up. It keeps the versions the page holds (README, "what each role is
 *   guaranteed"): `seq` for the session, and for answers a watermark (the `answers_seq` up to
 *   which it has every change) moved by documents and by the ranges tally events cover. An event
 *   that skips a `seq`, or a hole in the answers that stays open, means something was lost: the
 *   link asks for the state again (over the socket when it is up, else over HTTP). Pages keep
 *   each piece only if it is at least as new as theirs: `onState(state, held)` says what the
 *   link held before this document.
 * - metrics: one batch per page to POST /api/browser-metrics (reportMetrics is the only sender).
 */
(function () {
  "use strict";

  // Pages without a config (sign-in, errors) carry "null".
  const config = JSON.parse(document.getElementById("page-config")?.textContent || "null") || {};
  const FATAL_CLOSE = { 4400: "bad_request", 4401: "not_authenticated", 4403: "student_removed", 4404: "session_not_found" };
  // A hole in the answers, or a tally newer than the session we know, may be filled by an event
  // still on its way (two workers publish independently): wait this long before asking.
  const CHECK_MS = 1500;
  // Once tally events stop, ask once whether we have everything: the last one may have died with
  // a worker, and nothing else would say so.
  const QUIET_SYNC_MS = 3000;

  /* The answers_seq up to which a page holds every change. A document read at n holds all changes
   * up to n; a tally event covering [before, after] extends it when it joins up. */
  class Watermark {
    constructor() {
      this.held = null;
      this.ranges = [];
    }
    document(answersSeq) {
      if (typeof answersSeq === "number" && (this.held === null || answersSeq > this.held)) this.held = answersSeq;
      this.join();
    }
    covered(before, after) {
      this.ranges.push([before, after]);
      this.join();
    }
    join() {
      if (this.held === null) return;
      let joined = true;
      while (joined) {
        joined = false;
        for (const range of this.ranges) {
          if (range[0] <= this.held) {
            this.held = Math.max(this.held, range[1]);
            this.ranges = this.ranges.filter((other) => other !== range);
            joined = true;
            break;
          }
        }
      }
    }
    get hole() {
      return this.ranges.length > 0;
    }
  }

  /* Whether a piece stamped `version` may replace one stamped `held` (missing stamps: always). */
  function atLeast(version, held) {
    return typeof version !== "number" || typeof held !== "number" || version >= held;
  }

  function cookie(name) {
    const match = document.cookie.split("; ").find((part) => part.startsWith(name + "="));
    return match ? decodeURIComponent(match.slice(name.length + 1)) : "";
  }

  class ApiError extends Error {
    constructor(status, error) {
      super(error.message || `Request failed (${status})`);
      this.status = status;
      this.code = error.code || "http_" + status;
      this.field = error.field || null;
    }
  }

  async function api(method, path, body, options = {}) {
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (options.token) headers.Authorization = "Bearer " + options.token;
    if (method !== "GET") headers["X-CSRFToken"] = cookie("csrftoken");
    Object.assign(headers, options.headers || {});
    let response;
    try {
      response = await fetch(path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: "same-origin",
        cache: "no-store",
      });
    } catch (failure) {
      clientError("api_error");
      throw new ApiError(0, { code: "network", message: "Cannot reach the server. Check your connection." });
    }
    if (response.status === 304) return { status: 304, data: null };
    const text = await response.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch (notJson) {
      data = null;
    }
    // A refusal (4xx) is an answer; a server error or a gateway's is what the metric counts.
    if (response.status >= 500) clientError("api_error");
    if (!response.ok) throw new ApiError(response.status, (data && data.error) || {});
    return options.raw ? { status: response.status, data } : data;
  }

  /* Every item of a paged list (GET /api/decks, /api/sessions, /api/sessions/{id}/responses):
   * {"items": [...], "next_cursor": "…"} a page at a time, until next_cursor is null. */
  async function allPages(path, options = {}) {
    const items = [];
    let cursor = null;
    do {
      const separator = path.includes("?") ? "&" : "?";
      const query = `limit=200${cursor ? "&cursor=" + encodeURIComponent(cursor) : ""}`;
      const page = await api("GET", path + separator + query, undefined, options);
      items.push(...page.items);
      cursor = page.next_cursor;
    } while (cursor);
    return items;
  }

  // --- metrics ------------------------------------------------------------------------------

  // The aggregator knows three apps (observability/browser_metrics_config.py); each page belongs to one.
  const METRICS_APP = { join: "student", student: "student", decks: "teacher", deck: "teacher", teacher: "teacher", projector: "projector" };

  const metrics = {
    app: METRICS_APP[config.app] || "student",
    pending: [],
    started: performance.now(),
    add(name, value, labels) {
      this.pending.push(labels ? { name, labels, value } : { name, value });
    },
    interactive() {
      if (this.reportedInteractive) return;
      this.reportedInteractive = true;
      this.add("app_load", 1, { outcome: "success" });
      this.add("time_to_interactive", Math.round(performance.now() - this.started) / 1000);
      this.flush();
    },
    failed(reason) {
      if (this.reportedInteractive) return;
      this.reportedInteractive = true;
      this.add("app_load", 1, { outcome: "failure" });
      this.flush();
    },
    /* Measurements made after the page loaded (connections, answers) go out within a few seconds. */
    soon() {
      if (this.flushTimer || !this.reportedInteractive) return;
      this.flushTimer = setTimeout(() => {
        this.flushTimer = null;
        this.flush();
      }, 5000);
    },
    flush() {
      if (!this.pending.length) return;
      const batch = { app: this.app, metrics: this.pending.splice(0) };
      reportMetrics(batch);
    },
  };

  /* The only place browser metrics leave the page, in the aggregator's format
   * (POST /api/browser-metrics; names and label values: observability/browser_metrics_config.py):
   * {"app": "student", "metrics": [{"name": "app_load", "labels": {"outcome": "success"}, "value": 1},
   *                                {"name": "time_to_interactive", "value": 1.2}]}
   * Any failure, including a 404 from a server without the aggregator, is ignored. */
  function reportMetrics(batch) {
    try {
      fetch("/api/browser-metrics", {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-CSRFToken": cookie("csrftoken") },
        body: JSON.stringify(batch),
        credentials: "same-origin",
        keepalive: true,
      }).catch(() => {});
    } catch (ignored) {
      /* metrics never break the page */
    }
  }

  let errorsReported = 0;
  function clientError(kind) {
    if (errorsReported++ >= 5) return;
    metrics.add("client_error", 1, { kind });
    metrics.soon();
  }
  // Capturing: a script, stylesheet or image that fails to load fires "error" on its element only.
  window.addEventListener("error", (event) => clientError(event.target && event.target !== window ? "resource_error" : "js_error"), true);
  window.addEventListener("unhandledrejection", () => clientError("unhandled_rejection"));
  window.addEventListener("pagehide", () => metrics.flush());

  // --- transports ---------------------------------------------------------------------------

  /* A transport factory takes the link and returns {name, start(), stop(), send(message)}.
   * It reports through the link:
   * - link.attempt(transport, outcome, labels): how one try to connect ended: "connected", "failed"
   *   (closed or refused before coming up) or "timeout" (nothing within CONNECT_TIMEOUT_MS); labels
   *   adds declared labels of transport_connect (Firebase: firebase_transport);
   * - link.opened(transport) / link.closed(transport, fatalCode): it is up / it went down;
   * - link.receive(message): a message in the WebSocket's vocabulary.
   * send() returns false when it cannot carry the message. */
  const CONNECT_TIMEOUT_MS = 8000;
  const registered = new Map();

  /* For transports built elsewhere (static/peardeck/firebase-link.js). `enabled(config, options)`
   * says whether this page and this user can use it. */
  function registerTransport(name, factory, enabled) {
    registered.set(name, { factory, enabled });
  }

  function backoff(attempt) {
    const ceiling = Math.min(30000, 500 * 2 ** attempt);
    return ceiling / 2 + Math.random() * (ceiling / 2); // "equal jitter": never zero, never in lockstep
  }

  /* "?since=<seq>&answers_since=<watermark>" for what a link holds ("" when it holds nothing). */
  function sinceQuery(link, full) {
    if (!link || full || link.seq < 0) return "";
    const answers = link.answers && link.answers.held !== null ? `&answers_since=${link.answers.held}` : "";
    return `since=${link.seq}${answers}`;
  }

  function websocketUrl(code, role, link) {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const since = sinceQuery(link);
    return `${scheme}//${location.host}/ws/sessions/${encodeURIComponent(code)}/${role}/${since ? "?" + since : ""}`;
  }

  function websocketProtocols(token) {
    return token ? ["peardeck.v1", "token." + token] : ["peardeck.v1"];
  }

  function websocketTransport(link) {
    let socket = null;
    let attempt = 0;
    let timer = null;
    let stopped = false;

    function open() {
      if (stopped) return;
      let helloSeen = false;
      let outcome = null; // each try reports one outcome
      const settle = (result) => {
        if (outcome) return;
        outcome = result;
        link.attempt(api_, result);
      };
      try {
        socket = new WebSocket(websocketUrl(link.code, link.role, link), websocketProtocols(link.token));
      } catch (failure) {
        settle("failed");
        retry();
        return;
      }
      const current = socket;
      // A proxy can hold an upgrade forever: give up on this try, and let the next transport help.
      const deadline = setTimeout(() => {
        if (helloSeen || current !== socket) return;
        settle("timeout");
        current.close();
      }, CONNECT_TIMEOUT_MS);
      socket.onmessage = (message) => {
        let data;
        try {
          data = JSON.parse(message.data);
        } catch (notJson) {
          return;
        }
        if (data.type === "hello" && !helloSeen) {
          helloSeen = true;
          clearTimeout(deadline);
          attempt = 0;
          settle("connected");
          link.opened(api_);
        }
        link.receive(data, api_);
      };
      socket.onclose = (event) => {
        clearTimeout(deadline);
        if (current !== socket) return; // a socket this transport already stopped
        socket = null;
        if (event.code in FATAL_CLOSE) {
          link.closed(api_, FATAL_CLOSE[event.code]);
          return;
        }
        settle("failed");
        link.closed(api_, null);
        retry();
      };
    }

    function retry() {
      if (stopped) return;
      clearTimeout(timer);
      timer = setTimeout(open, backoff(attempt++));
    }

    const api_ = {
      name: "websocket",
      start() {
        stopped = false;
        open();
      },
      stop() {
        stopped = true;
        clearTimeout(timer);
        const closing = socket;
        socket = null;
        if (closing) closing.close(1000);
      },
      send(message) {
        if (!socket || socket.readyState !== WebSocket.OPEN) return false;
        socket.send(JSON.stringify(message));
        return true;
      },
    };
    return api_;
  }

  /* The WebSocket dark launch: a page that does not use a WebSocket (Firebase mode) opens one in
   * the background once, reports how it went (`websocket_darklaunch`) and closes it. Nothing
   * depends on it; it measures how often sockets get through before anyone relies on them. */
  function tryWebSocketInBackground({ code, role, token }) {
    let reported = false;
    const report = (outcome) => {
      if (reported) return;
      reported = true;
      metrics.add("websocket_darklaunch", 1, { outcome });
      metrics.soon();
    };
    let socket;
    try {
      socket = new WebSocket(websocketUrl(code, role, null), websocketProtocols(token));
    } catch (failure) {
      report("failed");
      return;
    }
    const deadline = setTimeout(() => {
      report("timeout");
      socket.close();
    }, CONNECT_TIMEOUT_MS);
    socket.onmessage = (message) => {
      if (String(message.data).includes('"hello"')) {
        clearTimeout(deadline);
        report("connected");
        socket.close(1000);
      }
    };
    socket.onclose = () => {
      clearTimeout(deadline);
      report("failed");
    };
  }

  // --- the connection -----------------------------------------------------------------------

  /* options: role ("teacher" | "student" | "projector"), code (join code), token (student token or
   * projector key; teachers use their login cookie), stateUrl (the role's HTTP state endpoint),
   * transports (push transports in order of preference; default ["websocket"]; names other than
   * "websocket" must be registered and enabled), onState(state), onEvent(event),
   * onStatus(text, transportName), onFatal(code), pollInterval (ms, default 2000); a registered
   * transport may read more options of its own (Firebase: `firebase`, `onCredentials`).
   *
   * The first transport starts at once. Whenever a try of one of them fails or times out while
   * none is up, the next one starts too; once a transport is up, every one after it stops. So a
   * WebSocket that works makes the others unnecessary, and one that starts working again takes
   * back over. HTTP polling runs whenever no push transport is up. */
  function connect(options) {
    const link = {
      role: options.role,
      code: options.code,
      token: options.token || "",
      seq: -1,
      seenSeq: -1, // the highest seq a tally event said the session had
      answers: new Watermark(),
      state: null, // the last full state applied
      push: null, // the preferred push transport that is up, if any
      transports: [],
      running: new Set(),
      up: new Set(),
      pollTimer: null,
      fetching: null,
      stopped: false,
    };
    const tools = { api, metrics, config, options };

    function status(text) {
      if (options.onStatus) options.onStatus(text, link.push ? link.push.name : "polling");
    }

    function startTransport(transport) {
      if (link.stopped || !transport || link.running.has(transport)) return;
      link.running.add(transport);
      bringingUp.add(transport);
      transport.start();
    }

    function stopTransport(transport) {
      if (!link.running.has(transport)) return;
      link.running.delete(transport);
      link.up.delete(transport);
      transport.stop();
    }

    /* transport_connect counts bring-ups, not retries: the first try after a transport starts or
     * loses its link is reported; the retries while it stays down are not (one blocked browser
     * would otherwise weigh fifty times in the failure ratio). */
    const bringingUp = new Set();
    let attemptsReported = 0;
    link.attempt = (transport, outcome, labels) => {
      if (bringingUp.delete(transport) && attemptsReported++ < 20) {
        metrics.add("transport_connect", 1, { transport: transport.name, outcome, ...labels });
        metrics.soon();
      }
      if (outcome !== "connected" && !link.push) {
        startTransport(link.transports[link.transports.indexOf(transport) + 1]);
      }
    };

    link.opened = (transport) => {
      if (!link.running.has(transport)) return;
      link.up.add(transport);
      link.push = link.transports.find((candidate) => link.up.has(candidate));
      link.transports.slice(link.transports.indexOf(link.push) + 1).forEach(stopTransport);
      stopPolling();
      status("live");
    };

    link.closed = (transport, fatal) => {
      if (link.up.delete(transport)) bringingUp.add(transport);
      if (fatal) {
        stopAll();
        if (options.onFatal) options.onFatal(fatal);
        return;
      }
      link.push = link.transports.find((candidate) => link.up.has(candidate)) || null;
      // Polling covers the gap while the one that went down reconnects by itself. The next
      // transport starts only if that reconnection fails (link.attempt): a deploy closes every
      // socket of a pod with 1001 and they are back within a second, without a rush of students
      // signing in to Firebase meanwhile.
      if (!link.push) startPolling();
    };

    link.receive = (message) => {
      if (message.type === "hello" || message.type === "state") {
        if (message.state) applyState(message.state);
        return; // no state: the server found we hold every version it has
      }
      if (message.type === "refused" || message.type === "pong" || message.type === "in_sync") return;
      if (message.type === "tallies") {
        // Not a session change: it carries the session's seq when it was built and the answers
        // version of its snapshot; the page keeps each tally only if it is not older than its own.
        (message.covers || []).forEach(([before, after]) => link.answers.covered(before, after));
        if (message.seq > link.seq) link.seenSeq = Math.max(link.seenSeq, message.seq);
        if (message.seq > link.seq || link.answers.hole) checkSoon();
        quietSyncSoon();
      } else if (typeof message.seq === "number") {
        if (message.seq <= link.seq) {
          return; // a repeat, or older than a state already applied
        } else if (message.seq > link.seq + 1 && link.seq >= 0) {
          resync(); // a gap: something was lost, the server's state is the truth
          return;
        } else {
          link.seq = message.seq;
        }
      }
      if (options.onEvent) options.onEvent(message);
    };

    /* A document (hello, sync, HTTP, the reply to a teacher's action): the page takes the parts
     * that are not older than what it holds, and the link's versions move up, never down. */
    function applyState(state) {
      if (link.stopped) return; // a refusal ended this link; a late answer must not revive the page
      const held = { seq: link.seq, answersSeq: link.answers.held };
      if (typeof state.seq === "number") link.seq = Math.max(link.seq, state.seq);
      link.answers.document(state.answers_seq);
      if (held.seq < 0 || state.seq >= held.seq) link.state = state;
      options.onState(state, held);
    }
    link.applyState = applyState;

    let checkTimer = null;
    function checkSoon() {
      if (checkTimer) return;
      checkTimer = setTimeout(() => {
        checkTimer = null;
        if (link.answers.hole || link.seq < link.seenSeq) resync();
      }, CHECK_MS);
    }

    let quietTimer = null;
    function quietSyncSoon() {
      clearTimeout(quietTimer);
      quietTimer = setTimeout(() => resync(), QUIET_SYNC_MS);
    }

    /* Asks for the state if it changed: over the socket when one is up (the reply is "in_sync" or
     * "state"), else over HTTP with since. */
    function resync() {
      const message = { type: "sync", seq: link.seq };
      if (link.answers.held !== null) message.answers_seq = link.answers.held;
      if (link.push && link.push.name === "websocket" && link.push.send(message)) return;
      refetch();
    }

    /* full: ignore what we have (after applying an event locally, `since` would say "unchanged"). */
    async function refetch(full) {
      if (link.fetching) return link.fetching.then(() => (full ? refetch(true) : undefined));
      link.fetching = (async () => {
        try {
          const query = sinceQuery(link, full);
          const since = query ? `${options.stateUrl.includes("?") ? "&" : "?"}${query}` : "";
          const result = await api("GET", options.stateUrl + since, undefined, { token: link.token, raw: true });
          if (result.status !== 304 && result.data) applyState(result.data);
          if (!link.push) status("polling");
        } catch (failure) {
          if (failure.code && Object.values(FATAL_CLOSE).includes(failure.code)) {
            stopAll();
            if (options.onFatal) options.onFatal(failure.code);
          } else {
            status("offline — retrying");
          }
        } finally {
          link.fetching = null;
        }
      })();
      return link.fetching;
    }
    link.refetch = refetch;

    function startPolling() {
      if (link.pollTimer || link.stopped) return;
      const interval = options.pollInterval || 2000;
      const tick = async () => {
        await refetch();
        if (options.onPoll) await options.onPoll();
        if (link.pollTimer) link.pollTimer = setTimeout(tick, interval);
      };
      link.pollTimer = setTimeout(tick, 0);
    }

    function stopPolling() {
      clearTimeout(link.pollTimer);
      link.pollTimer = null;
    }

    function stopAll() {
      link.stopped = true;
      clearTimeout(checkTimer);
      clearTimeout(quietTimer);
      stopPolling();
      link.transports.forEach(stopTransport);
    }

    // A page that has not shown anything useful by now counts as a failed load (no-op once it has).
    setTimeout(() => metrics.failed("timeout"), 20000);
    for (const name of options.transports || ["websocket"]) {
      if (name === "websocket") {
        link.transports.push(websocketTransport(link));
        continue;
      }
      const extra = registered.get(name);
      if (extra && extra.enabled(config, options)) link.transports.push(extra.factory(link, tools));
    }
    startTransport(link.transports[0]);
    // Until a push transport is up, the page works from HTTP: the first state arrives at once.
    refetch();
    startPolling();

    return {
      get seq() {
        return link.seq;
      },
      get transport() {
        return link.push ? link.push.name : "polling";
      },
      get answersSeq() {
        return link.answers.held;
      },
      refetch,
      /* A document the page got by itself (the reply to a teacher's action): applied as any other. */
      applyState,
      /* Sends over the open push transport; returns false when none is open (callers then use HTTP). */
      send(message) {
        return Boolean(link.push && link.push.send(message));
      },
      close: stopAll,
    };
  }

  /* Submission ids sort in the order this page made them: a millisecond clock, a counter, then
   * 64 random bits. Firebase lists a student's waiting inbox entries by key, so a worker that
   * starts on a full inbox still takes that student's answers in the order they were given. */
  let submissionsMade = 0;
  function newSubmissionId() {
    const time = Date.now().toString(36).padStart(9, "0");
    const count = (submissionsMade++ % 1296).toString(36).padStart(2, "0");
    const random = Array.from(crypto.getRandomValues(new Uint32Array(2)), (n) => n.toString(16).padStart(8, "0")).join("");
    return time + count + random;
  }

  /* The student's own order of their answers, sent with each on every transport: the server keeps
   * the answer with the highest order whichever path each took. Microseconds of the clock, made
   * strictly increasing within the page; a reloaded page goes on from the clock. Below 2**53. */
  let lastOrder = 0;
  function newOrder() {
    lastOrder = Math.max(lastOrder + 1, Date.now() * 1000);
    return lastOrder;
  }

  window.Peardeck = { config, api, allPages, ApiError, connect, registerTransport, tryWebSocketInBackground, reportMetrics, metrics, newSubmissionId, newOrder, atLeast, backoff };
})();
