/* The teacher's live dashboard: join code, roster with each answer as it arrives, the current
 * question's results, and the controls that move the class. */
(function () {
  "use strict";
  const { api, allPages, config, connect, metrics } = window.Peardeck;
  const { el, showError, toast, answerSummary, KIND_LABELS } = window.UI;
  const base = `/api/sessions/${config.session_id}`;

  let session = null; // teacher_state
  const tallies = new Map(); // question id -> tally
  const responses = new Map(); // "question:student" -> {id, answer, starred, student_id, question_id}
  const fail = (failure) => showError("dash-error", failure);

  document.getElementById("join-address").textContent = window.UI.joinAddress();

  const link = connect({
    role: "teacher",
    code: config.join_code,
    stateUrl: base,
    async onState(state) {
      const first = session === null;
      session = state;
      if (state.tallies) state.tallies.forEach((t) => tallies.set(t.question_id, t));
      // The socket's hello carries every answer; the HTTP state does not, so those are fetched.
      if (state.responses) {
        responses.clear();
        state.responses.forEach((r) => responses.set(`${r.question_id}:${r.student_id}`, { ...r }));
      }
      render();
      if (!state.responses) await loadAnswers();
      if (first) metrics.interactive();
    },
    onPoll: () => loadAnswers(),
    onEvent(event) {
      if (!session) return;
      switch (event.type) {
        case "tallies":
          event.tallies.forEach((t) => tallies.set(t.question_id, t));
          (event.responses || []).forEach((r) => {
            const key = `${r.question_id}:${r.student_id}`;
            responses.set(key, { ...(responses.get(key) || {}), ...r });
          });
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
      render();
    },
    onStatus(text, transport) {
      const pill = document.getElementById("connection");
      pill.textContent = text === "live" ? "● live" : transport === "polling" ? "● polling" : text;
      pill.dataset.transport = transport;
    },
    onFatal(code) {
      fail({ message: `Disconnected (${code}). Reload the page.` });
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
      responses.clear();
      all.forEach((r) => responses.set(`${r.question_id}:${r.student.id}`, { ...r, student_id: r.student.id }));
      counts.tallies.forEach((t) => tallies.set(t.question_id, t));
      render();
    } catch (failure) {
      fail(failure);
    }
  }

  async function act(path, body) {
    try {
      const state = await api("POST", `${base}/${path}`, body);
      showError("dash-error", null);
      session = { ...session, ...state };
      render();
    } catch (failure) {
      fail(failure);
    }
  }

  function current() {
    return session && session.questions.find((q) => q.id === session.current_question_id);
  }

  function render() {
    if (!session) return;
    const question = current();
    const locked = question && session.locked_question_ids.includes(question.id);
    const revealed = question && session.revealed_question_ids.includes(question.id);
    const students = session.students.filter((s) => !s.removed);
    const ended = session.state === "ended";
    document.body.dataset.sessionState = session.state;

    // question navigation
    document.getElementById("question-nav").replaceChildren(
      ...session.questions.map((q, index) =>
        el("li", { class: q.id === session.current_question_id ? "current" : "" },
          el("button", { type: "button", class: "link", "aria-current": q.id === session.current_question_id ? "step" : false, disabled: ended || session.state === "waiting", onclick: () => act("goto", { question_id: q.id }) },
            `${index + 1}. `, el("span", { class: "kind-dot", dataset: { kind: q.kind }, title: KIND_LABELS[q.kind] }), q.prompt || KIND_LABELS[q.kind]))),
    );

    // controls
    const index = question ? session.questions.indexOf(question) : -1;
    const byId = (id) => document.getElementById(id);
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
      ? "Session ended"
      : session.state === "waiting"
        ? `Waiting · ${students.length} joined`
        : `Question ${index + 1} of ${session.questions.length} · ${question ? KIND_LABELS[question.kind] : ""}${locked ? " · locked" : ""}${revealed ? " · on the projector" : ""}`;
    byId("current-prompt").textContent = question ? question.prompt || KIND_LABELS[question.kind] : "Waiting to start";
    const tally = question && tallies.get(question.id);
    byId("answered").textContent = question && question.kind !== "slide" ? `${tally ? tally.answered : 0} of ${students.length} answered` : "";
    const named = question
      ? students.filter((s) => responses.has(`${question.id}:${s.id}`)).map((s) => ({ ...responses.get(`${question.id}:${s.id}`), student_name: s.display_name }))
      : [];
    window.Charts.render(byId("results"), question, tally, { responses: named });

    // roster
    byId("roster-count").textContent = String(students.length);
    byId("roster").replaceChildren(
      ...students.map((student) => {
        const response = question && responses.get(`${question.id}:${student.id}`);
        return el("li", { class: "roster-row" + (response ? " answered" : ""), dataset: { studentId: student.id } },
          el("span", { class: "avatar", "aria-hidden": "true" }, student.display_name.slice(0, 1).toUpperCase()),
          el("span", { class: "name" }, student.display_name),
          el("span", { class: "roster-answer", "aria-label": `${student.display_name}'s answer` },
            response && question.kind === "drawing" ? window.Charts.drawingSvg(response.answer, "mini") : null,
            response ? answerSummary(question, response.answer) : "—"),
          response && response.id
            ? el("button", { type: "button", class: "icon star" + (response.starred ? " on" : ""), "aria-pressed": String(Boolean(response.starred)), "aria-label": `Star ${student.display_name}'s answer`, onclick: () => star(response) }, response.starred ? "★" : "☆")
            : null,
          el("button", { type: "button", class: "icon remove", "aria-label": `Remove ${student.display_name}`, disabled: ended, onclick: () => removeStudent(student) }, "✕"));
      }),
    );
    if (!students.length) byId("roster").append(el("li", { class: "muted" }, "No one yet. Share the join code!"));
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
    if (!confirm(`Remove ${student.display_name} from this session?`)) return;
    try {
      await api("DELETE", `${base}/students/${student.id}`); // 204: the roster changes by the event
      session = { ...session, students: session.students.map((s) => (s.id === student.id ? { ...s, removed: true } : s)) };
      render();
    } catch (failure) {
      fail(failure);
    }
  }

  document.getElementById("start").addEventListener("click", () => act("start"));
  document.getElementById("next").addEventListener("click", () => act("next"));
  document.getElementById("previous").addEventListener("click", () => act("previous"));
  document.getElementById("lock").addEventListener("click", () => {
    const question = current();
    act(session.locked_question_ids.includes(question.id) ? "unlock" : "lock", { question_id: question.id });
  });
  document.getElementById("reveal").addEventListener("click", () => {
    const question = current();
    act(session.revealed_question_ids.includes(question.id) ? "hide" : "reveal", { question_id: question.id });
  });
  document.getElementById("pacing").addEventListener("click", () => act("pacing", { pacing: session.pacing === "student" ? "instructor" : "student" }));
  document.getElementById("end-session").addEventListener("click", () => {
    if (confirm("End the session? Students will see their takeaways.")) act("end");
  });
  document.getElementById("open-projector").addEventListener("click", async () => {
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
  // Keyboard: ← and → move the class, L locks, R reveals (not while typing).
  document.addEventListener("keydown", (event) => {
    if (event.target.closest("input, textarea, select") || event.metaKey || event.ctrlKey || event.altKey) return;
    const button = { ArrowRight: "next", ArrowLeft: "previous", l: "lock", r: "reveal" }[event.key];
    if (button && !document.getElementById(button).disabled) document.getElementById(button).click();
  });
})();
