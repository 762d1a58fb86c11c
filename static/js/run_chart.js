// Draws a kaizen cycle's run chart from the figure the page holds as JSON data (no inline
// script: the Content-Security-Policy runs only static files; docs/security.md).
(function () {
  "use strict";
  document.querySelectorAll("[data-run-chart]").forEach(function (element) {
    var source = document.getElementById(element.getAttribute("data-run-chart"));
    if (!source || !window.Plotly) return;
    var spec = JSON.parse(source.textContent);
    window.Plotly.newPlot(element, spec.data, spec.layout, { displayModeBar: false, responsive: true });
  });
})();
