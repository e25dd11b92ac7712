/* Live progress bars: each `.staff-progress[data-progress-url]` polls its JSON endpoint while the work runs;
   when it ends, the page reloads once to show the kept timeline. No library: the machines are offline. */
(function () {
  "use strict";
  var POLL_MS = 1000;

  function seconds(value) {
    if (value === null || value === undefined || value === "") { return "—"; }
    var s = Math.round(value), h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
    s = s % 60;
    var mm = (h ? String(m).padStart(2, "0") : String(m)), ss = String(s).padStart(2, "0");
    return (h ? h + ":" : "") + mm + ":" + ss;
  }

  function set(box, field, text) {
    var el = box.querySelector('[data-field="' + field + '"]');
    if (el) { el.textContent = text; }
    return el;
  }

  function show(box, p) {
    var bar = box.querySelector("progress");
    if (p.total) { bar.max = p.total; bar.value = p.done; bar.removeAttribute("data-indeterminate"); }
    else { bar.removeAttribute("value"); }
    set(box, "status", p.status);
    set(box, "done", String(p.done));
    set(box, "total", p.total ? " / " + p.total : "");
    set(box, "percent", p.percent === null ? "" : "(" + p.percent + " %)");
    set(box, "rate", p.rate ? p.rate + "/s" : "—");
    set(box, "elapsed", seconds(p.elapsed));
    set(box, "eta", p.eta === null ? "—" : seconds(p.eta));
    set(box, "step", p.step || "—");
    set(box, "errors", String(p.errors));
    var error = set(box, "error", p.error || "");
    if (error) { error.hidden = !p.error; }
    box.setAttribute("data-status", p.status);
    box.setAttribute("data-done", String(p.done));
  }

  function poll(box) {
    fetch(box.getAttribute("data-progress-url"), {credentials: "same-origin", cache: "no-store"})
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (p) {
        show(box, p);
        if (p.status === "running") { setTimeout(function () { poll(box); }, POLL_MS); }
        else { window.location.reload(); }
      })
      .catch(function () { setTimeout(function () { poll(box); }, POLL_MS * 5); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll(".staff-progress[data-progress-url]").forEach(function (box) {
      if (box.getAttribute("data-status") === "running") { poll(box); }
    });
  });
})();
