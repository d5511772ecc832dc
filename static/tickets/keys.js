/* Keyboard shortcuts of the agents' workspace (issue 18, point 4), progressive: every action
 * is a link or a form of the page, which work without this file.
 *
 * List:   j / k move the selection, Enter or o opens it, n takes the next ticket (when the
 *         page has a #next-ticket button).
 * Ticket: r reply, n internal note, a assign to me, s status, e resolve.
 * Both:   ? shows the keys (dialog rendered by the template, in the agent's language).
 * Reply:  :: opens the canned-response picker (combobox + listbox); Ctrl/Cmd+Enter sends.
 *
 * Single keys never fire while typing in a field or with Ctrl, Alt or Meta held; Esc leaves a
 * field. A static file because the Content-Security-Policy allows no inline script. */
"use strict";
(function () {
  function ready(fn) {
    if (document.readyState !== "loading") {
      fn();
    } else {
      document.addEventListener("DOMContentLoaded", fn);
    }
  }

  function typing(el) {
    if (!el || el === document.body) {
      return false;
    }
    var tag = el.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || el.isContentEditable;
  }

  function submit(form, submitter) {
    if (form.dataset.kbdSent) {
      return; // one press, one POST
    }
    form.dataset.kbdSent = "1";
    if (typeof form.requestSubmit === "function") {
      form.requestSubmit(submitter || undefined);
    } else {
      form.submit();
    }
  }

  // ------------------------------------------------------------------ the "?" dialog

  function helpDialog() {
    var dialog = document.getElementById("kbd-help");
    if (!dialog || typeof dialog.showModal !== "function") {
      return null;
    }
    dialog.querySelectorAll("[data-kbd-needs]").forEach(function (line) {
      line.hidden = !document.querySelector(line.getAttribute("data-kbd-needs"));
    });
    var opener = document.querySelector(".kbd-hint");
    var lastFocus = null;
    function open() {
      if (dialog.open) {
        return;
      }
      lastFocus = document.activeElement;
      dialog.showModal();
      var close = document.getElementById("kbd-help-close");
      if (close) {
        close.focus();
      }
    }
    function focusables() {
      return Array.prototype.filter.call(
        dialog.querySelectorAll("button, [href], input, select, textarea, [tabindex]"),
        function (el) {
          return !el.disabled && el.offsetParent !== null && el.tabIndex >= 0;
        }
      );
    }
    dialog.addEventListener("keydown", function (event) {
      if (event.key !== "Tab") {
        return;
      }
      // Keep Tab inside the dialog (showModal makes the page inert; the browser's own UI
      // would still take the focus at the ends).
      var items = focusables();
      if (!items.length) {
        return;
      }
      var first = items[0];
      var last = items[items.length - 1];
      if (event.shiftKey && document.activeElement === first) {
        event.preventDefault();
        last.focus();
      } else if (!event.shiftKey && document.activeElement === last) {
        event.preventDefault();
        first.focus();
      }
    });
    dialog.addEventListener("close", function () {
      if (lastFocus && typeof lastFocus.focus === "function") {
        lastFocus.focus();
      }
    });
    var close = document.getElementById("kbd-help-close");
    if (close) {
      close.addEventListener("click", function () {
        dialog.close();
      });
    }
    if (opener) {
      opener.hidden = false;
      opener.querySelector("button").addEventListener("click", open);
    }
    return { open: open, dialog: dialog };
  }

  // ------------------------------------------------------------------ the ticket list

  function listKeys() {
    var table = document.getElementById("result_list");
    if (!table) {
      return null;
    }
    var current = -1;
    function rows() {
      // Rows the live layer adds or removes count as they are now.
      return Array.prototype.filter.call(table.querySelectorAll("tbody tr"), function (tr) {
        return tr.querySelector("th a") && !tr.hidden;
      });
    }
    function select(index) {
      var all = rows();
      if (!all.length) {
        return;
      }
      index = Math.max(0, Math.min(all.length - 1, index));
      all.forEach(function (tr) {
        tr.classList.remove("kbd-current");
        tr.removeAttribute("aria-current");
      });
      var tr = all[index];
      tr.classList.add("kbd-current");
      tr.setAttribute("aria-current", "true");
      current = index;
      // The row's reference link takes the focus: screen readers announce it, and Enter
      // opens it as any link would.
      var link = tr.querySelector("th a");
      link.focus({ preventScroll: true });
      tr.scrollIntoView({ block: "nearest" });
    }
    function selectedIndex() {
      var all = rows();
      var marked = table.querySelector("tbody tr.kbd-current");
      var at = marked ? all.indexOf(marked) : -1;
      return at >= 0 ? at : current;
    }
    return {
      handle: function (key) {
        if (key === "j") {
          var at = selectedIndex();
          select(at < 0 ? 0 : at + 1);
          return true;
        }
        if (key === "k") {
          var here = selectedIndex();
          select(here < 0 ? 0 : here - 1);
          return true;
        }
        if (key === "Enter" || key === "o") {
          var marked = table.querySelector("tbody tr.kbd-current th a");
          if (!marked) {
            return false;
          }
          var focus = document.activeElement;
          if (key === "Enter" && focus && focus !== document.body) {
            return false; // a focused link or button (the row's own included) acts itself
          }
          window.location.assign(marked.href);
          return true;
        }
        if (key === "n") {
          var next = document.getElementById("next-ticket");
          if (!next) {
            return false;
          }
          if (next.form) {
            submit(next.form, next);
          } else {
            next.click();
          }
          return true;
        }
        return false;
      },
    };
  }

  // ------------------------------------------------------------------ the ticket page

  function ticketKeys() {
    if (!document.body.classList.contains("ticket-workspace")) {
      return null; // the list's action pages have status selects of their own
    }
    var box = document.getElementById("reply-box");
    var body = box ? box.querySelector("textarea[name=body]") : null;
    var status = document.querySelector(".workspace-forms select[name=status]");
    var assignMe = document.getElementById("assign-me");
    if (!body && !status && !assignMe) {
      return null;
    }
    function write(visibility) {
      if (!body) {
        return false;
      }
      var radio = box.querySelector("input[name=visibility][value=" + visibility + "]");
      if (radio && !radio.checked) {
        radio.checked = true;
        radio.dispatchEvent(new Event("change", { bubbles: true }));
      }
      body.scrollIntoView({ block: "center" });
      body.focus();
      return true;
    }
    return {
      handle: function (key) {
        if (key === "r") {
          return write("public");
        }
        if (key === "n") {
          return write("internal");
        }
        if (key === "a") {
          if (!assignMe) {
            return false;
          }
          submit(assignMe);
          return true;
        }
        if (key === "s") {
          if (!status) {
            return false;
          }
          status.scrollIntoView({ block: "center" });
          status.focus();
          return true;
        }
        if (key === "e") {
          if (!status || !status.querySelector("option[value=resolved]")) {
            return false;
          }
          // The reason is optional; the status form is sent as a click on its button would.
          status.value = "resolved";
          submit(status.form);
          return true;
        }
        return false;
      },
    };
  }

  // ------------------------------------------------------------------ the :: picker

  function cannedPicker() {
    var box = document.getElementById("reply-box");
    var picker = document.getElementById("canned-picker");
    if (!box || !picker) {
      return;
    }
    var body = box.querySelector("textarea[name=body]");
    var select = box.querySelector("select[name=canned]");
    var search = document.getElementById("canned-search");
    var list = document.getElementById("canned-options");
    var none = picker.querySelector(".canned-none");
    if (!body || !select || !search || !list) {
      return;
    }
    var hint = box.querySelector(".kbd-reply-hint");
    if (hint) {
      hint.hidden = false;
    }
    var items = Array.prototype.filter
      .call(select.options, function (option) {
        return option.value && option.hasAttribute("data-body");
      })
      .map(function (option) {
        return {
          value: option.value,
          title: option.textContent,
          body: option.getAttribute("data-body"),
          haystack: (option.textContent + "\n" + option.getAttribute("data-body")).toLowerCase(),
        };
      });
    var shown = [];
    var active = -1;
    var anchor = null; // where the "::" starts in the textarea

    function render() {
      var words = search.value.toLowerCase().split(/\s+/).filter(Boolean);
      shown = items.filter(function (item) {
        return words.every(function (word) {
          return item.haystack.indexOf(word) >= 0;
        });
      });
      list.textContent = "";
      shown.forEach(function (item, i) {
        var li = document.createElement("li");
        li.id = "canned-option-" + item.value;
        li.setAttribute("role", "option");
        li.setAttribute("aria-selected", "false");
        var title = document.createElement("strong");
        title.textContent = item.title;
        var preview = document.createElement("span");
        preview.textContent = item.body.length > 90 ? item.body.slice(0, 90) + "…" : item.body;
        li.appendChild(title);
        li.appendChild(preview);
        li.addEventListener("mousedown", function (event) {
          event.preventDefault(); // keep the focus in the search box
        });
        li.addEventListener("click", function () {
          choose(i);
        });
        list.appendChild(li);
      });
      none.hidden = shown.length > 0;
      move(shown.length ? 0 : -1);
    }

    function move(index) {
      var options = list.querySelectorAll("[role=option]");
      options.forEach(function (li) {
        li.setAttribute("aria-selected", "false");
      });
      active = index;
      if (index < 0 || !options[index]) {
        search.removeAttribute("aria-activedescendant");
        return;
      }
      options[index].setAttribute("aria-selected", "true");
      options[index].scrollIntoView({ block: "nearest" });
      search.setAttribute("aria-activedescendant", options[index].id);
    }

    function open(start) {
      anchor = start;
      search.value = "";
      picker.hidden = false;
      search.setAttribute("aria-expanded", "true");
      render();
      search.focus();
    }

    function close(backToText) {
      picker.hidden = true;
      search.setAttribute("aria-expanded", "false");
      search.removeAttribute("aria-activedescendant");
      if (backToText) {
        body.focus();
        if (anchor !== null) {
          body.setSelectionRange(anchor + 2, anchor + 2);
        }
      }
      anchor = null;
    }

    function choose(index) {
      var item = shown[index];
      if (!item || anchor === null) {
        return;
      }
      var start = anchor;
      var end = start + 2;
      if (body.value.slice(start, end) !== "::") {
        end = start; // the text moved under us: insert without eating anything
      }
      close(false);
      body.focus();
      body.setRangeText(item.body, start, end, "end");
      body.dispatchEvent(new Event("input", { bubbles: true }));
    }

    body.addEventListener("input", function (event) {
      if (event.inputType && event.inputType.indexOf("insert") !== 0) {
        return;
      }
      var caret = body.selectionStart;
      if (caret !== body.selectionEnd || caret < 2 || !items.length) {
        return;
      }
      var before = body.value.slice(Math.max(0, caret - 3), caret);
      // "::" typed at the start of the text or after a space or line break (not "a::b").
      if (before.slice(-2) === "::" && (caret === 2 || /\s/.test(before.charAt(0)))) {
        open(caret - 2);
      }
    });

    search.addEventListener("input", render);
    search.addEventListener("keydown", function (event) {
      if (event.key === "ArrowDown") {
        event.preventDefault();
        if (shown.length) {
          move((active + 1) % shown.length);
        }
      } else if (event.key === "ArrowUp") {
        event.preventDefault();
        if (shown.length) {
          move((active - 1 + shown.length) % shown.length);
        }
      } else if (event.key === "Enter") {
        event.preventDefault(); // never sends the reply form
        if (active >= 0) {
          choose(active);
        }
      } else if (event.key === "Escape") {
        event.preventDefault();
        event.stopPropagation();
        close(true);
      } else if (event.key === "Tab") {
        close(false);
      }
    });
    search.addEventListener("blur", function () {
      window.setTimeout(function () {
        if (document.activeElement !== search && !picker.hidden) {
          close(false);
        }
      }, 0);
    });
  }

  // ------------------------------------------------------------------ Ctrl+Enter

  function sendKeys() {
    var box = document.getElementById("reply-box");
    if (!box) {
      return;
    }
    box.addEventListener("keydown", function (event) {
      if (event.key !== "Enter" || !(event.ctrlKey || event.metaKey) || event.altKey) {
        return;
      }
      if (event.target && event.target.id === "canned-search") {
        return;
      }
      event.preventDefault();
      submit(box);
    });
  }

  // ------------------------------------------------------------------ dispatch

  ready(function () {
    var help = helpDialog();
    var pages = [listKeys(), ticketKeys()].filter(Boolean);
    cannedPicker();
    sendKeys();
    document.addEventListener("keydown", function (event) {
      if (event.defaultPrevented || event.isComposing) {
        return;
      }
      var target = event.target;
      if (event.key === "Escape" && typing(target)) {
        if (target.id !== "canned-search" && typeof target.blur === "function") {
          target.blur();
        }
        return;
      }
      if (event.ctrlKey || event.altKey || event.metaKey || typing(target)) {
        return;
      }
      if (help && help.dialog.open) {
        return; // the dialog has the keyboard until Esc or Close
      }
      if (event.key === "?") {
        if (help) {
          event.preventDefault();
          help.open();
        }
        return;
      }
      if (event.shiftKey) {
        return;
      }
      for (var i = 0; i < pages.length; i++) {
        if (pages[i].handle(event.key)) {
          event.preventDefault();
          return;
        }
      }
    });
  });
})();
