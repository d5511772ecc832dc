/* WeldDesk chat widget: "Chat with us" on every portal page opens the chat in a floating
   panel (the chat page in a frame, ?embed=1) instead of leaving the page. Without this script,
   on a phone or a narrow window (where the launcher is not floating), or for a new tab, the
   launcher is a plain link to the chat page. */
(function () {
  "use strict";
  var launcher = document.getElementById("chat-launcher");
  if (!launcher) { return; }
  var panel = null;

  function hide() {
    panel.hidden = true;
    launcher.setAttribute("aria-expanded", "false");
    launcher.focus();
  }

  function build() {
    panel = document.createElement("div");
    panel.className = "chat-panel";
    panel.id = "chat-panel";
    panel.setAttribute("role", "dialog");
    panel.setAttribute("aria-label", launcher.textContent.trim());
    var close = document.createElement("button");
    close.type = "button";
    close.className = "chat-panel-close";
    close.textContent = "\u00d7";
    close.setAttribute("aria-label", launcher.getAttribute("data-close") || "Close");
    close.addEventListener("click", hide);
    var frame = document.createElement("iframe");
    frame.src = launcher.getAttribute("data-embed");
    frame.title = launcher.textContent.trim();
    panel.appendChild(close);
    panel.appendChild(frame);
    panel.addEventListener("keydown", function (event) {
      if (event.key === "Escape") { hide(); }
    });
    document.body.appendChild(panel);
    launcher.setAttribute("aria-controls", panel.id);
  }

  launcher.addEventListener("click", function (event) {
    if (event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey) { return; }
    // Where the launcher is a button in the page (phones and narrow windows, portal.css), the
    // chat gets the whole page; the panel goes with the floating launcher.
    if (window.getComputedStyle(launcher).position !== "fixed") { return; }
    event.preventDefault();
    if (!panel) { build(); } else { panel.hidden = !panel.hidden; }
    launcher.setAttribute("aria-expanded", panel.hidden ? "false" : "true");
    if (!panel.hidden) { panel.querySelector("iframe").focus(); }
  });
})();
