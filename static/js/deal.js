// The deal pages' small enhancements; every action also works without JavaScript.
(function () {
  "use strict";

  // Send the browser's time zone with every form that has a "when" field, so a time typed as
  // local time is stored as the right instant; unless the page already names the person's
  // own time zone (the one every time on the page is shown in).
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
  document.querySelectorAll("input[name=tz]").forEach(function (input) {
    if (!input.value) input.value = zone;
  });

  // Won and Lost ask first. Without JavaScript the server answers the first post with a page
  // asking to confirm; here a dialog asks on the deal page and the form is sent confirmed.
  const dialog = document.getElementById("close-dialog");
  if (dialog && typeof dialog.showModal === "function") {
    const text = document.getElementById("close-dialog-text");
    const title = document.getElementById("close-dialog-title");
    const yes = document.getElementById("close-dialog-yes");
    const no = document.getElementById("close-dialog-no");
    const name = dialog.dataset.dealName;
    let pending = null;
    let opener = null;

    document.querySelectorAll("form.close-form").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        const confirmed = form.querySelector("input.confirmed");
        if (confirmed.value === "1") { return; }
        const outcome = form.dataset.outcome;
        const reason = form.querySelector("input[name=lost_reason]");
        // Lost without a reason: let the server say so next to the field, nothing closes.
        if (reason && !reason.value.trim()) { return; }
        event.preventDefault();
        pending = form;
        opener = event.submitter || form.querySelector("button[type=submit]");
        title.textContent = "Mark \u201c" + name + "\u201d as " + outcome + "?";
        const at = form.querySelector("input[name=at]");
        const when = at && at.value ? " at " + at.value.replace("T", " ") : " now";
        text.textContent = "The deal closes as " + outcome.toLowerCase() +
          (reason ? " (" + reason.value.trim() + ")" : "") + when +
          ". You can undo it for " + dialog.dataset.undoMinutes + " minutes.";
        yes.textContent = "Yes, mark as " + outcome.toLowerCase();
        dialog.showModal();
        yes.focus();
      });
    });
    yes.addEventListener("click", function () {
      if (!pending) { return; }
      pending.querySelector("input.confirmed").value = "1";
      yes.disabled = true;  // one close per confirmation, however often it is tapped
      dialog.close();
      pending.requestSubmit();
    });
    no.addEventListener("click", function () { dialog.close(); });
    dialog.addEventListener("close", function () {
      if (pending && pending.querySelector("input.confirmed").value !== "1" && opener) {
        opener.focus();
      }
    });
  }
})();
