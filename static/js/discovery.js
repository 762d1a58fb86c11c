// The Discovery dashboard's graph: switch between the frequency and the performance view,
// and hide the moves rarer than the slider says. Without scripts the drawing shows the
// frequency view with every move (funnel/discovery/drawing.py).
(function () {
  "use strict";
  const wrap = document.getElementById("dfg");
  const controls = document.getElementById("dfg-controls");
  if (!wrap || !controls) { return; }
  const edges = Array.from(wrap.querySelectorAll(".dfg-edge"));
  const slider = document.getElementById("dfg-min");
  const out = document.getElementById("dfg-min-out");
  const shown = document.getElementById("dfg-shown");
  const colours = { freq: "#0072B2", perf: "#D55E00" };

  function view() {
    const checked = controls.querySelector("input[name=dfg-view]:checked");
    return checked ? checked.value : "freq";
  }

  function draw() {
    const mode = view();
    const least = Number(slider.value);
    let visible = 0;
    edges.forEach(function (edge) {
      const hide = Number(edge.dataset.transitions) < least;
      edge.classList.toggle("dfg-hidden", hide);
      if (!hide) { visible += 1; }
      const path = edge.querySelector("path");
      const text = edge.querySelector("text");
      path.setAttribute("stroke", colours[mode]);
      path.setAttribute("stroke-width", edge.dataset[mode + "Width"]);
      path.setAttribute("marker-end", "url(#dfg-arrow-" + mode + ")");
      text.textContent = text.dataset[mode];
    });
    out.textContent = String(least);
    shown.textContent = visible + " of " + edges.length + " moves shown";
  }

  controls.hidden = false;
  controls.addEventListener("change", draw);
  slider.addEventListener("input", draw);
  draw();
})();
