// Proposes the browser's time zone once, while the signed-in person has none: with the login
// form (registration/login.html), or else from any page (templates/base.html renders
// #tz-propose only then). The server never overrides a zone the
// person chose on the account page, and checks the name against its list of zones.
(function () {
  "use strict";
  if (!window.Intl) return;
  var zone;
  try {
    zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  } catch (e) {
    return;
  }
  if (!zone) return;
  // On the login page the zone goes with the login itself (no request of its own).
  var login = document.getElementById("login-time-zone");
  if (login) login.value = zone;
  var form = document.getElementById("tz-propose");
  if (!form || !window.fetch) return;
  form.elements.time_zone.value = zone;
  fetch(form.action, {
    method: "POST",
    body: new FormData(form),
    credentials: "same-origin",
    headers: { "X-Requested-With": "fetch" },
  })
    .then(function (response) {
      return response.ok ? response.json() : null;
    })
    .then(function (body) {
      // Times on this page were drawn in the default zone: show them again in the new one
      // (not when it is the same zone, so the page stays as it is).
      if (body && body.stored && body.time_zone !== form.dataset.current) {
        window.location.reload();
      }
    })
    .catch(function () {});
})();
