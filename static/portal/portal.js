/* WeldDesk portal: small enhancements of the fault report form. Everything works without it. */
(function () {
  "use strict";
  var form = document.getElementById("fault-report");
  if (!form) { return; }

  // 1. Filter the fault code list as the customer types a code or a word.
  var filter = document.getElementById("fault-code-filter");
  var select = document.getElementById("id_fault_code");
  if (filter && select) {
    document.getElementById("fault-code-finder").hidden = false;
    var options = Array.prototype.slice.call(select.options);
    // "E-203", "e203" and "E 203" are the same code: compare without case, spaces or dashes.
    function plain(text) { return text.toLowerCase().replace(/[\s\-]/g, ""); }
    filter.addEventListener("input", function () {
      var term = plain(filter.value);
      var first = null;
      options.forEach(function (option) {
        // Only hidden, never disabled: a disabled option would not be sent with the form.
        var match = !option.value || !term || plain(option.text).indexOf(term) !== -1;
        option.hidden = !match && !option.selected;
        if (match && option.value && first === null) { first = option; }
      });
      var current = select.selectedOptions[0];
      if (term && first && (!select.value || (current && current.hidden))) {
        first.selected = true;  // typing a code picks it; the list still shows the others
      }
    });
  }

  // 2. Suggest help articles while the fault is described.
  var box = document.getElementById("suggestions");
  var url = form.getAttribute("data-suggest-url");
  var fields = [document.getElementById("id_subject"), document.getElementById("id_body")];
  if (!box || !url || !window.fetch) { return; }
  var timer = null;
  var last = "";
  function show(articles) {
    box.textContent = "";
    if (!articles.length) { return; }
    var list = document.createElement("ul");
    articles.forEach(function (article) {
      var item = document.createElement("li");
      var link = document.createElement("a");
      link.href = article.url;
      link.target = "_blank";
      link.rel = "noopener";
      link.textContent = article.title;
      item.appendChild(link);
      list.appendChild(item);
    });
    box.appendChild(list);
  }
  function ask() {
    var text = fields.map(function (f) { return f ? f.value : ""; }).join(" ").trim();
    var unit = document.getElementById("id_unit");
    var key = text + "|" + (unit ? unit.value : "");
    if (text.length < 2 || key === last) { return; }
    last = key;
    var query = "?q=" + encodeURIComponent(text.slice(0, 500)) +
      (unit && unit.value ? "&unit=" + encodeURIComponent(unit.value) : "");
    fetch(url + query, {
      headers: { "Accept": "application/json" }, credentials: "same-origin"
    }).then(function (r) { return r.ok ? r.json() : { articles: [] }; })
      .then(function (data) { if (key === last) { show(data.articles || []); } })
      .catch(function () { /* suggestions are a help, never an obstacle */ });
  }
  fields.forEach(function (field) {
    if (!field) { return; }
    field.addEventListener("input", function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(ask, 350);
    });
  });
})();
