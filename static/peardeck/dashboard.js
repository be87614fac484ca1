/* The teacher's live dashboard: how students join (code, link, QR), the roster with each answer
 * and whether it is right, the current question's results, and the controls that move the class.
 *
 * What it holds, each piece with its version, kept only when what arrives is not older: the session
 * and its roster (`seq`), each question's tally (the `answers_seq` of the snapshot it came from),
 * each student's answer (the response's own `version`). Tallies from two workers can arrive in
 * either order; the older one is dropped. */
(function () {
  "use strict";
  const { api, allPages, atLeast, config, connect, metrics } = window.Peardeck;
  const { el, showError, toast, answerSummary, KIND_LABELS, plural } = window.UI;
  const base = `/api/sessions/${config.session_id}`;
  const byId = (id) => document.getElementById(id);

  let session = null; // teacher_state: the session part, as of session.seq
  const tallies = new Map(); // question id -> {tally, stamp}: stamp is the answers_seq it was read at
  const responses = new Map(); // "question:student" -> {id, answer, version, starred, is_correct, student_id, question_id}
  const fail = (failure) => showError("dash-error", failure);
  const namesKey = `peardeck.hide-names.${config.session_id}`;
  let hideNames = sessionStorage.getItem(namesKey) === "1";

  const joinLink = `${location.origin}/?code=${encodeURIComponent(config.join_code)}`;
  byId("join-address").textContent = window.UI.joinAddress();
  byId("join-link").value = joinLink;

  function takeTally(tally, stamp) {
    const held = tallies.get(tally.question_id);
    if (!held || atLeast(stamp, held.stamp)) tallies.set(tally.question_id, { tally, stamp });
  }

  function takeResponse(response) {
    const key = `${response.question_id}:${response.student_id}`;
    const held = responses.get(key);
    if (held && typeof held.version === "number" && response.version < held.version) return;
    responses.set(key, { ...(held || {}), ...response });
  }

  function takeSession(state) {
    if (session === null || !(state.seq < session.seq)) session = { ...state };
  }

  const link = connect({
    role: "teacher",
    code: config.join_code,
    stateUrl: base,
    async onState(state) {
      const first = session === null;
      takeSession(state);
      (state.tallies || []).forEach((t) => takeTally(t, state.answers_seq));
      (state.responses || []).forEach(takeResponse);
      render();
      // The socket's hello carries every answer; the HTTP state does not: polling loads them
      // (onPoll), and so does the first state when it came over HTTP.
      if (first && !state.responses) await loadAnswers();
      if (first) metrics.interactive();
    },
    onPoll: () => loadAnswers(),
    onEvent(event) {
      if (!session) return;
      switch (event.type) {
        case "tallies":
          event.tallies.forEach((t) => takeTally(t, event.answers_seq));
          (event.responses || []).forEach(takeResponse);
          break;
        case "question_changed":
          session.current_question_id = event.question_id;
          break;
        case "question_locked":
        case "question_unlocked":
          session.locked_question_ids = toggle(session.locked_question_ids, event.question_id, event.type === "question_locked");
          break;
        case "results_revealed":
        case "results_hidden":
          session.revealed_question_ids = toggle(session.revealed_question_ids, event.question_id, event.type === "results_revealed");
          break;
        case "student_joined":
          if (!session.students.some((s) => s.id === event.student_id)) session.students.push({ id: event.student_id, display_name: event.display_name, removed: false });
          break;
        case "pacing_changed":
          session.pacing = event.pacing;
          break;
        case "student_removed": {
          const student = session.students.find((s) => s.id === event.student_id);
          if (student) student.removed = true;
          break;
        }
        default:
          link.refetch(true);
          return;
      }
      if (event.type !== "tallies") session.seq = event.seq;
      render();
    },
    /* The link's state, kept apart from the session's: "Connected" says nothing of whether the
     * class has started. */
    onStatus(text, transport) {
      const line = byId("connection");
      line.textContent = text === "live" ? "Connected" : transport === "polling" && text === "polling" ? "Connected (slow updates)" : text.startsWith("offline") ? "Offline, reconnecting…" : "Connecting…";
      line.dataset.link = text === "live" ? "up" : text === "polling" ? "polling" : "down";
    },
    onFatal(code) {
      fail({ message: code === "not_authenticated" ? "You were signed out. Sign in again to keep running this session." : "The dashboard lost its link to this session. Reload the page." });
    },
  });

  function toggle(ids, id, on) {
    const set = new Set(ids || []);
    on ? set.add(id) : set.delete(id);
    return [...set];
  }

  async function loadAnswers() {
    try {
      const [all, counts] = await Promise.all([allPages(`${base}/responses`), api("GET", `${base}/tallies`)]);
      all.forEach((r) => takeResponse({ ...r, student_id: r.student.id }));
      counts.tallies.forEach((t) => takeTally(t, counts.answers_seq));
      render();
    } catch (failure) {
      fail(failure);
    }
  }

  async function act(path, body) {
    try {
      const state = await api("POST", `${base}/${path}`, body);
      showError("dash-error", null);
      link.applyState(state); // versions move with it: the event of this very change is then a repeat
    } catch (failure) {
      fail(failure);
    }
  }

  function current() {
    return session && session.questions.find((q) => q.id === session.current_question_id);
  }

  const STATE_LABELS = { waiting: "Waiting for students", live: "Live", ended: "Ended" };

  /* What the roster and results call a student: their name, or "Student 3" while names are
   * hidden for screen sharing (numbered by joining order, so the numbers stay put). */
  function nameOf(student) {
    if (!hideNames) return student.display_name;
    return `Student ${session.students.indexOf(student) + 1}`;
  }

  function hasKey(question) {
    return question && question.kind === "multiple_choice" && (question.config.correct || []).length > 0;
  }

  function render() {
    if (!session) return;
    const question = current();
    const locked = question && session.locked_question_ids.includes(question.id);
    const revealed = question && session.revealed_question_ids.includes(question.id);
    const students = session.students.filter((s) => !s.removed);
    const ended = session.state === "ended";
    document.body.dataset.sessionState = session.state;
    document.body.classList.toggle("names-hidden", hideNames);
    const badge = byId("session-state");
    badge.textContent = STATE_LABELS[session.state] || session.state;
    badge.dataset.state = session.state;
    byId("hide-names").setAttribute("aria-pressed", String(hideNames));
    byId("hide-names").textContent = hideNames ? "Show names" : "Hide names";

    // question navigation
    byId("question-nav").replaceChildren(
      ...session.questions.map((q, index) =>
        el("li", { class: q.id === session.current_question_id ? "current" : "" },
          el("button", { type: "button", class: "link", "aria-current": q.id === session.current_question_id ? "step" : false, disabled: ended || session.state === "waiting", onclick: () => act("goto", { question_id: q.id }) },
            `${index + 1}. `, el("span", { class: "kind-dot", dataset: { kind: q.kind }, "aria-hidden": "true" }), el("span", { class: "visually-hidden" }, `${KIND_LABELS[q.kind]}: `), q.prompt || KIND_LABELS[q.kind]))),
    );

    // controls
    const index = question ? session.questions.indexOf(question) : -1;
    byId("start").hidden = session.state !== "waiting";
    byId("previous").disabled = ended || index <= 0;
    byId("next").disabled = ended || session.state === "waiting" || index >= session.questions.length - 1;
    byId("lock").disabled = byId("reveal").disabled = ended || !question || question.kind === "slide";
    byId("lock").textContent = locked ? "Unlock answers" : "Lock answers";
    byId("lock").setAttribute("aria-pressed", String(Boolean(locked)));
    byId("reveal").textContent = revealed ? "Hide results" : "Reveal on projector";
    byId("reveal").setAttribute("aria-pressed", String(Boolean(revealed)));
    byId("end-session").disabled = ended;
    byId("pacing").setAttribute("aria-pressed", String(session.pacing === "student"));
    byId("pacing").disabled = ended;

    // the current question and its results
    byId("current-meta").textContent = ended
      ? "Session ended · students see their takeaways"
      : session.state === "waiting"
        ? `Not started · ${plural(students.length, "student")} joined · press Go live when everyone is in`
        : `Question ${index + 1} of ${session.questions.length} · ${question ? KIND_LABELS[question.kind] : ""}${locked ? " · locked" : ""}${revealed ? " · on the projector" : ""}`;
    byId("current-prompt").textContent = question ? question.prompt || KIND_LABELS[question.kind] : session.state === "waiting" ? "Waiting for students to join" : "No question";
    const tally = question && tallies.has(question.id) ? tallies.get(question.id).tally : null;
    const answerable = question && question.kind !== "slide";
    byId("answered").textContent = answerable ? `${tally ? tally.answered : 0} of ${students.length} answered` : "";
    const answersHere = answerable ? students.map((s) => responses.get(`${question.id}:${s.id}`)).filter(Boolean) : [];
    const correctSoFar = byId("correct-so-far");
    correctSoFar.hidden = !hasKey(question) || !answersHere.length;
    if (!correctSoFar.hidden) {
      const right = answersHere.filter((r) => r.is_correct === true).length;
      correctSoFar.textContent = `${right} of ${answersHere.length} correct so far (${Math.round((100 * right) / answersHere.length)}%)`;
    }
    const named = question
      ? students.filter((s) => responses.has(`${question.id}:${s.id}`)).map((s) => ({ ...responses.get(`${question.id}:${s.id}`), student_name: nameOf(s) }))
      : [];
    window.Charts.render(byId("results"), question, tally, { responses: named, hideNames });

    // roster
    byId("roster-count").textContent = String(students.length);
    byId("roster").replaceChildren(...students.map((student) => rosterRow(student, question, ended)));
    if (!students.length) {
      byId("roster").append(el("li", { class: "empty-roster" }, el("p", {}, "No one has joined yet."), el("p", { class: "muted" }, "Show the QR code or the join code on the projector.")));
    }
  }

  function rosterRow(student, question, ended) {
    const name = nameOf(student);
    const response = question && question.kind !== "slide" ? responses.get(`${question.id}:${student.id}`) : null;
    const verdict = response && hasKey(question) ? (response.is_correct ? "correct" : "incorrect") : null;
    let answer;
    if (!question || question.kind === "slide") answer = null;
    else if (!response) answer = el("span", { class: "no-answer" }, "No answer yet");
    else if (question.kind === "drawing" || question.kind === "draggable") {
      answer = [
        question.kind === "drawing"
          ? window.Charts.drawingSvg(response.answer, "mini", `${name}'s drawing`, question.config.background_url)
          : window.Charts.pointThumb(question, response.answer, "mini"),
        el("span", { class: "visually-hidden" }, answerSummary(question, response.answer)),
      ];
    }
    else answer = el("span", { class: "answer-text", title: answerSummary(question, response.answer) }, answerSummary(question, response.answer));
    return el("li", { class: "roster-row" + (response ? " answered" : "") + (verdict ? " " + verdict : ""), dataset: { studentId: student.id } },
      el("span", { class: "avatar", "aria-hidden": "true" }, hideNames ? String(session.students.indexOf(student) + 1) : student.display_name.slice(0, 1).toUpperCase()),
      el("div", { class: "roster-main" },
        el("span", { class: "name" }, name),
        el("span", { class: "roster-answer" }, answer,
          verdict === "correct" ? el("span", { class: "verdict" }, el("span", { "aria-hidden": "true" }, "✓"), el("span", { class: "visually-hidden" }, "correct")) : null,
          verdict === "incorrect" ? el("span", { class: "verdict" }, el("span", { "aria-hidden": "true" }, "✗"), el("span", { class: "visually-hidden" }, "incorrect")) : null)),
      el("div", { class: "roster-actions" },
        response && response.id
          ? el("button", { type: "button", class: "chip star" + (response.starred ? " on" : ""), "aria-pressed": String(Boolean(response.starred)), "aria-label": `Star ${name}'s answer`, title: "Star this answer: the student sees it in their takeaways", onclick: () => star(response) },
            el("span", { "aria-hidden": "true" }, response.starred ? "★ " : "☆ "), response.starred ? "Starred" : "Star")
          : null,
        el("button", { type: "button", class: "chip remove", "aria-label": `Remove ${name}`, title: "Remove from this session", disabled: ended, onclick: () => removeStudent(student) }, "Remove")));
  }

  async function star(response) {
    try {
      const updated = await api("POST", `${base}/responses/${response.id}/star`, { starred: !response.starred });
      response.starred = updated.starred;
      render();
      toast(updated.starred ? "Starred" : "Unstarred");
    } catch (failure) {
      fail(failure);
    }
  }

  async function removeStudent(student) {
    if (!confirm(`Remove ${nameOf(student)} from this session?`)) return;
    try {
      await api("DELETE", `${base}/students/${student.id}`); // 204: the roster changes by the event
      session = { ...session, students: session.students.map((s) => (s.id === student.id ? { ...s, removed: true } : s)) };
      render();
    } catch (failure) {
      fail(failure);
    }
  }

  function setHideNames(on) {
    hideNames = on;
    sessionStorage.setItem(namesKey, on ? "1" : "0");
    render();
    toast(on ? "Names hidden: safe to share your screen" : "Names shown");
  }

  byId("start").addEventListener("click", () => act("start"));
  byId("next").addEventListener("click", () => act("next"));
  byId("previous").addEventListener("click", () => act("previous"));
  byId("lock").addEventListener("click", () => {
    const question = current();
    act(session.locked_question_ids.includes(question.id) ? "unlock" : "lock", { question_id: question.id });
  });
  byId("reveal").addEventListener("click", () => {
    const question = current();
    act(session.revealed_question_ids.includes(question.id) ? "hide" : "reveal", { question_id: question.id });
  });
  byId("pacing").addEventListener("click", () => act("pacing", { pacing: session.pacing === "student" ? "instructor" : "student" }));
  byId("hide-names").addEventListener("click", () => setHideNames(!hideNames));
  byId("end-session").addEventListener("click", () => {
    if (confirm("End the session? Students will see their takeaways.")) act("end");
  });
  byId("open-projector").addEventListener("click", async () => {
    const stored = `peardeck.projector.${config.session_id}`;
    let key = sessionStorage.getItem(stored);
    if (!key) {
      try {
        key = (await api("POST", `${base}/projector-key`)).projector_key;
        sessionStorage.setItem(stored, key);
      } catch (failure) {
        return fail(failure);
      }
    }
    window.open(`/projector/${config.join_code}/#key=${encodeURIComponent(key)}`, `projector-${config.session_id}`);
  });

  // Invite: the QR code (drawn by our server), the join link and a copy button.
  const dialog = byId("invite-dialog");
  byId("invite").addEventListener("click", () => dialog.showModal());
  byId("copy-link").addEventListener("click", async () => {
    const field = byId("join-link");
    try {
      await navigator.clipboard.writeText(joinLink);
    } catch (denied) {
      // Without clipboard permission the link is selected, so Ctrl+C copies it.
      field.select();
      byId("copy-status").textContent = "Press Ctrl+C (or ⌘C) to copy the selected link.";
      return;
    }
    byId("copy-status").textContent = "Link copied. Paste it into your class chat.";
  });

  // Keyboard: ← and → move the class, L locks, R reveals, H hides names (never while typing).
  document.addEventListener("keydown", (event) => {
    if (event.target.closest("input, textarea, select, dialog") || event.metaKey || event.ctrlKey || event.altKey) return;
    const key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
    if (key === "h") return setHideNames(!hideNames);
    const button = { ArrowRight: "next", ArrowLeft: "previous", l: "lock", r: "reveal" }[key];
    if (button && !byId(button).disabled && !byId(button).hidden) {
      event.preventDefault();
      byId(button).click();
    }
  });
})();
