/* WeldDesk chat, customer page and agent console: Enter sends the message, Shift+Enter starts
   a new line. Not while an input method is composing (Chinese pinyin uses Enter to commit the
   characters). The form is submitted with requestSubmit, so chat.js sends it over the socket
   when it runs and the plain form posts it when it does not. */
(function () {
  "use strict";
  var input = document.getElementById("chat-body");
  var form = document.getElementById("chat-form");
  if (!input || !form) { return; }
  var hint = document.getElementById("chat-keys");
  if (hint) { hint.hidden = false; }
  input.addEventListener("keydown", function (event) {
    if (event.key !== "Enter" || event.shiftKey || event.altKey) { return; }  // Ctrl+Enter sends too
    if (event.isComposing || event.keyCode === 229) { return; }
    event.preventDefault();
    if (!input.value.trim()) { return; }
    if (form.requestSubmit) { form.requestSubmit(); } else { form.submit(); }
  });
})();
