// Every undo offer on the page (a deal's close, a hand-off decision) counts its remaining
// minutes down; once its time is over its bar goes (the server refuses a late undo anyway).
(function () {
  "use strict";
  document.querySelectorAll(".undo-left[data-deadline]").forEach(function (left) {
    const deadline = Date.parse(left.dataset.deadline);
    const minutes = left.querySelector(".minutes-left");
    const tick = function () {
      const ms = deadline - Date.now();
      if (ms <= 0) {
        const bar = left.closest(".undo-bar");
        if (bar) { bar.hidden = true; }
        return;
      }
      if (minutes) {
        minutes.textContent = Math.ceil(ms / 60000) + " min left";
      }
      window.setTimeout(tick, Math.min(ms, 15000));
    };
    tick();
  });
})();
