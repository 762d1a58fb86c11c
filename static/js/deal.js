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

  // Won and Lost ask first (static/js/confirm_dialog.js).
  const dialog = document.getElementById("close-dialog");
  if (dialog && window.vsmConfirm) {
    const name = dialog.dataset.dealName;
    window.vsmConfirm({
      dialog: dialog,
      title: document.getElementById("close-dialog-title"),
      text: document.getElementById("close-dialog-text"),
      yes: document.getElementById("close-dialog-yes"),
      no: document.getElementById("close-dialog-no"),
      forms: document.querySelectorAll("form.close-form"),
      ask: function (form) {
        const outcome = form.dataset.outcome;
        const reason = form.querySelector("input[name=lost_reason]");
        // Lost without a reason: the server says so next to the field, nothing closes.
        if (reason && !reason.value.trim()) { return null; }
        const at = form.querySelector("input[name=at]");
        const when = at && at.value ? " at " + at.value.replace("T", " ") : " now";
        return {
          title: "Mark \u201c" + name + "\u201d as " + outcome + "?",
          text: "The deal closes as " + outcome.toLowerCase() +
            (reason ? " (" + reason.value.trim() + ")" : "") + when +
            ". You can undo it for " + dialog.dataset.undoMinutes + " minutes.",
          yes: "Yes, mark as " + outcome.toLowerCase(),
        };
      },
    });
  }
})();
