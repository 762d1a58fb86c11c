// The asset page: Retire and Restore ask first in a dialog (vsmConfirm, confirm_dialog.js);
// without JavaScript the server answers the first post with a page asking the same.
(function () {
  "use strict";
  function start() {
    const dialog = document.getElementById("asset-dialog");
    if (!dialog || !window.vsmConfirm) { return; }
    const title = dialog.dataset.title;
    window.vsmConfirm({
      dialog: dialog,
      title: document.getElementById("asset-dialog-title"),
      text: document.getElementById("asset-dialog-text"),
      yes: document.getElementById("asset-dialog-yes"),
      no: document.getElementById("asset-dialog-no"),
      forms: Array.prototype.slice.call(document.querySelectorAll("form.asset-confirm")),
      ask: function (form) {
        if (form.dataset.action === "retire") {
          return {
            title: "Retire “" + title + "”?",
            text: "It leaves the steps of the map and the deal pages. Its versions, usage and reviews are kept, and it can be restored.",
            yes: "Yes, retire it"
          };
        }
        return {
          title: "Restore “" + title + "”?",
          text: "It comes back on the steps it was attached to.",
          yes: "Yes, restore it"
        };
      }
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());
