// "Download PNG": draw the server's SVG onto a canvas at twice its size and save it.
(function () {
  "use strict";
  const button = document.getElementById("download-png");
  if (!button) return;
  button.addEventListener("click", async function () {
    button.disabled = true;
    try {
      const svgText = await (await fetch(button.dataset.svgUrl, {credentials: "same-origin"})).text();
      const svg = new DOMParser().parseFromString(svgText, "image/svg+xml").documentElement;
      const width = parseFloat(svg.getAttribute("width")), height = parseFloat(svg.getAttribute("height"));
      // Browsers cap a canvas near 32k pixels a side: scale down huge maps rather than fail.
      const scale = Math.min(2, 32000 / width, 32000 / height);
      const image = new Image();
      const url = URL.createObjectURL(new Blob([svgText], {type: "image/svg+xml"}));
      await new Promise(function (resolve, reject) { image.onload = resolve; image.onerror = reject; image.src = url; });
      const canvas = document.createElement("canvas");
      canvas.width = Math.round(width * scale);
      canvas.height = Math.round(height * scale);
      const context = canvas.getContext("2d");
      context.fillStyle = "#ffffff";
      context.fillRect(0, 0, canvas.width, canvas.height);
      context.drawImage(image, 0, 0, canvas.width, canvas.height);
      URL.revokeObjectURL(url);
      const blob = await new Promise(function (resolve) { canvas.toBlob(resolve, "image/png"); });
      const link = document.createElement("a");
      link.href = URL.createObjectURL(blob);
      link.download = button.dataset.filename;
      document.body.appendChild(link);
      link.click();
      link.remove();
    } finally {
      button.disabled = false;
    }
  });
})();

// "Fit to width" shows the whole map at once; "Actual size" brings back legible text.
(function () {
  "use strict";
  const toggle = document.getElementById("fit-map");
  const frame = document.getElementById("map-frame");
  if (!toggle || !frame) return;
  toggle.addEventListener("click", function () {
    const fit = frame.classList.toggle("fit");
    toggle.setAttribute("aria-pressed", String(fit));
    toggle.textContent = fit ? "Actual size" : "Fit to width";
  });
})();

// "Show the discovered moves": the dashed arcs of the latest Discovery view over the map
// (drawn hidden by the server; without scripts the links beside the button lead to them).
(function () {
  "use strict";
  const toggle = document.getElementById("discovered-toggle");
  const layer = document.querySelector("#map-frame .discovered-overlay");
  if (!toggle || !layer) return;
  toggle.hidden = false;
  toggle.addEventListener("click", function () {
    const shown = toggle.getAttribute("aria-pressed") !== "true";
    if (shown) layer.removeAttribute("display");
    else layer.setAttribute("display", "none");
    toggle.setAttribute("aria-pressed", String(shown));
    toggle.textContent = shown ? "Hide the discovered moves" : "Show the discovered moves";
  });
})();
