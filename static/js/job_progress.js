// Progress bars of background jobs shown inside a page (the working-time rewrite on the
// calendar and stream pages): each [data-job-url] element polls its job's JSON and moves its
// <progress> and message until the job is done or failed. No reload: the page stays usable.
(function () {
  "use strict";
  document.querySelectorAll("[data-job-url]").forEach(function (box) {
    const bar = box.querySelector("progress");
    const message = box.querySelector("[data-job-message]");
    const poll = function () {
      fetch(box.dataset.jobUrl, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (job) {
          if (!job) { window.setTimeout(poll, 3000); return; }
          bar.value = job.percent;
          if (job.state === "done") {
            bar.value = 100;
            message.textContent = box.dataset.doneText || "Done.";
            box.dataset.state = "done";
            return;
          }
          if (job.state === "failed") {
            message.textContent = (box.dataset.failedText || "Failed") + " (" + job.error + ")";
            box.dataset.state = "failed";
            return;
          }
          message.textContent = job.message ? job.message + "…" : (box.dataset.waitingText || "Waiting…");
          window.setTimeout(poll, 1000);
        })
        .catch(function () { window.setTimeout(poll, 3000); });
    };
    window.setTimeout(poll, 300);
  });
})();
