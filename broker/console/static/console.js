// The console's only script: refresh the follow-up queue without a reload (written by hand, no build).
"use strict";
(function () {
  var live = document.querySelector("[data-live]");
  if (!live) { return; }
  var every = Number(live.getAttribute("data-every") || "5000");
  function refresh() {
    fetch(live.getAttribute("data-live"), { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (answer) { return answer.ok ? answer.text() : null; })
      .then(function (html) { if (html !== null && html !== live.innerHTML) { live.innerHTML = html; } })
      .catch(function () { /* the next tick tries again */ })
      .finally(function () { window.setTimeout(refresh, every); });
  }
  window.setTimeout(refresh, every);
})();
