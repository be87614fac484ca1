/* The teacher's decks and recent sessions. */
(function () {
  "use strict";
  const { api, allPages, metrics } = window.Peardeck;
  const { el, showError } = window.UI;

  async function startSession(deckId) {
    const session = await api("POST", "/api/sessions", { deck_id: deckId });
    sessionStorage.setItem(`peardeck.projector.${session.id}`, session.projector_key);
    location.assign(`/teach/sessions/${session.id}/`);
  }

  async function load() {
    const [decks, recent] = await Promise.all([allPages("/api/decks"), api("GET", "/api/sessions?limit=10")]);
    const sessions = recent.items;
    const list = document.getElementById("deck-list");
    list.replaceChildren(
      ...decks.map((deck) =>
        el("li", { class: "card deck" },
          el("a", { href: `/teach/decks/${deck.id}/`, class: "deck-title" }, deck.title),
          el("span", { class: "muted small" }, `${deck.question_count} question(s)`),
          el("span", { class: "deck-actions" },
            el("a", { class: "button", href: `/teach/decks/${deck.id}/` }, "Edit"),
            el("button", { class: "primary", type: "button", disabled: !deck.question_count, onclick: () => startSession(deck.id).catch((f) => showError("decks-error", f)) }, "Start ▶")))),
    );
    if (!decks.length) list.append(el("li", { class: "muted" }, "No decks yet: create one above."));
    document.getElementById("session-list").replaceChildren(
      ...sessions.map((s) =>
        el("li", {}, el("a", { href: `/teach/sessions/${s.id}/` }, el("span", { class: "code" }, s.join_code), " ", s.deck.title), " ", el("span", { class: "pill" }, s.state))),
    );
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
