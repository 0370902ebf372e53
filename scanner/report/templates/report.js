// Sort and filter the remediation table in place. Reads and compares textContent only and
// never builds markup, so device-controlled text stays text.
(function () {
  "use strict";
  var table = document.getElementById("findings");
  if (!table) { return; }
  var body = table.tBodies[0];
  var headers = table.tHead.rows[0].cells;
  var textInput = document.getElementById("filter-text");
  var statusSelect = document.getElementById("filter-status");
  var counter = document.getElementById("row-count");

  function cellValue(row, index, numeric) {
    var text = row.cells[index].textContent.trim();
    if (!numeric) { return text.toLowerCase(); }
    var n = parseFloat(text);
    return isNaN(n) ? -Infinity : n;
  }

  function sortBy(index) {
    var header = headers[index];
    var numeric = header.getAttribute("data-type") === "number";
    var ascending = header.getAttribute("aria-sort") !== "ascending";
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = cellValue(a, index, numeric), y = cellValue(b, index, numeric);
      var order = x < y ? -1 : (x > y ? 1 : 0);
      return ascending ? order : -order;
    });
    for (var i = 0; i < headers.length; i++) { headers[i].setAttribute("aria-sort", "none"); }
    header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    rows.forEach(function (row) { body.appendChild(row); });
  }

  function applyFilter() {
    var needle = textInput.value.trim().toLowerCase();
    var status = statusSelect.value;
    var shown = 0;
    Array.prototype.forEach.call(body.rows, function (row) {
      var visible = (!status || row.getAttribute("data-status") === status) &&
        (!needle || row.textContent.toLowerCase().indexOf(needle) !== -1);
      row.hidden = !visible;
      if (visible) { shown++; }
    });
    counter.textContent = shown + " of " + body.rows.length + " " + counter.getAttribute("data-noun");
  }

  Array.prototype.forEach.call(headers, function (header, index) {
    header.addEventListener("click", function () { sortBy(index); });
    header.addEventListener("keydown", function (event) {
      if (event.key === "Enter" || event.key === " ") { event.preventDefault(); sortBy(index); }
    });
  });
  textInput.addEventListener("input", applyFilter);
  statusSelect.addEventListener("change", applyFilter);
  document.documentElement.setAttribute("data-report-ready", "1");
})();
