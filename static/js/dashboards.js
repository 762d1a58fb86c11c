// Dashboards: draw every figure from the JSON the page carries (plotly.js is served from
// static/js/vendor, never a CDN), open a deal when one of its dots is clicked, and keep the
// filter form's URL short and shareable.
(function () {
  "use strict";

  const PHONE = window.matchMedia("(max-width: 640px)");

  function forPhone(layout, data) {
    // Narrow screens: smaller text, legends above the plot instead of beside it, and the
    // figure taller by what the legend takes, so the plot itself keeps its height.
    layout.font = Object.assign({}, layout.font, { size: 11 });
    if (layout.legend && layout.legend.orientation === "v") {
      layout.legend = Object.assign({}, layout.legend, {
        orientation: "h", x: 0, xanchor: "left", y: 1.02, yanchor: "bottom",
      });
    }
    if (layout.xaxis2 && layout.annotations) {
      // Side-by-side panels: their titles do not fit a phone, so the legend names them.
      layout.annotations = [];
      layout.showlegend = true;
      layout.margin = Object.assign({}, layout.margin, { t: 8 });
    }
    const shown = data.filter(function (t) { return t.showlegend !== false; }).length;
    if (layout.showlegend !== false && shown > 1) {
      layout.height = (layout.height || 320) + 18 * shown;
    }
    if (layout.height && layout.height <= 220) {
      // Small multiples: two to a row, so no axis title and small ticks.
      layout.yaxis = Object.assign({}, layout.yaxis, { title: { text: "" } });
      layout.xaxis = Object.assign({}, layout.xaxis, { tickfont: { size: 9 } });
    }
    return layout;
  }

  function draw(element) {
    const source = document.getElementById(element.dataset.figure);
    if (!source || !window.Plotly) { return; }
    const spec = JSON.parse(source.textContent);
    const layout = PHONE.matches ? forPhone(spec.layout, spec.data) : spec.layout;
    const config = {
      responsive: true,
      displaylogo: false,
      displayModeBar: PHONE.matches ? false : "hover",
      modeBarButtonsToRemove: ["select2d", "lasso2d", "autoScale2d", "toggleSpikelines"],
      toImageButtonOptions: { filename: element.id.replace(/^plot-/, ""), scale: 2 },
    };
    window.Plotly.newPlot(element, spec.data, layout, config).then(function (plot) {
      plot.on("plotly_click", function (event) {
        const point = event.points && event.points[0];
        const data = point && point.customdata;
        if (Array.isArray(data) && typeof data[0] === "string" && data[0].charAt(0) === "/") {
          window.location.href = data[0];
        }
      });
      element.dataset.rendered = "true";
    });
  }

  document.querySelectorAll(".plot[data-figure]").forEach(draw);

  // --- Filters ----------------------------------------------------------------------------
  const form = document.getElementById("dashboard-filters");
  if (form) {
    const period = form.querySelector("select[name=period]");
    const dates = form.querySelectorAll("[data-custom-dates]");
    const zone = form.querySelector("input[data-tz]");
    if (zone && !zone.value) {
      zone.value = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
    }

    function showDates() {
      const custom = period.value === "custom";
      dates.forEach(function (field) { field.hidden = !custom; });
      return custom;
    }

    form.addEventListener("submit", function () {
      // Leave out what does not apply, so the shared URL says only what was chosen.
      const custom = period.value === "custom";
      form.querySelectorAll("input, select").forEach(function (input) {
        const unused = !input.value
          || (input.name === "period" && input.value === "90d")
          || ((input.name === "start" || input.name === "end") && !custom)
          || (input.name === "tz" && period.value === "90d");
        if (unused) { input.disabled = true; }
      });
    });

    form.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
      select.addEventListener("change", function () {
        if (select === period && showDates()) {
          form.querySelector("input[name=start]").focus();
          return;  // wait for the dates and Apply
        }
        form.requestSubmit();
      });
    });
  }

  // Other filter forms (the Leads view): leave the empty fields out of the URL, so the shared
  // link says only what was chosen.
  document.querySelectorAll("form[data-drop-empty]").forEach(function (other) {
    other.addEventListener("submit", function () {
      other.querySelectorAll("input, select").forEach(function (input) {
        if (!input.value) { input.disabled = true; }
      });
    });
  });

  // --- A view being prepared in the background ----------------------------------------------
  // The page's figures are computed by a background job: follow its progress and show the
  // dashboard when it is done (a failure is said, and the page is not reloaded in a loop).
  const preparing = document.getElementById("board-preparing");
  if (preparing) {
    const bar = preparing.querySelector("[role=progressbar]");
    const message = preparing.querySelector("[data-job-message]");
    const started = Date.now();
    const poll = function () {
      fetch(preparing.dataset.jobUrl, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (job) {
          if (!job) { window.setTimeout(poll, 3000); return; }
          bar.setAttribute("aria-valuenow", job.percent);
          bar.querySelector(".progress-bar").style.width = job.percent + "%";
          if (job.state === "done") { window.location.reload(); return; }
          if (job.state === "failed") {
            message.textContent = "Computing these figures failed (" + job.error + "). Reload the page to try again.";
            return;
          }
          if (job.message) { message.textContent = job.message + "…"; }
          if (Date.now() - started > 120000) {
            message.textContent = "This is taking longer than usual: is the background worker running? The page will show the figures once they are ready.";
          }
          window.setTimeout(poll, 1000);
        })
        .catch(function () { window.setTimeout(poll, 3000); });
    };
    window.setTimeout(poll, 500);
  }

  // --- Copy the link of this view ---------------------------------------------------------
  document.querySelectorAll("[data-copy-link]").forEach(function (button) {
    button.addEventListener("click", function () {
      const status = button.parentElement.querySelector(".copy-status");
      const url = button.dataset.copyLink;
      const done = function (text) { if (status) { status.textContent = text; } };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(url).then(
          function () { done("Link copied."); },
          function () { done(url); }
        );
      } else {
        done(url);
      }
    });
  });
})();
