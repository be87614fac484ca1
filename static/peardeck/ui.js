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

  /* A short, human form of an answer, for the roster. */
  function answerSummary(question, answer) {
    if (!answer || !question) return "";
    switch (question.kind) {
      case "multiple_choice":
        return (answer.choices || []).map((i) => (question.config.choices || [])[i]).join(", ");
      case "text":
        return answer.text;
      case "number":
        return String(answer.value);
      case "draggable":
        return `${Math.round(answer.x * 100)}%, ${Math.round(answer.y * 100)}%`;
      case "drawing":
        return `${(answer.strokes || []).length} stroke(s)`;
      default:
        return "";
    }
  }

  function joinAddress() {
    return location.host + "/";
  }

  window.UI = { el, toast, showError, KIND_LABELS, answerSummary, joinAddress };
})();
