// govwatch console: live refresh of [data-live] fragments and confirmation of serious buttons.
// No inline script anywhere (the Content-Security-Policy forbids it); this file is all there is.
"use strict";
(function () {
  var PERIOD_MS = 5000;

  function refresh(el) {
    if (document.hidden) return;
    fetch(el.getAttribute("data-live"), { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) {
        if (response.redirected || response.status === 401 || response.status === 403) {
          window.location.reload(); // session ended: show the login page
          return null;
        }
        return response.ok ? response.text() : null;
      })
      .then(function (text) {
        if (text !== null && text !== undefined && text !== el.innerHTML) {
          var open = Array.prototype.map.call(el.querySelectorAll("details[open]"), function (d, i) { return i; });
          el.innerHTML = text; // server-rendered, escaped fragment of our own origin
          el.setAttribute("data-refreshed", new Date().toISOString());
          open.forEach(function (i) { var d = el.querySelectorAll("details")[i]; if (d) d.open = true; });
        }
      })
      .catch(function () { /* collector briefly unreachable: try again next period */ });
  }

  function start() {
    var live = document.querySelectorAll("[data-live]");
    Array.prototype.forEach.call(live, function (el) {
      setInterval(function () { refresh(el); }, PERIOD_MS);
    });
    document.addEventListener("submit", function (event) {
      var form = event.target;
      var question = form.getAttribute("data-confirm");
      if (question && !window.confirm(question)) event.preventDefault();
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
