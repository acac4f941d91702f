/* Fast keyboard hand entry of a route sheet (ucis, no dependencies besides the vendored htmx).
 *
 * Enter or ↓ moves to the next stop's reading, ↑ to the previous one; a row is saved (htmx
 * "rowsave" event on the row → POST of that row only) when the focus leaves it with a reading
 * that differs from what was last saved. Saving twice is harmless: the server reports duplicates.
 */
(function () {
  "use strict";

  function rowOf(el) {
    return el && el.closest ? el.closest("tr.entry-row") : null;
  }

  function rowsOf(sheet) {
    return Array.prototype.slice.call(sheet.querySelectorAll("tr.entry-row"));
  }

  function stateOf(row) {
    return Array.prototype.map.call(row.querySelectorAll("input[data-field]"), function (input) {
      return input.value.trim();
    }).join("\u0001");
  }

  function focusRow(row) {
    if (!row) return false;
    var input = row.querySelector("input.reading");
    if (!input || input.disabled) return false;
    input.focus();
    input.select();
    return true;
  }

  function save(row) {
    var reading = row.querySelector("input.reading");
    if (!reading || reading.disabled || !row.hasAttribute("hx-post")) return;
    var now = stateOf(row);
    if (reading.value.trim() === "" || row.dataset.saved === now) return;
    row.dataset.saved = now;
    window.htmx.trigger(row, "rowsave");
  }

  function init(sheet) {
    rowsOf(sheet).forEach(function (row) { row.dataset.saved = stateOf(row); });

    sheet.addEventListener("keydown", function (event) {
      var input = event.target;
      var row = rowOf(input);
      if (!row || input.tagName !== "INPUT") return;
      var rows = rowsOf(sheet);
      var at = rows.indexOf(row);
      var isDate = input.type === "date";
      if (event.key === "Enter" || (event.key === "ArrowDown" && !isDate)) {
        event.preventDefault();
        if (!focusRow(rows[at + 1])) save(row);
      } else if (event.key === "ArrowUp" && !isDate) {
        event.preventDefault();
        focusRow(rows[at - 1]);
      }
    });

    sheet.addEventListener("focusout", function (event) {
      var row = rowOf(event.target);
      if (!row || rowOf(event.relatedTarget) === row) return;
      save(row);
    });

    // A save that did not reach the server (or failed there) is shown and retried on the next leave.
    function failed(event) {
      var row = rowOf(event.detail && event.detail.elt);
      if (!row || !sheet.contains(row)) return;
      delete row.dataset.saved;
      var cell = row.querySelector(".outcome");
      if (cell) {
        cell.textContent = "";
        var note = document.createElement("span");
        note.className = "refused";
        note.setAttribute("data-testid", "entry-not-saved");
        note.textContent = sheet.getAttribute("data-not-saved") || "Not saved";
        cell.appendChild(note);
      }
    }
    document.body.addEventListener("htmx:responseError", failed);
    document.body.addEventListener("htmx:sendError", failed);

    var first = rowsOf(sheet).find(function (row) {
      var input = row.querySelector("input.reading");
      return input && !input.disabled && input.value === "";
    });
    if (first) focusRow(first);
  }

  function start() {
    Array.prototype.forEach.call(document.querySelectorAll("[data-hand-entry]"), init);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
