// Refreshes the dashboard's numbers every few seconds without reloading the page:
// fetches the live fragment (/dashboard/live) and swaps it in. A static file,
// as the site's Content-Security-Policy allows no inline script.
(function () {
  "use strict";

  function start() {
    var box = document.getElementById("dash-live");
    if (!box) { return; }
    var url = box.getAttribute("data-url");
    var seconds = parseFloat(box.getAttribute("data-seconds")) || 5;
    var stamp = document.getElementById("dash-updated");
    var busy = false;

    function openState() {
      var open = {};
      box.querySelectorAll("details[id]").forEach(function (d) { open[d.id] = d.open; });
      return open;
    }

    function refresh() {
      if (busy || document.hidden) { return; }
      busy = true;
      fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
        .then(function (response) {
          // Signed out (session ended): the fragment URL redirects to the login page.
          if (!response.ok || response.redirected) { throw new Error("status " + response.status); }
          return response.text();
        })
        .then(function (html) {
          var open = openState();
          box.innerHTML = html;
          Object.keys(open).forEach(function (id) {
            var d = document.getElementById(id);
            if (d) { d.open = open[id]; }
          });
          var marker = box.querySelector("[data-stamp]");
          if (stamp && marker) {
            // The words come from the page, in its language (data-updated, data-stale).
            var words = stamp.getAttribute("data-updated") || "updated %(time)s";
            stamp.textContent = words.replace("%(time)s", marker.getAttribute("data-stamp"));
          }
          if (stamp) { stamp.classList.remove("stale"); }
        })
        .catch(function () {
          if (stamp) {
            stamp.classList.add("stale");
            stamp.textContent = stamp.getAttribute("data-stale") || "not updating (offline or signed out)";
          }
        })
        .finally(function () { busy = false; });
    }

    window.setInterval(refresh, seconds * 1000);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
