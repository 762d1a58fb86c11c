// The map editor: every form and button here talks to the REST API (streams/api.py) with the
// map version it was rendered from, then swaps in a fresh editor body from the server. A save
// based on a stale version is refused by the server (409) and shown as a banner.
(function () {
  "use strict";
  const editor = document.getElementById("editor");
  if (!editor) return;
  const status = document.getElementById("save-status");
  const conflict = document.getElementById("conflict");
  const csrf = editor.querySelector("input[name=csrfmiddlewaretoken]").value;

  function body() { return document.getElementById("editor-body"); }
  function version() { return parseInt(body().dataset.version, 10); }
  function say(text, kind) {
    status.textContent = text;
    status.className = "save-status " + (kind || "");
  }

  // A form's fields as JSON: numbers as numbers, empty optional fields as null.
  function formJSON(form) {
    const data = {};
    for (const el of form.elements) {
      if (!el.name || el.disabled || el.name === "csrfmiddlewaretoken") continue;
      if (el.type === "checkbox") { data[el.name] = el.checked; continue; }
      const raw = el.value.trim();
      if (raw === "" && (el.dataset.nullable || el.type === "number")) { data[el.name] = null; continue; }
      if (el.dataset.type === "int") data[el.name] = /^-?\d+$/.test(raw) ? parseInt(raw, 10) : raw;
      else if (el.type === "number") data[el.name] = isFinite(Number(raw)) ? Number(raw) : raw;
      else data[el.name] = el.value;
    }
    return data;
  }

  async function send(method, url, data) {
    const options = {
      method: method,
      credentials: "same-origin",
      headers: {"X-CSRFToken": csrf, "Accept": "application/json"},
    };
    if (data !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(data);
    }
    const response = await fetch(url, options);
    let payload = {};
    try { payload = await response.json(); } catch (e) { /* empty body */ }
    return {response: response, payload: payload};
  }

  function clearErrors(scope) {
    scope.querySelectorAll(".field-error").forEach(function (el) { el.remove(); });
    scope.querySelectorAll("[aria-invalid]").forEach(function (el) {
      el.removeAttribute("aria-invalid");
      const ids = (el.getAttribute("aria-describedby") || "").split(" ").filter(function (id) { return !id.endsWith("-error"); });
      if (ids.length) el.setAttribute("aria-describedby", ids.join(" ")); else el.removeAttribute("aria-describedby");
    });
    scope.querySelectorAll(".form-errors").forEach(function (el) { el.textContent = ""; });
  }

  // 400 {field: [reasons]}: each reason next to its field; the rest at the form's foot.
  function showErrors(form, payload) {
    let first = null;
    const general = [];
    for (const [field, reasons] of Object.entries(payload)) {
      const text = Array.isArray(reasons) ? reasons.join(" ") : String(reasons);
      const input = form && form.elements.namedItem(field);
      if (input && input.id) {
        const error = document.createElement("p");
        error.className = "field-error";
        error.id = input.id + "-error";
        error.textContent = text;
        input.setAttribute("aria-invalid", "true");
        const described = input.getAttribute("aria-describedby");
        input.setAttribute("aria-describedby", (described ? described + " " : "") + error.id);
        (input.closest(".field") || input.parentNode).appendChild(error);
        first = first || input;
      } else {
        general.push(text);
      }
    }
    const slot = form && form.querySelector(".form-errors");
    if (general.length) {
      if (slot) slot.textContent = general.join(" ");
      else say(general.join(" "), "error");
    }
    say("Not saved: " + (general.length ? general.join(" ") : "please correct the highlighted field."), "error");
    if (first) first.focus();
  }

  // Swap in the server's current editor body, keeping focus and open panels where they were.
  async function refresh(focusId) {
    const active = focusId || (document.activeElement && document.activeElement.id);
    const open = Array.from(body().querySelectorAll("details[open]")).map(function (d) { return d.id; });
    const response = await fetch(editor.dataset.fragmentUrl, {credentials: "same-origin"});
    const holder = document.createElement("div");
    holder.innerHTML = await response.text();
    body().replaceWith(holder.firstElementChild);
    open.forEach(function (id) { const d = document.getElementById(id); if (d) d.open = true; });
    const target = active && document.getElementById(active);
    if (target) target.focus();
  }

  async function handle(result, form, focusId) {
    const {response, payload} = result;
    if (response.ok) {
      await refresh(focusId);
      say("Saved.", "ok");
      return true;
    }
    if (response.status === 409) {
      conflict.querySelector(".msg").textContent = [].concat(payload.version || payload.detail || "This map was changed since you opened it.").join(" ");
      conflict.hidden = false;
      conflict.focus && conflict.scrollIntoView({block: "nearest"});
      say("Not saved: the map changed meanwhile.", "error");
      return false;
    }
    if (response.status === 400) { showErrors(form, payload); return false; }
    say("Not saved: " + (payload.detail || response.statusText || "the server refused the change."), "error");
    return false;
  }

  editor.addEventListener("submit", async function (event) {
    const form = event.target.closest("form.api-form");
    if (!form) return;
    event.preventDefault();
    clearErrors(form);
    const data = formJSON(form);
    data.version = version();
    say("Saving…");
    const focusId = form.dataset.reset ? form.querySelector("input[type=text]").id : null;
    await handle(await send(form.dataset.method, form.dataset.url, data), form, focusId);
  });

  async function move(stepId, position, focusId) {
    say("Moving…");
    await handle(await send("POST", "/api/steps/" + stepId + "/move/", {version: version(), position: position}), null, focusId);
  }

  editor.addEventListener("click", async function (event) {
    const button = event.target.closest("button");
    if (!button) return;
    if (button.dataset.move) {
      await move(button.dataset.stepId, parseInt(button.dataset.move, 10), button.id);
    } else if (button.dataset.deleteUrl) {
      if (!window.confirm(button.dataset.confirm || "Delete?")) return;
      say("Deleting…");
      const form = button.closest("form");
      if (form) clearErrors(form);
      await handle(await send("DELETE", button.dataset.deleteUrl + "?version=" + version()), form);
    }
  });

  document.getElementById("reload-map").addEventListener("click", async function () {
    conflict.hidden = true;
    await refresh();
    say("Reloaded: this is the latest version of the map.", "ok");
  });

  // Drag and drop reordering; the ↑ and ↓ buttons are the keyboard alternative.
  let dragged = null;
  editor.addEventListener("dragstart", function (event) {
    const item = event.target.closest(".step-item");
    if (!item) return;
    dragged = item;
    item.classList.add("dragging");
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", item.dataset.stepId);
  });
  editor.addEventListener("dragend", function () {
    if (dragged) dragged.classList.remove("dragging");
    editor.querySelectorAll(".drop-target").forEach(function (el) { el.classList.remove("drop-target"); });
    dragged = null;
  });
  editor.addEventListener("dragover", function (event) {
    const item = event.target.closest(".step-item");
    if (!item || !dragged || item === dragged) return;
    event.preventDefault();
    editor.querySelectorAll(".drop-target").forEach(function (el) { el.classList.remove("drop-target"); });
    item.classList.add("drop-target");
  });
  editor.addEventListener("drop", async function (event) {
    const item = event.target.closest(".step-item");
    if (!item || !dragged || item === dragged) return;
    event.preventDefault();
    await move(dragged.dataset.stepId, parseInt(item.dataset.position, 10));
  });
})();
