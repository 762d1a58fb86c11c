// The cycle page while its Check is being computed in the background: ask the server every
// few seconds whether it is stored, and show the page again once it is (no reload loop: it
// stops after two minutes and says so).
(function () {
  "use strict";
  var note = document.getElementById("check-pending");
  if (!note) return;
  var url = note.getAttribute("data-status-url");
  var tries = 0;
  function poll() {
    tries += 1;
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) {
        if (data && data.ready) {
          window.location.reload();
        } else if (tries < 40) {
          window.setTimeout(poll, 3000);
        } else {
          note.textContent = "The Check is taking longer than usual. Reload the page in a while.";
        }
      })
      .catch(function () { window.setTimeout(poll, 5000); });
  }
  window.setTimeout(poll, 1500);
})();
