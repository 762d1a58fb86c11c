// Qualification on the deal page: a tap or click on a level sends that criterion's form at
// once (one tap to score). With the keyboard the arrow keys move through the levels without
// sending anything, and the "Save score" button (hidden for pointers) sends the chosen one.
// Without JavaScript the button is always there.
(function () {
  "use strict";
  document.documentElement.classList.add("js-scores");
  document.querySelectorAll("form.score-form").forEach(function (form) {
    form.addEventListener("keydown", function () {
      form.classList.add("keyed");
    });
    form.addEventListener("pointerdown", function (event) {
      if (event.target.closest(".segmented")) form.classList.remove("keyed");
    });
    form.addEventListener("change", function (event) {
      if (event.target.name !== "level" || form.classList.contains("keyed")) return;
      if (typeof form.requestSubmit === "function") form.requestSubmit();
      else form.submit();
    });
  });
})();
