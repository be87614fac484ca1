/* The student's app: one question at a time, the answer sent over the live link (or HTTP),
 * clear "sent" and "locked" states, takeaways at the end.
 *
 * Every answer carries the student's order (Peardeck.newOrder), so the server keeps the latest
 * whichever transport each went by; a reply that says `superseded` carries the newer answer the
 * server holds, and that is what the page shows. The page keeps the session part of its view by
 * `seq` and its own answer to each question by the response's `version`. */
(function () {
  "use strict";
  const { api, config, connect, metrics, newOrder, newSubmissionId, tryWebSocketInBackground } = window.Peardeck;
  const { el, answerSummary } = window.UI;

  const saved = JSON.parse(sessionStorage.getItem("peardeck.student") || "null");
  if (!saved) {
    location.replace("/");
    return;
  }
  const stage = document.getElementById("stage");
  const statusBar = document.getElementById("student-status");
  document.getElementById("who").textContent = saved.name;

  let view = null; // the last state document: question, locked, answer, state
  const ownAnswers = new Map(); // question id -> {answer, version}: the newest the server said it holds
  const pending = new Map(); // submission id -> {resolve, reject, timer}

  function setStatus(kind, text) {
    statusBar.className = "status-bar " + kind;
    statusBar.textContent = text;
    stage.dataset.status = kind;
  }

  // Firebase mode (FIREBASE_FIRST): Firebase is the live link and a WebSocket is only tried in the
  // background by the dark-launch share. Otherwise WebSocket first, Firebase when it cannot connect.
  const firebaseFirst = Boolean(saved.firebase && config.firebase_first);
  let darkLaunchTried = false;

  const link = connect({
    role: "student",
    code: saved.code,
    token: saved.token,
    stateUrl: "/api/student/state",
    transports: firebaseFirst ? ["firebase"] : ["websocket", "firebase"],
    firebase: saved.firebase,
    onCredentials(fresh) {
      saved.firebase = fresh;
      sessionStorage.setItem("peardeck.student", JSON.stringify(saved));
    },
    onState(state, held) {
      if (firebaseFirst && state.websocket_dark_launch && !darkLaunchTried) {
        darkLaunchTried = true;
        tryWebSocketInBackground({ code: saved.code, role: "student", token: saved.token });
      }
      const first = view === null;
      if (state.answer && state.question) keepAnswer(state.question.id, state.answer);
      // A document older than the view (a slow HTTP read) leaves the session part as it is.
      if (first || !(state.seq < held.seq)) view = { ...state };
      showOwnAnswer();
      render();
      if (first) metrics.interactive();
    },
    onEvent(event) {
      switch (event.type) {
        case "question_changed":
          view = { ...view, seq: event.seq, current_question_id: event.question_id, question: event.question, locked: event.locked, state: "live" };
          showOwnAnswer();
          render();
          break;
        case "question_locked":
        case "question_unlocked":
          if (view && view.question && view.question.id === event.question_id) {
            view.locked = event.type === "question_locked";
            render();
          }
          break;
        case "session_ended":
          view = { ...view, state: "ended", locked: true };
          render();
          break;
        case "session_started":
        case "pacing_changed":
          link.refetch(true);
          break;
        case "submitted":
        case "error":
          settle(event);
          break;
        case "removed":
          removed();
          break;
      }
    },
    onStatus(text, transport) {
      const pill = document.getElementById("connection");
      pill.textContent = text === "live" ? (transport === "firebase" ? "● live (Firebase)" : "● live") : transport === "polling" ? "● connected (polling)" : text;
      pill.dataset.transport = transport;
    },
    onFatal(code) {
      if (code === "student_removed") removed();
      else if (code === "not_authenticated" || code === "session_not_found") {
        sessionStorage.removeItem("peardeck.student");
        stage.replaceChildren(el("div", { class: "card center" }, el("h1", {}, "This class is over or your link expired."), el("a", { href: "/", class: "button primary" }, "Join again")));
      }
    },
  });

  /* Keeps the server's answer to a question unless the page holds a newer version of it. */
  function keepAnswer(questionId, held) {
    const mine = ownAnswers.get(questionId);
    if (mine && typeof mine.version === "number" && typeof held.version === "number" && held.version < mine.version) return;
    ownAnswers.set(questionId, { answer: held.answer, version: held.version });
  }

  function showOwnAnswer() {
    if (!view) return;
    const mine = view.question && ownAnswers.get(view.question.id);
    view.answer = mine ? { answer: mine.answer, version: mine.version } : null;
  }

  function removed() {
    link.close();
    sessionStorage.removeItem("peardeck.student");
    stage.replaceChildren(el("div", { class: "card center" }, el("h1", {}, "The teacher removed you from this session."), el("a", { href: "/", class: "button" }, "Join again")));
    setStatus("", "");
  }

  // --- sending ------------------------------------------------------------------------------

  function settle(reply) {
    const waiting = pending.get(reply.submission_id);
    if (!waiting) return;
    pending.delete(reply.submission_id);
    clearTimeout(waiting.timer);
    if (reply.type === "submitted") waiting.resolve(reply);
    else waiting.reject(reply);
  }

  function overSocket(message) {
    return new Promise((resolve, reject) => {
      if (!link.send({ type: "submit", ...message })) {
        reject({ code: "no_socket" });
        return;
      }
      // No reply in time: the same submission id goes over HTTP, and the server counts it once.
      const timer = setTimeout(() => {
        pending.delete(message.submission_id);
        reject({ code: "no_socket" });
      }, 4000);
      pending.set(message.submission_id, { resolve, reject, timer });
    });
  }

  async function submit(answer) {
    const question = view.question;
    // The same message, order included, goes over HTTP if the socket cannot carry it.
    const message = { question_id: question.id, submission_id: newSubmissionId(), answer, order: newOrder() };
    setStatus("sending", "Sending…");
    try {
      let reply;
      try {
        reply = await overSocket(message);
      } catch (socketFailure) {
        if (socketFailure.code !== "no_socket") throw socketFailure;
        reply = await api("POST", "/api/student/responses", message, { token: saved.token });
      }
      // Superseded: a later answer of this student got there first; the reply carries it.
      keepAnswer(question.id, { answer: reply.answer !== undefined ? reply.answer : answer, version: reply.version });
      showOwnAnswer();
      if (reply.superseded) render();
      setStatus("sent", "✓ Sent — you can change your answer until the teacher locks it.");
      markChosen();
    } catch (failure) {
      if (failure.code === "question_locked" || failure.code === "session_ended") {
        if (view.question && view.question.id === question.id) view.locked = true;
        render();
        setStatus("locked", "Locked — your change was not accepted. Answers to this question are closed.");
      } else if (failure.code === "student_removed") {
        removed();
      } else {
        setStatus("error", `Not sent. ${window.UI.studentMessage(failure, question)}`);
      }
    }
  }

  // --- views --------------------------------------------------------------------------------

  let shown = ""; // what the stage shows now, so an unchanged state never wipes what is being typed

  function render() {
    if (!view) return;
    if (view.state === "ended") return renderTakeaways();
    const question = view.question;
    const showing = JSON.stringify([view.state, view.pacing, question && question.id, view.locked, view.answer && view.answer.answer, view.question_ids]);
    if (showing === shown && stage.querySelector(".card.question")) return;
    shown = showing;
    if (view.state === "waiting" || !question) {
      stage.replaceChildren(el("div", { class: "card center waiting" }, el("img", { class: "pear huge", src: document.querySelector("link[rel=icon]").href, alt: "" }), el("h1", {}, "You're in!"), el("p", { class: "muted" }, "Wait for your teacher to start.")));
      setStatus("", "");
      return;
    }
    const body = el("div", { class: "question-body", dataset: { kind: question.kind } });
    const card = el(
      "article",
      { class: "card question", dataset: { questionId: question.id, kind: question.kind } },
      el("p", { class: "muted small" }, window.UI.KIND_LABELS[question.kind] || ""),
      el("h1", { id: "prompt" }, question.prompt || "Question"),
      question.image_url && question.kind !== "draggable" ? el("img", { class: "prompt-image", src: question.image_url, alt: "" }) : null,
      body,
    );
    (VIEWS[question.kind] || VIEWS.slide)(body, question, view.answer ? view.answer.answer : null, view.locked);
    if (view.pacing === "student" && view.question_ids) card.append(pacingNav(view.question_ids, question.id));
    stage.replaceChildren(card);
    if (question.kind === "slide") setStatus("", "");
    else if (view.locked) setStatus("locked", "Locked — answers to this question are closed.");
    else if (view.answer) setStatus("sent", "✓ Sent — you can change your answer until the teacher locks it.");
    else setStatus("open", "Answer when you're ready.");
  }

  /* In a student-paced session each student moves on their own. */
  function pacingNav(ids, currentId) {
    const index = ids.indexOf(currentId);
    const go = (step) => async () => {
      try {
        view = await api("POST", "/api/student/move", { question_id: ids[index + step] }, { token: saved.token });
        render();
        await link.refetch(true); // a state request sent before the move must not have the last word
      } catch (failure) {
        setStatus("error", window.UI.studentMessage(failure, view.question));
      }
    };
    return el("nav", { class: "pacing", "aria-label": "Your pace" },
      el("button", { type: "button", disabled: index <= 0, onclick: go(-1) }, "◀ Back"),
      el("span", { class: "muted" }, `${index + 1} / ${ids.length}`),
      el("button", { type: "button", disabled: index >= ids.length - 1, onclick: go(1) }, "Next ▶"));
  }

  function markChosen() {
    if (!view || !view.question || view.question.kind !== "multiple_choice") return;
    const chosen = new Set((view.answer && view.answer.answer.choices) || []);
    stage.querySelectorAll("[data-choice]").forEach((button) => button.setAttribute("aria-pressed", String(chosen.has(Number(button.dataset.choice)))));
  }

  function sendButton(disabled, onclick, label) {
    return el("button", { class: "primary big send", type: "button", disabled, onclick }, label || "Send");
  }

  const VIEWS = {
    multiple_choice(body, question, answer, locked) {
      const chosen = new Set((answer && answer.choices) || []);
      const multiple = Boolean(question.config.multiple);
      const picked = new Set(chosen);
      const list = el("div", { class: "choices", role: "group", "aria-labelledby": "prompt" });
      question.config.choices.forEach((choice, index) => {
        list.append(
          el(
            "button",
            {
              type: "button",
              class: "choice",
              "aria-pressed": String(chosen.has(index)),
              dataset: { choice: index },
              disabled: locked,
              onclick: (event) => {
                if (!multiple) return submit({ choices: [index] });
                picked.has(index) ? picked.delete(index) : picked.add(index);
                event.currentTarget.setAttribute("aria-pressed", String(picked.has(index)));
              },
            },
            el("span", { class: "choice-letter", "aria-hidden": "true" }, String.fromCharCode(65 + index)),
            choice,
          ),
        );
      });
      body.append(list);
      if (multiple) body.append(sendButton(locked, () => submit({ choices: [...picked].sort((a, b) => a - b) })));
    },
    text(body, question, answer, locked) {
      const max = question.config.max_length || 500;
      const box = el("textarea", { id: "text-answer", maxlength: max, rows: 4, disabled: locked, "aria-labelledby": "prompt" });
      box.value = (answer && answer.text) || "";
      const counter = el("span", { class: "muted small" }, `${box.value.length}/${max}`);
      box.addEventListener("input", () => (counter.textContent = `${box.value.length}/${max}`));
      const send = () => (box.value.trim() ? submit({ text: box.value.trim() }) : setStatus("error", "Write something first, then send it."));
      box.addEventListener("keydown", (event) => event.key === "Enter" && (event.ctrlKey || event.metaKey) && send());
      body.append(box, el("p", { class: "muted small hint" }, counter, " · Ctrl+Enter sends"), sendButton(locked, send));
    },
    number(body, question, answer, locked) {
      const input = el("input", { id: "number-answer", type: "number", inputmode: "decimal", step: "any", min: question.config.min, max: question.config.max, disabled: locked, "aria-labelledby": "prompt" });
      if (answer) input.value = answer.value;
      const send = () => input.value !== "" && submit({ value: Number(input.value) });
      input.addEventListener("keydown", (event) => event.key === "Enter" && send());
      const range = question.config.min !== undefined || question.config.max !== undefined
        ? el("p", { class: "muted small" }, `Between ${question.config.min ?? "−∞"} and ${question.config.max ?? "∞"}`)
        : null;
      body.append(input, range, sendButton(locked, send));
    },
    draggable(body, question, answer, locked) {
      let point = answer ? [answer.x, answer.y] : null;
      const marker = el("span", { class: "pin", "aria-hidden": "true" });
      const image = window.Charts.imageOf(question);
      const board = el(
        "div",
        { class: "drag-board" + (locked ? " locked" : "") + (image ? "" : " no-image"), tabindex: locked ? -1 : 0, role: "application", "aria-label": "Your point on the picture", "aria-describedby": "drag-help" },
        image ? el("img", { src: image, alt: "", draggable: "false" }) : null,
        marker,
      );
      const place = (x, y) => {
        point = [Math.min(1, Math.max(0, x)), Math.min(1, Math.max(0, y))];
        marker.style.left = point[0] * 100 + "%";
        marker.style.top = point[1] * 100 + "%";
        marker.hidden = false;
      };
      if (point) place(...point);
      else marker.hidden = true;
      board.addEventListener("click", (event) => {
        if (locked) return;
        const box = board.getBoundingClientRect();
        place((event.clientX - box.left) / box.width, (event.clientY - box.top) / box.height);
        submit({ x: point[0], y: point[1] });
      });
      board.addEventListener("keydown", (event) => {
        if (locked) return;
        const step = event.shiftKey ? 0.1 : 0.02;
        const moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
        if (moves[event.key]) {
          event.preventDefault();
          const [x, y] = point || [0.5, 0.5];
          place(x + moves[event.key][0], y + moves[event.key][1]);
        } else if (event.key === "Enter" && point) {
          submit({ x: point[0], y: point[1] });
        }
      });
      body.append(board, el("p", { id: "drag-help", class: "muted small hint" }, "Tap the picture to place your point. Keyboard: arrow keys move it, Enter sends."));
    },
    drawing(body, question, answer, locked) {
      const strokes = answer ? JSON.parse(JSON.stringify(answer.strokes || [])) : [];
      const background = question.config && question.config.background_url;
      const canvas = el("canvas", {
        class: "drawing-canvas", width: 600, height: 450, tabindex: locked ? -1 : 0, role: "application",
        "aria-label": "Drawing area", "aria-describedby": "draw-help",
        style: background ? `background-image:url("${encodeURI(background)}")` : false,
      });
      const ctx = canvas.getContext("2d");
      let color = "#1f2937";
      let current = null;
      // The keyboard's pen: where it is, and whether it is down (drawing) or up (moving).
      let pen = [0.5, 0.5];
      const penState = el("span", { class: "visually-hidden", "aria-live": "polite" });
      const redraw = () => {
        ctx.clearRect(0, 0, canvas.width, canvas.height);
        ctx.lineCap = ctx.lineJoin = "round";
        for (const stroke of strokes.concat(current ? [current] : [])) {
          ctx.strokeStyle = stroke.color;
          ctx.lineWidth = stroke.width * 2;
          ctx.beginPath();
          stroke.points.forEach(([x, y], i) => (i ? ctx.lineTo(x * canvas.width, y * canvas.height) : ctx.moveTo(x * canvas.width, y * canvas.height)));
          if (stroke.points.length === 1) ctx.lineTo(stroke.points[0][0] * canvas.width + 0.1, stroke.points[0][1] * canvas.height);
          ctx.stroke();
        }
        if (canvas.matches(":focus-visible") && !locked) {
          ctx.lineWidth = 2;
          ctx.strokeStyle = current ? color : "#6b7280";
          ctx.beginPath();
          ctx.arc(pen[0] * canvas.width, pen[1] * canvas.height, current ? 6 : 10, 0, 2 * Math.PI);
          ctx.stroke();
        }
      };
      const clamp = (v) => Math.round(Math.min(1, Math.max(0, v)) * 1000) / 1000;
      const at = (event) => {
        const box = canvas.getBoundingClientRect();
        return [clamp((event.clientX - box.left) / box.width), clamp((event.clientY - box.top) / box.height)];
      };
      const finish = () => {
        if (current && current.points.length > 1) strokes.push(current);
        current = null;
        redraw();
      };
      const send = () => {
        finish();
        if (strokes.length) submit({ strokes });
        else setStatus("error", "Draw something first, then send it.");
      };
      if (!locked) {
        canvas.addEventListener("pointerdown", (event) => {
          canvas.setPointerCapture(event.pointerId);
          current = { points: [at(event)], color, width: 3 };
        });
        canvas.addEventListener("pointermove", (event) => {
          if (!current) return;
          current.points.push(at(event));
          redraw();
        });
        canvas.addEventListener("pointerup", finish);
        canvas.addEventListener("pointercancel", finish);
        canvas.addEventListener("focus", redraw);
        canvas.addEventListener("blur", redraw);
        canvas.addEventListener("keydown", (event) => {
          const step = event.shiftKey ? 0.1 : 0.025;
          const moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
          if (moves[event.key]) {
            event.preventDefault();
            pen = [clamp(pen[0] + moves[event.key][0]), clamp(pen[1] + moves[event.key][1])];
            if (current) current.points.push(pen);
            redraw();
          } else if (event.key === " ") {
            event.preventDefault();
            if (current) {
              finish();
              penState.textContent = "Pen up";
            } else {
              current = { points: [pen], color, width: 3 };
              penState.textContent = "Pen down: arrow keys draw";
              redraw();
            }
          } else if (event.key === "Enter") {
            event.preventDefault();
            send();
          }
        });
      }
      const COLOURS = [["Black", "#1f2937"], ["Red", "#dc2626"], ["Blue", "#2563eb"], ["Green", "#16a34a"], ["Orange", "#d97706"]];
      const palette = el("div", { class: "palette", role: "group", "aria-label": "Colour" },
        COLOURS.map(([name, swatch]) =>
          el("button", {
            type: "button", class: "swatch", style: `background:${swatch}`, "aria-label": name, "aria-pressed": String(swatch === color), disabled: locked,
            onclick: (event) => {
              color = swatch;
              palette.querySelectorAll(".swatch").forEach((b) => b.setAttribute("aria-pressed", String(b === event.currentTarget)));
            },
          })));
      const tools = el("div", { class: "tools" },
        palette,
        el("button", { type: "button", disabled: locked, onclick: () => { strokes.pop(); redraw(); } }, "Undo"),
        el("button", { type: "button", disabled: locked, onclick: () => { strokes.length = 0; redraw(); } }, "Clear"),
        sendButton(locked, send));
      body.append(canvas, el("p", { id: "draw-help", class: "muted small hint" }, "Draw with your finger or mouse. Keyboard: arrow keys move the pen, Space puts it down or lifts it, Enter sends."), penState, tools);
      redraw();
    },
    slide(body, question) {
      body.append(el("div", { class: "slide-body" }, (question.config && question.config.body) || ""));
    },
  };

  /* Your answer as you gave it: the choice, the words, the number, the point on the picture,
   * the drawing itself. */
  function answerView(question, answer) {
    switch (question.kind) {
      case "multiple_choice":
        return el("p", { class: "your-answer" }, el("span", { class: "muted" }, "You chose "), el("strong", {}, answerSummary(question, answer)));
      case "text":
        return el("blockquote", { class: "your-answer" }, answer.text);
      case "number":
        return el("p", { class: "your-answer" }, el("span", { class: "muted" }, "You said "), el("strong", { class: "big-number" }, answerSummary(question, answer)));
      case "draggable":
        return window.Charts.pointThumb(question, answer, "takeaway-board");
      case "drawing":
        return window.Charts.drawingSvg(answer, "takeaway-drawing", "Your drawing", question.config && question.config.background_url);
      default:
        return null;
    }
  }

  async function renderTakeaways() {
    link.close();
    setStatus("", "");
    // The class is over: the pill no longer speaks of a link that was closed on purpose.
    const pill = document.getElementById("connection");
    pill.textContent = "Class ended";
    pill.dataset.transport = "";
    stage.replaceChildren(el("div", { class: "card center" }, el("h1", {}, "That's the end of the session"), el("p", { class: "muted" }, "Loading your takeaways…")));
    try {
      const data = await api("GET", "/api/student/takeaways", undefined, { token: saved.token });
      const questions = data.takeaways.filter((t) => t.question.kind !== "slide");
      const answered = questions.filter((t) => t.answer).length;
      const graded = questions.filter((t) => (t.question.config.correct || []).length);
      const right = graded.filter((t) => t.is_correct === true).length;
      const starred = questions.filter((t) => t.starred).length;
      const score = el("section", { class: "card score", "aria-label": "Your score" },
        graded.length ? el("p", { class: "score-big" }, el("strong", {}, `${right} of ${graded.length}`), " right") : null,
        el("p", {}, `You answered ${answered} of ${questions.length} ${questions.length === 1 ? "question" : "questions"}.`),
        starred ? el("p", { class: "star" }, `★ Your teacher starred ${starred === 1 ? "one of your answers" : `${starred} of your answers`}.`) : null);
      const list = el("ol", { class: "takeaways" },
        questions.map((t) => {
          const correct = (t.question.config.correct || []).map((i) => t.question.config.choices[i]).join(", ");
          return el("li", { class: "card takeaway" + (t.starred ? " starred" : "") + (t.is_correct === true ? " right" : t.is_correct === false ? " wrong" : "") },
            el("p", { class: "muted small" }, window.UI.KIND_LABELS[t.question.kind]),
            el("h2", {}, t.question.prompt),
            t.answer ? answerView(t.question, t.answer) : el("p", { class: "muted" }, "You didn't answer this one."),
            t.is_correct === true ? el("p", { class: "verdict-right" }, "✓ Correct") : null,
            t.is_correct === false ? el("p", { class: "verdict-wrong" }, "✗ Not quite. The answer: ", el("strong", {}, correct)) : null,
            t.starred ? el("p", { class: "star" }, "★ Your teacher starred this answer") : null);
        }));
      stage.replaceChildren(el("section", { class: "takeaways-page" }, el("h1", {}, "Your takeaways · ", data.session.deck.title), score, list));
    } catch (failure) {
      stage.replaceChildren(el("div", { class: "card center" }, el("h1", {}, "The session has ended."), el("p", { class: "error" }, window.UI.studentMessage(failure))));
    }
  }
})();
