// One confirmation dialog for a step that is hard to take back (a deal's Won or Lost, a lead's
// disqualification). Without JavaScript the server answers the first post with a page asking
// the same; here a <dialog> asks and the form is sent again confirmed (its input.confirmed
// set to 1) by the button that opened it.
//
// vsmConfirm({dialog, title, text, yes, no, forms, ask}): `ask(form, submitter)` returns the
// dialog's {title, text, yes} words, or null to let the form go unasked (the server then
// says what is missing next to its field, and nothing is written).
window.vsmConfirm = function (options) {
  "use strict";
  const dialog = options.dialog;
  if (!dialog || typeof dialog.showModal !== "function") { return; }
  const yes = options.yes;
  let pending = null;
  let opener = null;

  options.forms.forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (form.querySelector("input.confirmed").value === "1") { return; }
      const submitter = event.submitter || form.querySelector("button[type=submit]");
      const words = options.ask(form, submitter);
      if (!words) { return; }
      event.preventDefault();
      pending = form;
      opener = submitter;
      options.title.textContent = words.title;
      options.text.textContent = words.text;
      yes.textContent = words.yes;
      yes.disabled = false;
      dialog.showModal();
      yes.focus();
    });
  });
  yes.addEventListener("click", function () {
    if (!pending) { return; }
    pending.querySelector("input.confirmed").value = "1";
    yes.disabled = true;  // one submission per confirmation, however often it is tapped
    dialog.close();
    pending.requestSubmit(opener);
  });
  options.no.addEventListener("click", function () { dialog.close(); });
  dialog.addEventListener("close", function () {
    if (pending && pending.querySelector("input.confirmed").value !== "1" && opener) {
      opener.focus();
    }
  });
};
