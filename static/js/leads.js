// The hand-off board's small enhancements; every action also works without JavaScript.
(function () {
  "use strict";

  // Disqualifying closes the case: a dialog names the lead and the reason first. Without
  // JavaScript the server answers the first post with a page asking the same.
  const dialog = document.getElementById("disqualify-dialog");
  if (dialog && typeof dialog.showModal === "function") {
    const text = document.getElementById("disqualify-text");
    const title = document.getElementById("disqualify-title");
    const yes = document.getElementById("disqualify-yes");
    const no = document.getElementById("disqualify-no");
    let pending = null;
    let submitter = null;

    document.querySelectorAll("form.decision-form[data-kind=disqualify]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        const confirmed = form.querySelector("input.confirmed");
        if (confirmed.value === "1") { return; }
        const button = event.submitter;
        // No reason chosen: the server says a reason is needed, nothing closes.
        if (!button || !button.value) { return; }
        event.preventDefault();
        pending = form;
        submitter = button;
        const lead = form.dataset.lead;
        title.textContent = "Disqualify \u201c" + lead + "\u201d?";
        text.textContent = "The case closes as lost, because \u201c" + button.textContent.trim() +
          "\u201d. Only a manager can reopen it afterwards.";
        yes.textContent = "Yes, disqualify \u201c" + lead + "\u201d";
        yes.disabled = false;
        dialog.showModal();
        yes.focus();
      });
    });
    yes.addEventListener("click", function () {
      if (!pending) { return; }
      pending.querySelector("input.confirmed").value = "1";
      yes.disabled = true;  // one decision per confirmation, however often it is tapped
      dialog.close();
      pending.requestSubmit(submitter);
    });
    no.addEventListener("click", function () { dialog.close(); });
    dialog.addEventListener("close", function () {
      if (pending && pending.querySelector("input.confirmed").value !== "1" && submitter) {
        submitter.focus();
      }
    });
  }

  // The board is an andon: it reloads itself every minute while nobody is using it (no open
  // decision, no focused field, no dialog, the tab visible).
  const board = document.querySelector("[data-refresh-seconds]");
  if (board) {
    const seconds = parseInt(board.dataset.refreshSeconds, 10) || 60;
    window.setInterval(function () {
      const busy = document.hidden ||
        document.querySelector("details.turn-down[open]") ||
        (dialog && dialog.open) ||
        (document.activeElement && /^(INPUT|SELECT|TEXTAREA)$/.test(document.activeElement.tagName));
      if (!busy) { window.location.reload(); }
    }, seconds * 1000);
  }

  // A refused decision or pull: its message gets the focus, so a screen reader reads it.
  const problem = document.querySelector(".error-summary[tabindex='-1']");
  if (problem) { problem.focus(); }
})();
