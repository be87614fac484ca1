/* The join page: a code and a name; the student's token is kept in this tab only. */
(function () {
  "use strict";
  const { api, metrics } = window.Peardeck;
  const form = document.getElementById("join-form");
  const code = document.getElementById("join-code");
  const name = document.getElementById("display-name");
  const fromLink = new URLSearchParams(location.search).get("code");
  if (fromLink) code.value = fromLink.toUpperCase();
  (code.value ? name : code).focus();

  code.addEventListener("input", () => (code.value = code.value.toUpperCase().replace(/\s+/g, "")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    window.UI.showError("join-error", null);
    if (!code.value.trim() || !name.value.trim()) {
      window.UI.showError("join-error", { message: code.value.trim() ? "Type your name, so your teacher knows who you are." : "Type the join code from the board." });
      (code.value.trim() ? name : code).focus();
      return;
    }
    const button = form.querySelector("button");
    button.disabled = true;
    try {
      const joined = await api("POST", "/api/join", { join_code: code.value.trim(), display_name: name.value.trim() });
      // `firebase`: credentials for the Firebase live link, or null when this deployment has none.
      sessionStorage.setItem("peardeck.student", JSON.stringify({ token: joined.token, code: joined.state.join_code, name: joined.student.display_name, firebase: joined.firebase }));
      location.assign("/s/");
    } catch (failure) {
      window.UI.showError("join-error", { message: window.UI.studentMessage(failure) });
      (failure.field === "display_name" ? name : code).focus();
      button.disabled = false;
    }
  });
  metrics.interactive();
})();
