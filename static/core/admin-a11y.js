/* WeldDesk: names what Django admin's own scripts draw without one (accessibility, WCAG 4.1.2).
 *
 * - filter_horizontal (SelectFilter2.js) draws <span class="help-tooltip search-label-icon"
 *   aria-label="…">: aria-label is not allowed on a span without a role (axe
 *   "aria-prohibited-attr"); it is an icon, so it gets role="img".
 * - autocomplete fields (select2) draw a combobox named by an empty container (axe
 *   "aria-input-field-name"): it gets the field's own label.
 * Progressive: the pages work without it, and the widgets are drawn late, so a MutationObserver
 * names them whenever they appear. */
(function () {
  "use strict";

  function labelFor(select) {
    if (!select || !select.id) return "";
    var label = document.querySelector('label[for="' + select.id + '"]');
    return label ? label.textContent.replace(/:\s*$/, "").trim() : "";
  }

  function fix(root) {
    root.querySelectorAll("span.help-tooltip[aria-label]:not([role])").forEach(function (span) {
      span.setAttribute("role", "img");
    });
    root.querySelectorAll(".select2-container").forEach(function (container) {
      var select = container.previousElementSibling;
      var name = labelFor(select);
      if (!name) return;
      container.querySelectorAll(".select2-selection[role=combobox]").forEach(function (box) {
        if (!box.getAttribute("aria-label")) box.setAttribute("aria-label", name);
      });
      container.querySelectorAll(".select2-selection__rendered[role=textbox]").forEach(function (box) {
        if (!box.getAttribute("aria-label")) box.setAttribute("aria-label", name);
      });
    });
  }

  function start() {
    fix(document);
    new MutationObserver(function () { fix(document); }).observe(document.body, {
      childList: true, subtree: true,
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
