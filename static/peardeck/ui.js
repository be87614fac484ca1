/* Small DOM helpers shared by the pages. */
(function () {
  "use strict";

  /* el("button", {class: "primary", onclick: fn}, "Text", childNode...) */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
      else if (key === "class") node.className = value;
      else if (key === "dataset") Object.assign(node.dataset, value);
      else if (value === true) node.setAttribute(key, "");
      else node.setAttribute(key, value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  let toastTimer = null;
  function toast(text) {
    const box = document.getElementById("toast");
    if (!box) return;
    box.textContent = text;
    box.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => (box.hidden = true), 3000);
  }

  function showError(id, failure) {
    const box = document.getElementById(id);
    if (!box) return;
    if (!failure) {
      box.hidden = true;
      box.textContent = "";
      return;
    }
    box.textContent = failure.message || String(failure);
    box.hidden = false;
  }

  const KIND_LABELS = {
    multiple_choice: "Multiple choice",
    text: "Text",
    number: "Number",
    draggable: "Draggable",
    drawing: "Drawing",
    slide: "Slide",
  };

  /* A short, human form of an answer, for the roster's text and screen readers. */
  function answerSummary(question, answer) {
    if (!answer || !question) return "";
    switch (question.kind) {
      case "multiple_choice":
        return (answer.choices || []).map((i) => (question.config.choices || [])[i]).join(", ");
      case "text":
        return answer.text;
      case "number":
        return Number(answer.value).toLocaleString("en", { maximumFractionDigits: 6 });
      case "draggable":
        return `point ${Math.round(answer.x * 100)}% across, ${Math.round(answer.y * 100)}% down`;
      case "drawing": {
        const strokes = (answer.strokes || []).length;
        return `drawing of ${strokes} ${strokes === 1 ? "line" : "lines"}`;
      }
      default:
        return "";
    }
  }

  const number = (value) => Number(value).toLocaleString("en", { maximumFractionDigits: 6 });

  /* What a student reads when something goes wrong: chosen by the API's stable error code (and
   * field), never the server's own wording, which is written for developers. */
  function studentMessage(failure, question) {
    const code = (failure && failure.code) || "";
    const field = (failure && failure.field) || "";
    const config = (question && question.config) || {};
    switch (code) {
      case "network":
      case "no_socket":
        return "We couldn't reach your class. Check your Wi-Fi, then try again.";
      case "question_locked":
        return "Your teacher has locked this question, so answers can't change now.";
      case "session_ended":
        return "This class has ended.";
      case "question_not_current":
        return "Your teacher has moved on to another question.";
      case "session_not_live":
        return "The class hasn't started yet. Wait for your teacher.";
      case "not_answerable":
        return "This slide doesn't need an answer.";
      case "rate_limited":
        return "That was a lot of tries. Wait a minute, then try again.";
      case "payload_too_large":
        return "That's too big to send. Make it shorter or simpler.";
      case "session_not_found":
        return "We can't find a class with that code. Check the code on the board and try again.";
      case "name_taken":
        return "Someone in this class already uses that name. Add your last initial.";
      case "not_authenticated":
        return "Your place in this class has expired. Join again with the code.";
      case "student_removed":
        return "Your teacher removed you from this class.";
      case "invalid_answer":
        if (field.startsWith("answer.value")) {
          const { min, max } = config;
          if (min != null && max != null) return `Pick a number from ${number(min)} to ${number(max)}.`;
          if (min != null) return `Pick a number of at least ${number(min)}.`;
          if (max != null) return `Pick a number no bigger than ${number(max)}.`;
          return "Type a number, like 12 or 3.5.";
        }
        if (field.startsWith("answer.text")) {
          return config.max_length ? `Write something, at most ${config.max_length} characters.` : "Write something first.";
        }
        if (field.startsWith("answer.strokes")) return "Your drawing has too much detail to send. Undo a few lines and try again.";
        if (field.startsWith("answer.choices")) return config.multiple ? "Pick at least one answer." : "Pick one answer.";
        if (field.startsWith("answer.x") || field.startsWith("answer.y")) return "Place your point on the picture.";
        return "That answer doesn't fit this question. Check it and try again.";
      case "invalid":
        if (field === "display_name") return "Type your name using letters and numbers.";
        if (field === "join_code") return "A join code has 6 letters and numbers, like ABC234.";
        return "Something in the form isn't right. Check it and try again.";
      default:
        return "Something went wrong on our side. Try again in a moment.";
    }
  }

  function plural(count, one, many) {
    return `${count} ${count === 1 ? one : many || one + "s"}`;
  }

  function joinAddress() {
    return location.host + "/";
  }

  window.UI = { el, toast, showError, KIND_LABELS, answerSummary, studentMessage, plural, joinAddress };
})();
