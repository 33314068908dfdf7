// The admin's account list and account page follow a check without a reload:
// ask live-status/ (retrieval/admin/live_status.py) every second while a shown
// account is queued or running, else every ten seconds, and put in what the
// server rendered, as a reload would. Without script the page stays as loaded.
// The admin loads form media in the head: start once the page is there.
document.addEventListener("DOMContentLoaded", function () {
  "use strict";
  var FAST_MS = 1000, SLOW_MS = 10000;

  function poll(url, apply) {
    function tick() {
      fetch(url, {headers: {Accept: "application/json"}, credentials: "same-origin"})
        .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
        .then(function (answer) { setTimeout(tick, apply(answer.accounts) ? FAST_MS : SLOW_MS); })
        .catch(function () { setTimeout(tick, SLOW_MS); });
    }
    tick();
  }

  function replace(el, html) {
    // Only when it changed: a button under the pointer or keyboard stays put.
    if (el && el.dataset.html !== html) {
      el.innerHTML = html;
      el.dataset.html = html;
    }
  }

  var page = document.getElementById("popadmin-live-status");
  if (page) {
    poll(page.dataset.url, function (accounts) {
      var active = false;
      Object.keys(accounts).forEach(function (pk) {
        if (accounts[pk].html !== undefined) replace(page, accounts[pk].html);
        active = active || accounts[pk].active;
      });
      return active;
    });
    return;
  }

  var table = document.getElementById("result_list");
  if (!table) return;
  var rows = {};
  table.querySelectorAll("tbody tr").forEach(function (row) {
    var box = row.querySelector("input.action-select");
    if (box) rows[box.value] = row;
  });
  var ids = Object.keys(rows);
  if (!ids.length) return;
  var url = new URL("live-status/", window.location.href.split("?")[0]);
  ids.forEach(function (pk) { url.searchParams.append("id", pk); });
  poll(url.toString(), function (accounts) {
    var active = false;
    Object.keys(accounts).forEach(function (pk) {
      var row = rows[pk];
      if (!row) return;
      var cells = accounts[pk].cells;
      Object.keys(cells).forEach(function (name) {
        replace(row.querySelector("td.field-" + name), cells[name]);
      });
      row.dataset.active = accounts[pk].active ? "1" : "";
      active = active || accounts[pk].active;
    });
    return active;
  });
});
