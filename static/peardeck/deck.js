/* The deck editor: add, edit, reorder and delete questions of every kind. */
(function () {
  "use strict";
  const { api, config, metrics } = window.Peardeck;
  const { el, showError, toast, KIND_LABELS } = window.UI;
  const base = `/api/decks/${config.deck_id}`;
  let deck = null;

  const fail = (failure) => showError("deck-error", failure);

  /* The fields of each kind: build(config, question) -> [nodes], read(form) -> {config, image_url} */
  function field(label, input) {
    const id = "f" + Math.random().toString(36).slice(2, 8);
    input.id = id;
    return el("div", { class: "field" }, el("label", { for: id }, label), input);
  }

  function kindFields(kind, question) {
    const cfg = (question && question.config) || {};
    const prompt = el("textarea", { name: "prompt", rows: 2, maxlength: 2000 });
    prompt.value = (question && question.prompt) || "";
    const nodes = [field("Prompt", prompt)];
    if (kind === "multiple_choice") {
      const choices = el("textarea", { name: "choices", rows: 4, placeholder: "One choice per line; start a line with * to mark it correct" });
      choices.value = (cfg.choices || ["", ""]).map((c, i) => ((cfg.correct || []).includes(i) ? "*" : "") + c).join("\n");
      const multiple = el("input", { type: "checkbox", name: "multiple" });
      multiple.checked = Boolean(cfg.multiple);
      nodes.push(field("Choices (one per line, * = correct)", choices), field("Students may pick several", multiple));
    } else if (kind === "text") {
      nodes.push(field("Longest answer (characters)", el("input", { type: "number", name: "max_length", min: 1, max: 5000, value: cfg.max_length || 500 })));
    } else if (kind === "number") {
      nodes.push(field("Smallest allowed", el("input", { type: "number", step: "any", name: "min", value: cfg.min ?? "" })),
        field("Largest allowed", el("input", { type: "number", step: "any", name: "max", value: cfg.max ?? "" })));
    } else if (kind === "draggable") {
      nodes.push(field("Image address", el("input", { name: "image_url", value: cfg.image_url || (question && question.image_url) || "/static/peardeck/map.svg" })));
    } else if (kind === "drawing") {
      nodes.push(field("Background image address (optional)", el("input", { name: "background_url", value: cfg.background_url || "" })));
    } else if (kind === "slide") {
      const body = el("textarea", { name: "body", rows: 3 });
      body.value = cfg.body || "";
      nodes.push(field("Slide text", body));
    }
    return nodes;
  }

  function readFields(kind, form) {
    const value = (name) => (form.querySelector(`[name=${name}]`) || {}).value;
    const cfg = {};
    if (kind === "multiple_choice") {
      const lines = value("choices").split("\n").map((l) => l.trim()).filter(Boolean);
      cfg.choices = lines.map((l) => l.replace(/^\*\s*/, ""));
      cfg.correct = lines.map((l, i) => (l.startsWith("*") ? i : -1)).filter((i) => i >= 0);
      cfg.multiple = form.querySelector("[name=multiple]").checked;
    } else if (kind === "text") {
      cfg.max_length = Number(value("max_length")) || 500;
    } else if (kind === "number") {
      if (value("min") !== "") cfg.min = Number(value("min"));
      if (value("max") !== "") cfg.max = Number(value("max"));
    } else if (kind === "draggable") {
      cfg.image_url = value("image_url").trim();
    } else if (kind === "drawing") {
      if (value("background_url").trim()) cfg.background_url = value("background_url").trim();
    } else if (kind === "slide") {
      cfg.body = value("body");
    }
    return { prompt: value("prompt").trim(), config: cfg };
  }

  function render() {
    const list = document.getElementById("question-list");
    list.replaceChildren(
      ...deck.questions.map((question, index) => {
        const form = el("form", { class: "edit-question", hidden: true }, ...kindFields(question.kind, question),
          el("button", { class: "primary", type: "submit" }, "Save"));
        form.addEventListener("submit", async (event) => {
          event.preventDefault();
          try {
            await api("PATCH", `${base}/questions/${question.id}`, readFields(question.kind, form));
            toast("Saved");
            await load();
          } catch (failure) {
            fail(failure);
          }
        });
        return el("li", { class: "card question-item", dataset: { questionId: question.id } },
          el("div", { class: "question-row" },
            el("span", { class: "kind-badge", dataset: { kind: question.kind } }, KIND_LABELS[question.kind]),
            el("span", { class: "question-prompt" }, question.prompt || "(no prompt)"),
            el("span", { class: "row-actions" },
              el("button", { type: "button", "aria-label": `Move question ${index + 1} up`, disabled: index === 0, onclick: () => move(index, -1) }, "↑"),
              el("button", { type: "button", "aria-label": `Move question ${index + 1} down`, disabled: index === deck.questions.length - 1, onclick: () => move(index, 1) }, "↓"),
              el("button", { type: "button", onclick: () => (form.hidden = !form.hidden) }, "Edit"),
              el("button", { type: "button", class: "danger", onclick: () => remove(question) }, "Delete"))),
          form);
      }),
    );
  }

  async function move(index, step) {
    const ids = deck.questions.map((q) => q.id);
    [ids[index], ids[index + step]] = [ids[index + step], ids[index]];
    try {
      deck = await api("PUT", `${base}/questions/order`, { question_ids: ids });
      render();
    } catch (failure) {
      fail(failure);
    }
  }

  async function remove(question) {
    if (!confirm(`Delete "${question.prompt || "this question"}"?`)) return;
    try {
      await api("DELETE", `${base}/questions/${question.id}`);
      await load();
    } catch (failure) {
      fail(failure);
    }
  }

  async function load() {
    deck = await api("GET", base);
    showError("deck-error", null);
    render();
  }

  const kind = document.getElementById("new-kind");
  const newFields = document.getElementById("new-fields");
  const showNewFields = () => newFields.replaceChildren(...kindFields(kind.value, null));
  kind.addEventListener("change", showNewFields);
  showNewFields();

  document.getElementById("add-question").addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await api("POST", `${base}/questions`, { kind: kind.value, ...readFields(kind.value, newFields) });
      toast("Question added");
      showNewFields();
      await load();
    } catch (failure) {
      fail(failure);
    }
  });

  document.getElementById("deck-title-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await api("PATCH", base, { title: document.getElementById("deck-title").value.trim() });
      toast("Renamed");
    } catch (failure) {
      fail(failure);
    }
  });

  document.getElementById("start-session").addEventListener("click", async () => {
    try {
      const session = await api("POST", "/api/sessions", { deck_id: config.deck_id });
      sessionStorage.setItem(`peardeck.projector.${session.id}`, session.projector_key);
      location.assign(`/teach/sessions/${session.id}/`);
    } catch (failure) {
      fail(failure);
    }
  });

  load().then(() => metrics.interactive(), (failure) => {
    fail(failure);
    metrics.failed("load");
  });
})();
