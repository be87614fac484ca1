/* The teacher's decks and recent sessions. */
(function () {
  "use strict";
  const { api, allPages, metrics } = window.Peardeck;
  const { el, showError } = window.UI;
  const STATE_LABELS = { waiting: "Waiting", live: "Live", ended: "Ended" };

  async function startSession(deckId) {
    const session = await api("POST", "/api/sessions", { deck_id: deckId });
    sessionStorage.setItem(`peardeck.projector.${session.id}`, session.projector_key);
    location.assign(`/teach/sessions/${session.id}/`);
  }

  async function load() {
    const [decks, recentPage] = await Promise.all([allPages("/api/decks"), api("GET", "/api/sessions?limit=10")]);
    const sessions = recentPage.items;
    const list = document.getElementById("deck-list");
    list.replaceChildren(
      ...decks.map((deck) =>
        el("li", { class: "card deck" },
          el("a", { href: `/teach/decks/${deck.id}/`, class: "deck-title" }, deck.title),
          el("span", { class: "muted small" }, deck.question_count === 1 ? "1 question" : `${deck.question_count} questions`),
          el("span", { class: "deck-actions" },
            el("a", { class: "button", href: `/teach/decks/${deck.id}/` }, "Edit"),
            el("button", { class: "primary", type: "button", disabled: !deck.question_count, onclick: () => startSession(deck.id).catch((f) => showError("decks-error", f)) }, "Start ▶")))),
    );
    if (!decks.length) {
      list.append(el("li", { class: "card empty-state" },
        el("p", {}, el("strong", {}, "No decks yet.")),
        el("p", { class: "muted" }, "Type a title above and press Create deck, then add questions: multiple choice, text, a number, a point on a picture or a drawing.")));
    }
    const recent = document.getElementById("session-list");
    recent.replaceChildren(
      ...sessions.map((s) =>
        el("li", { class: "session-item" }, el("a", { href: `/teach/sessions/${s.id}/` }, el("span", { class: "code" }, s.join_code), " ", s.deck.title), " ", el("span", { class: "state-badge", dataset: { state: s.state } }, STATE_LABELS[s.state] || s.state))),
    );
    if (!sessions.length) {
      recent.append(el("li", { class: "muted empty-state" }, decks.length ? "No sessions yet. Press Start ▶ on a deck to run it with your class." : "Your sessions will be listed here once you run a deck with your class."));
    }
  }

  document.getElementById("new-deck").addEventListener("submit", async (event) => {
    event.preventDefault();
    const title = document.getElementById("new-deck-title");
    try {
      const deck = await api("POST", "/api/decks", { title: title.value.trim() });
      location.assign(`/teach/decks/${deck.id}/`);
    } catch (failure) {
      showError("decks-error", failure);
    }
  });

  load().then(() => metrics.interactive(), (failure) => {
    showError("decks-error", failure);
    metrics.failed("load");
  });
})();
