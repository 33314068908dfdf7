// On a phone every admin list shows its rows as cards (admin.css): each cell
// on a line of its own, named by its column's heading, copied here from the
// table's head. Without script the cards keep their values, without names.
document.addEventListener("DOMContentLoaded", function () {
  "use strict";
  var table = document.getElementById("result_list");
  if (!table) return;
  var heads = Array.prototype.map.call(table.querySelectorAll("thead th"), function (th) {
    return th.classList.contains("action-checkbox-column") ? "" : th.textContent.trim();
  });
  table.querySelectorAll("tbody tr").forEach(function (row) {
    Array.prototype.forEach.call(row.children, function (cell, i) {
      // The row's own heading (its link) needs no name.
      if (cell.tagName === "TD" && heads[i]) cell.dataset.label = heads[i];
    });
  });
});
