/* The Firebase live link, for students, when this deployment mirrors sessions to Firebase.
 *
 * Schools whose filters stop our WebSocket often let Firebase through. This transport uses the
 * Firebase JS SDK (vendored under static/vendor/firebase/, loaded only when first needed):
 * - it signs in with the custom token the student got when joining (a fresh one is asked of our
 *   server when that one has expired, e.g. after a reload an hour later);
 * - it listens to the session's mirrored state (peardeck's mirror/README.md, "Data layout") and
 *   hands it to the link as a full state: in a teacher-paced session the document holds everything
 *   the student's page shows; otherwise (student pacing) a change makes the link refetch over HTTP;
 * - it carries answers: {question_id, answer, at, order} written once at <inbox>/<submission id>,
 *   in one update with the student's <sent> marker {id, at} (the rules take one answer per update
 *   and at most one every 250 ms; a drawing's strokes travel as one JSON string, whose length the
 *   rules can bound), the outcome read from <acks>/<submission id> and handed over as "submitted"
 *   (with `superseded` when a later answer of the student, by their order, was already stored) or
 *   "error", as the WebSocket does. A refused write is sent over HTTP instead; the worker stores
 *   a replayed submission id once, so that is safe.
 * It is up while the SDK says it is connected and the state has arrived. The SDK picks its own
 * transport, as against real Firebase: a WebSocket, or long polling over plain HTTP when sockets
 * fail (a filter that stops every WebSocket); the page reports which one it ended on.
 */
(function () {
  "use strict";
  const { registerTransport, api, backoff } = window.Peardeck;
  const CONNECT_TIMEOUT_MS = 8000;
  // The mirror trails the server (a stopped worker stops it, and it never says "removed"), so
  // while Firebase carries the page, a cheap conditional fetch (304 when nothing changed) runs
  // this often: a page on Firebase is never more than this far behind the truth.
  const CHECK_IN_MS = 30000;
  // A link that comes up on long polling tries a WebSocket at once and moves there within a few
  // round trips when it gets through; only after this long is it reported as riding long polling.
  const TRANSPORT_SETTLE_MS = 3000;

  let sdk = null; // one load per page: {app, auth, database} modules
  function loadSdk(modules) {
    sdk = sdk || Promise.all([import(modules.app), import(modules.auth), import(modules.database)]).then(([app, auth, database]) => ({ app, auth, database }));
    return sdk;
  }

  /* Which transport the Firebase SDK carries the page on. The SDK says nothing about it, but its
   * long polling keeps a hidden frame (<database>/.lp?dframe=...) in the page exactly while it is
   * open: it removes the frame when it closes, and closes when a WebSocket takes over. */
  function sdkTransport() {
    return document.querySelector('iframe[src*="/.lp?"]') ? "long_polling" : "websocket";
  }

  registerTransport("firebase", firebaseTransport, (config, options) => Boolean(config.firebase_sdk && options.firebase));

  /* What the student's page would get from GET /api/student/state, built from the mirror document
   * and the last full state; null when the document cannot say. */
  function studentState(doc, previous) {
    // Student pacing: each student's question is their own, which the mirror does not hold.
    if (!previous || doc.pacing === "student" || previous.pacing !== doc.pacing) return null;
    const question = doc.state === "waiting" ? null : doc.question || null;
    if (question) question.config = question.config || {}; // Firebase drops empty objects
    const sameQuestion = Boolean(question && previous.question && previous.question.id === question.id);
    return {
      ...previous,
      seq: doc.seq,
      state: doc.state,
      pacing: doc.pacing,
      current_question_id: question ? question.id : null,
      question,
      locked: Boolean(doc.locked) || doc.state === "ended",
      answer: sameQuestion ? previous.answer : null,
    };
  }

  function firebaseTransport(link, { config, options, metrics }) {
    let credentials = options.firebase;
    let session = null; // {app, auth, db, dbSdk} once signed in
    let running = false;
    let up = false;
    let connected = false;
    let stateArrived = false;
    let outcome = null;
    let deadline = null;
    let settling = null; // the wait for the SDK's transport to settle before "connected" is reported
    let retryTimer = null;
    let checkIn = null;
    let failures = 0;
    let listeners = [];

    function settle(result, labels) {
      if (outcome) return;
      outcome = result;
      clearTimeout(deadline);
      if (settling) clearTimeout(settling.timer);
      settling = null;
      link.attempt(api_, result, labels);
    }

    /* "connected", labelled with the SDK's transport once it has settled (a WebSocket at once; long
     * polling once it has had TRANSPORT_SETTLE_MS to move to one); `now` reports what it is on now. */
    function settleConnected(now) {
      if (outcome) return;
      clearTimeout(deadline);
      const via = sdkTransport();
      const waited = settling ? performance.now() - settling.since : 0;
      if (now || via === "websocket" || waited >= TRANSPORT_SETTLE_MS) {
        settle("connected", { firebase_transport: via });
        return;
      }
      const since = settling ? settling.since : performance.now();
      settling = { since, timer: setTimeout(() => settleConnected(false), 250) };
    }

    function update() {
      const nowUp = running && connected && stateArrived;
      if (nowUp && !up) {
        up = true;
        settleConnected(false);
        checkIn = setInterval(() => link.refetch(), CHECK_IN_MS);
        link.opened(api_);
      } else if (!nowUp && up) {
        up = false;
        clearInterval(checkIn);
        link.closed(api_, null);
      }
    }

    async function signIn() {
      const { app: appSdk, auth: authSdk, database: dbSdk } = await loadSdk(config.firebase_sdk);
      const name = "peardeck-" + credentials.uid;
      const app = appSdk.getApps().find((existing) => existing.name === name) || appSdk.initializeApp(credentials.config, name);
      // No popup/redirect resolver: nothing here loads Google's sign-in iframe. The tab keeps the
      // Firebase user as long as it keeps the student's token (sessionStorage).
      let auth;
      try {
        auth = authSdk.initializeAuth(app, { persistence: authSdk.browserSessionPersistence });
        if (credentials.emulator) authSdk.connectAuthEmulator(auth, credentials.emulator.auth_url, { disableWarnings: true });
      } catch (alreadyMade) {
        auth = authSdk.getAuth(app);
      }
      await auth.authStateReady();
      if (!auth.currentUser || auth.currentUser.uid !== credentials.uid) {
        try {
          await authSdk.signInWithCustomToken(auth, credentials.token);
        } catch (refused) {
          // Custom tokens last an hour: ask our server for a new one, once.
          const fresh = await api("POST", "/api/student/firebase", {}, { token: link.token });
          if (!fresh.firebase) throw refused;
          credentials = fresh.firebase;
          if (options.onCredentials) options.onCredentials(credentials);
          await authSdk.signInWithCustomToken(auth, credentials.token);
        }
      }
      const db = dbSdk.getDatabase(app, credentials.config.databaseURL);
      if (credentials.emulator) {
        try {
          dbSdk.connectDatabaseEmulator(db, credentials.emulator.host, credentials.emulator.port);
        } catch (alreadyConnected) {
          /* a restart of this transport: the database instance is already pointed there */
        }
      }
      return { app, auth, db, dbSdk };
    }

    function listen() {
      const { db, dbSdk } = session;
      dbSdk.goOnline(db);
      listeners.push(
        dbSdk.onValue(dbSdk.ref(db, ".info/connected"), (snapshot) => {
          connected = snapshot.val() === true;
          update();
        }),
      );
      listeners.push(
        dbSdk.onValue(
          dbSdk.ref(db, credentials.paths.state),
          (snapshot) => {
            const doc = snapshot.val();
            if (doc && doc.removed && doc.removed[credentials.uid]) {
              // Real Firebase's rules shut a removed student out before this; the stand-in has none.
              stop();
              link.closed(api_, "student_removed");
              return;
            }
            if (doc && typeof doc.seq === "number" && doc.seq > link.seq) {
              const state = studentState(doc, link.state);
              if (state) link.receive({ type: "state", state });
              else link.refetch();
            }
            // Nothing mirrored yet (the worker catches up): the page has its state from HTTP.
            stateArrived = true;
            update();
          },
          () => {
            // Refused by the rules (another session's token?): this link cannot work.
            settle("failed");
            stop();
            link.closed(api_, null);
          },
        ),
      );
    }

    async function start() {
      if (running) return;
      running = true;
      outcome = null;
      deadline = setTimeout(() => settle("timeout"), CONNECT_TIMEOUT_MS);
      try {
        session = session || (await signIn());
        if (!running) return;
        failures = 0;
        listen();
      } catch (failure) {
        // Sign-in could not happen (Firebase's sign-in service unreachable, our server down):
        // polling carries the page meanwhile; try again later.
        settle("failed");
        running = false;
        link.closed(api_, null);
        retryTimer = setTimeout(start, backoff(failures++));
      }
    }

    function stop() {
      if (settling) settleConnected(true); // before goOffline closes the SDK's transport
      running = false;
      clearTimeout(deadline);
      clearTimeout(retryTimer);
      clearInterval(checkIn);
      listeners.forEach((unsubscribe) => unsubscribe());
      listeners = [];
      stateArrived = false;
      connected = false;
      up = false;
      if (session) session.dbSdk.goOffline(session.db);
    }

    function send(message) {
      if (!up || message.type !== "submit") return false;
      const { db, dbSdk } = session;
      const id = message.submission_id;
      const sent = performance.now();
      let answered = false;
      const ackRef = dbSdk.ref(db, `${credentials.paths.acks}/${id}`);
      const stopWatching = dbSdk.onValue(ackRef, (snapshot) => {
        const ack = snapshot.val();
        if (!ack || answered) return;
        answered = true;
        setTimeout(stopWatching, 0);
        metrics.add("firebase_response", Math.round(performance.now() - sent) / 1000);
        metrics.soon();
        if (ack.status === "stored" || ack.status === "superseded") {
          link.receive({ type: "submitted", submission_id: id, question_id: ack.question_id, version: ack.version, answer: ack.answer, superseded: ack.status === "superseded" });
        } else {
          link.receive({ type: "error", submission_id: id, code: ack.code, message: ack.message, field: ack.field || null });
        }
      });
      const at = dbSdk.serverTimestamp();
      let answer = message.answer;
      if (answer && Array.isArray(answer.strokes)) answer = { ...answer, strokes: JSON.stringify(answer.strokes) };
      const entry = { question_id: message.question_id, answer, at };
      if (typeof message.order === "number") entry.order = message.order;
      const paths = credentials.paths;
      dbSdk.update(dbSdk.ref(db), {
        [`${paths.inbox}/${id}`.replace(/^\//, "")]: entry,
        [paths.sent.replace(/^\//, "")]: { id, at },
      }).catch(() => {
        // Refused or lost: the page sends the same submission over HTTP instead.
        if (answered) return;
        answered = true;
        stopWatching();
        link.receive({ type: "error", submission_id: id, code: "no_socket" });
      });
      return true;
    }

    const api_ = { name: "firebase", start, stop, send };
    return api_;
  }
})();
