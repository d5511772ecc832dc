/* The ticket page: fill the reply from a canned response, mark internal notes visibly.
 * A static file because the Content-Security-Policy allows no inline script. */
"use strict";
(function () {
  function ready(fn) {
    if (document.readyState !== "loading") {
      fn();
    } else {
      document.addEventListener("DOMContentLoaded", fn);
    }
  }

  ready(function () {
    var box = document.getElementById("reply-box");
    if (!box) {
      return;
    }
    var picker = box.querySelector("select[name=canned]");
    var body = box.querySelector("textarea[name=body]");
    if (picker && body) {
      picker.addEventListener("change", function () {
        var option = picker.options[picker.selectedIndex];
        var text = option ? option.getAttribute("data-body") : null;
        if (text === null) {
          return;
        }
        if (body.value.trim() !== "" && body.value !== text &&
            !window.confirm(picker.getAttribute("data-confirm") || "Replace?")) {
          return;
        }
        body.value = text;
        body.focus();
      });
    }
    var radios = box.querySelectorAll("input[name=visibility]");
    function mark() {
      var internal = box.querySelector("input[name=visibility][value=internal]");
      box.classList.toggle("is-internal", Boolean(internal && internal.checked));
    }
    radios.forEach(function (radio) {
      radio.addEventListener("change", mark);
    });
    mark();
  });
})();
