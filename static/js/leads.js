// The hand-off board's small enhancements; every action also works without JavaScript.
(function () {
  "use strict";

  // Disqualifying closes the case: a dialog names the lead and the reason first
  // (static/js/confirm_dialog.js).
  const dialog = document.getElementById("disqualify-dialog");
  if (dialog && window.vsmConfirm) {
    window.vsmConfirm({
      dialog: dialog,
      title: document.getElementById("disqualify-title"),
      text: document.getElementById("disqualify-text"),
      yes: document.getElementById("disqualify-yes"),
      no: document.getElementById("disqualify-no"),
      forms: document.querySelectorAll("form.decision-form[data-kind=disqualify]"),
      ask: function (form, button) {
        // No reason chosen: the server says a reason is needed, nothing closes.
        if (!button || !button.value) { return null; }
        const lead = form.dataset.lead;
        return {
          title: "Disqualify \u201c" + lead + "\u201d?",
          text: "The case closes as lost, because \u201c" + button.textContent.trim() +
            "\u201d. Only a manager can reopen it afterwards.",
          yes: "Yes, disqualify \u201c" + lead + "\u201d",
        };
      },
    });
  }

  // The board is an andon: on a wall screen it can reload itself every minute while nobody
  // is using it (no open decision, no focused field, no dialog, the tab visible). Off unless
  // asked for (a reload would interrupt someone reading the table); the choice is remembered.
  const board = document.querySelector("[data-refresh-seconds]");
  const toggle = document.getElementById("auto-refresh");
  if (board && toggle) {
    const seconds = parseInt(board.dataset.refreshSeconds, 10) || 60;
    const key = "leads-board-refresh";
    let timer = null;
    const set = function (on) {
      toggle.setAttribute("aria-pressed", on ? "true" : "false");
      try { window.localStorage.setItem(key, on ? "1" : ""); } catch (e) { /* private mode */ }
      if (timer) { window.clearInterval(timer); timer = null; }
      if (!on) { return; }
      timer = window.setInterval(function () {
        const busy = document.hidden ||
          document.querySelector("details.turn-down[open]") ||
          (dialog && dialog.open) ||
          (document.activeElement && /^(INPUT|SELECT|TEXTAREA)$/.test(document.activeElement.tagName));
        if (!busy) { window.location.reload(); }
      }, seconds * 1000);
    };
    toggle.hidden = false;
    toggle.addEventListener("click", function () {
      set(toggle.getAttribute("aria-pressed") !== "true");
    });
    let stored = "";
    try { stored = window.localStorage.getItem(key) || ""; } catch (e) { stored = ""; }
    set(stored === "1");
  }

  // A refused decision or pull: its message gets the focus, so a screen reader reads it.
  const problem = document.querySelector(".error-summary[tabindex='-1']");
  if (problem) { problem.focus(); }
})();
