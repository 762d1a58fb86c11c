// Qualification on the deal page: a tap on a level sends that criterion's form at once (one
// tap to score); without JavaScript the "Save score" button does it.
(function () {
  "use strict";
  document.documentElement.classList.add("js-scores");
  document.querySelectorAll("form.score-form").forEach(function (form) {
    form.addEventListener("change", function (event) {
      if (event.target.name !== "level") return;
      if (typeof form.requestSubmit === "function") form.requestSubmit();
      else form.submit();
    });
  });
})();
