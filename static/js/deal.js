// Send the browser's time zone with every form that has a "when" field, so a time typed as
// local time is stored as the right instant.
(function () {
  "use strict";
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
  document.querySelectorAll("input[name=tz]").forEach(function (input) { input.value = zone; });
})();
