/* The projector: the way in (address, code, QR), the current question, and anonymous results once
 * revealed, readable from the back of the room. It never receives names (the server decides
 * that; see live/documents.py).
 *
 * The view is versioned as the link is: the session part by `seq`, the tally by the `answers_seq`
 * it was read at (view.tallyStamp), so an older tally arriving late never replaces a newer one. */
(function () {
  "use strict";
  const { atLeast, config, connect, metrics } = window.Peardeck;
  const { el, KIND_LABELS, plural } = window.UI;
  const key = new URLSearchParams(location.hash.slice(1)).get("key") || "";
  const stage = document.getElementById("projector-stage");
  let view = null; // projector_state

  document.querySelectorAll(".join-address").forEach((node) => (node.textContent = window.UI.joinAddress()));

  if (!key) {
    stage.replaceChildren(el("p", { class: "error" }, "Open the projector from the teacher's dashboard."));
    metrics.failed("no_key");
    return;
  }

  connect({
    role: "projector",
    code: config.join_code,
    token: key,
    stateUrl: "/api/projector/state",
    onState(state, held) {
      const first = view === null;
      const stamp = state.answers_seq;
      if (first || !(state.seq < held.seq)) {
        const previous = view;
        view = { ...state, tallyStamp: stamp };
        // A tally of this question newer than the document's (an event that came meanwhile) stays.
        if (previous && previous.tally && previous.current_question_id === view.current_question_id && view.revealed && !atLeast(stamp, previous.tallyStamp)) {
          Object.assign(view, { tally: previous.tally, tallyStamp: previous.tallyStamp });
        }
      } else if (state.current_question_id === view.current_question_id && view.revealed && atLeast(stamp, view.tallyStamp)) {
        Object.assign(view, { tally: state.tally, tallyStamp: stamp });
      }
      render();
      if (first) metrics.interactive();
    },
    onEvent(event) {
      if (!view) return;
      switch (event.type) {
        case "question_changed":
          Object.assign(view, { current_question_id: event.question_id, question: event.question, locked: event.locked, revealed: event.revealed, tally: null, tallyStamp: null, state: "live" });
          break;
        case "question_locked":
        case "question_unlocked":
          if (event.question_id === view.current_question_id) view.locked = event.type === "question_locked";
          break;
        case "results_revealed":
          if (event.question_id === view.current_question_id) {
            view.revealed = true;
            if (atLeast(event.answers_seq, view.tallyStamp)) Object.assign(view, { tally: event.tally, tallyStamp: event.answers_seq });
          }
          break;
        case "results_hidden":
          if (event.question_id === view.current_question_id) Object.assign(view, { revealed: false, tally: null, tallyStamp: null });
          break;
        case "tallies": {
          const tally = event.tallies.find((t) => t.question_id === view.current_question_id);
          if (tally && view.revealed && atLeast(event.answers_seq, view.tallyStamp)) Object.assign(view, { tally, tallyStamp: event.answers_seq });
          break;
        }
        case "student_count":
          view.students = event.students;
          break;
        case "session_ended":
          view.state = "ended";
          break;
        case "session_started":
          view.state = "live";
          break;
      }
      render();
    },
    onFatal() {
      stage.replaceChildren(el("p", { class: "error" }, "This projector link is out of date. Open it again from the dashboard."));
    },
  });

  function lobby() {
    return el("div", { class: "lobby" },
      el("img", { class: "lobby-qr", src: document.querySelector(".join-qr").getAttribute("src"), alt: `QR code: scan it to join with code ${config.join_code}` }),
      el("div", { class: "lobby-text" },
        el("h1", { class: "projector-title" }, "Join now!"),
        el("p", {}, "Scan the code with your phone, or go to"),
        el("p", { class: "lobby-address" }, window.UI.joinAddress()),
        el("p", {}, "and type the code"),
        el("p", { class: "code huge" }, config.join_code),
        el("p", { class: "lobby-count" }, view.students ? `${plural(view.students, "student")} in. We'll start in a moment.` : "We'll start in a moment.")));
  }

  let shown = ""; // what the screen shows now: an event that changes none of it redraws nothing

  function render() {
    const showing = JSON.stringify([view.state, view.question, view.revealed, view.locked, view.tally, view.students]);
    if (showing === shown) return;
    shown = showing;
    document.body.dataset.state = view.state;
    document.getElementById("student-count").textContent = `${view.students} joined`;
    const question = view.question;
    if (view.state === "ended") {
      stage.replaceChildren(el("h1", { class: "projector-title" }, "Thanks for taking part!"));
      return;
    }
    if (view.state === "waiting" || !question) {
      stage.replaceChildren(lobby());
      return;
    }
    const results = el("div", { class: "results projector-results", id: "projector-results" });
    let meta = KIND_LABELS[question.kind];
    if (question.kind === "slide") {
      window.Charts.render(results, question, null);
    } else if (view.revealed) {
      const answered = view.tally ? view.tally.answered : 0;
      meta += ` · ${answered} of ${view.students} answered`;
    } else {
      meta += view.locked ? " · answers locked" : "";
      results.append(el("p", { class: "waiting-results" }, view.locked ? "Answers are locked" : "Answer on your device"));
    }
    stage.replaceChildren(el("p", { class: "projector-meta" }, meta), el("h1", { class: "projector-title" }, question.prompt), results);
    if (question.kind !== "slide" && view.revealed) window.Charts.render(results, question, view.tally);
  }

  window.addEventListener("resize", () => window.Charts.fit(stage));
})();
