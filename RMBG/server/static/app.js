// RMBG web page: asks for the API key once per tab (sessionStorage), sends photos to /api/removebg,
// shows before/after with a slider and offers the cutout for download. No key is ever in the HTML.
"use strict";

(() => {
  const KEY_STORAGE = "rmbg.apiKey";
  const SIZES = [["full", "full size"], ["hd", "hd (4 MP)"], ["medium", "medium (1.5 MP)"], ["preview", "preview (0.25 MP)"]];
  const $ = (id) => document.getElementById(id);
  let photo = null;
  let beforeUrl = null;
  let resultUrl = null;

  const apiKey = () => sessionStorage.getItem(KEY_STORAGE);

  function setStatus(text, isError = false) {
    $("status").textContent = text;
    $("status").className = isError ? "error" : "";
  }

  function showKeyPanel(message) {
    $("app").hidden = true;
    $("key-panel").hidden = false;
    $("key-error").textContent = message || "";
    $("api-key").focus();
  }

  function api(path, options = {}) {
    const headers = Object.assign({}, options.headers || {}, { "X-Api-Key": apiKey() || "" });
    return fetch(path, Object.assign({}, options, { headers, credentials: "same-origin" }));
  }

  async function errorMessage(response) {
    try {
      const body = await response.json();
      const error = body.errors && body.errors[0];
      if (error) return error.title + (error.detail ? ": " + error.detail : "");
    } catch (_) { /* not JSON */ }
    return "HTTP " + response.status;
  }

  // Forget the previous cutout: a failed run must not leave the last result and its download link on screen.
  function clearResult() {
    $("compare").hidden = true;
    $("download").hidden = true;
    $("download").removeAttribute("href");
    $("result").onload = null;
    $("result").removeAttribute("src");
    if (resultUrl) URL.revokeObjectURL(resultUrl);
    resultUrl = null;
  }

  function fill(select, entries, selected) {
    select.replaceChildren(...entries.map(([value, label]) => {
      const option = document.createElement("option");
      option.value = value;
      option.textContent = label;
      option.selected = value === selected;
      return option;
    }));
  }

  async function loadOptions() {
    let response;
    try {
      response = await api("/api/models");
    } catch (error) {
      showKeyPanel("Cannot reach the server: " + error.message);
      return;
    }
    if (response.status === 401 || response.status === 403) {
      const message = await errorMessage(response);
      sessionStorage.removeItem(KEY_STORAGE);
      showKeyPanel(message);
      return;
    }
    if (!response.ok) {
      showKeyPanel(await errorMessage(response));
      return;
    }
    const info = await response.json();
    fill($("model"), info.models.map((m) => [m.name, m.description ? `${m.name} — ${m.description}` : m.name]), info.default_model);
    fill($("post"), info.post_processors.map((p) => [p, p]), "none");
    fill($("size"), SIZES.filter(([value]) => info.sizes.includes(value)), "full");
    $("key-panel").hidden = true;
    $("app").hidden = false;
    $("run").disabled = photo === null;
  }

  function choose(file) {
    if (!file) return;
    if (!file.type.startsWith("image/")) {
      clearResult();
      setStatus(`${file.name} is not an image (${file.type || "unknown type"}).`, true);
      document.body.dataset.state = "error";
      return;
    }
    photo = file;
    if (beforeUrl) URL.revokeObjectURL(beforeUrl);
    beforeUrl = URL.createObjectURL(file);
    $("before").src = beforeUrl;
    $("run").disabled = false;
    run();
  }

  async function run() {
    if (!photo) return;
    const form = new FormData();
    form.append("image_file", photo, photo.name);
    form.append("size", $("size").value);
    form.append("format", "png");
    form.append("model", $("model").value);
    form.append("post", $("post").value);
    $("run").disabled = true;
    clearResult();
    document.body.dataset.state = "working";
    setStatus("Removing the background…");
    const started = performance.now();
    try {
      const response = await api("/api/removebg", { method: "POST", body: form });
      if (response.status === 401 || response.status === 403) {
        sessionStorage.removeItem(KEY_STORAGE);
        showKeyPanel(await errorMessage(response));
        document.body.dataset.state = "error";
        return;
      }
      if (!response.ok) {
        setStatus(await errorMessage(response), true);
        document.body.dataset.state = "error";
        return;
      }
      const blob = await response.blob();
      resultUrl = URL.createObjectURL(blob);
      const seconds = ((performance.now() - started) / 1000).toFixed(1);
      const width = response.headers.get("X-Width");
      const height = response.headers.get("X-Height");
      $("result").onload = () => {
        $("compare").hidden = false;
        $("download").hidden = false;
        document.body.dataset.state = "done";
      };
      $("result").src = resultUrl;
      $("download").href = resultUrl;
      $("download").download = photo.name.replace(/\.[^.]*$/, "") + "-no-bg.png";
      setStatus(`Done: ${width}×${height} in ${seconds} s.`);
    } catch (error) {
      setStatus("Request failed: " + error.message, true);
      document.body.dataset.state = "error";
    } finally {
      $("run").disabled = false;
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("key-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const key = $("api-key").value.trim();
      if (!key) return;
      sessionStorage.setItem(KEY_STORAGE, key);
      $("api-key").value = "";
      loadOptions();
    });
    $("forget-key").addEventListener("click", () => {
      sessionStorage.removeItem(KEY_STORAGE);
      showKeyPanel("");
    });
    $("file-input").addEventListener("change", (event) => choose(event.target.files[0]));
    $("run").addEventListener("click", run);
    $("slider").addEventListener("input", (event) => {
      $("after-layer").style.clipPath = `inset(0 0 0 ${event.target.value}%)`;
    });
    const zone = $("drop-zone");
    zone.addEventListener("dragover", (event) => { event.preventDefault(); zone.classList.add("over"); });
    zone.addEventListener("dragleave", () => zone.classList.remove("over"));
    zone.addEventListener("drop", (event) => {
      event.preventDefault();
      zone.classList.remove("over");
      choose(event.dataTransfer.files[0]);
    });
    zone.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || event.key === " ") $("file-input").click();
    });
    if (apiKey()) loadOptions(); else showKeyPanel("");
  });
})();
