/* WeldDesk agent console: keeps the agent online while a console page is open.
   Connecting makes the agent online (and waiting chats of their queues come to them); a
   heartbeat every 20 s keeps it so, "away" when the tab is hidden. */
(function () {
  "use strict";
  var badge = document.getElementById("console-presence");
  if (!badge || !window.WebSocket) { return; }
  var url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws/chat/console/";
  var delay = 1000;
  function connect() {
    var socket = new WebSocket(url);
    var beat = null;
    socket.onopen = function () {
      delay = 1000;
      beat = window.setInterval(function () {
        socket.send(JSON.stringify({ type: "presence", state: document.hidden ? "away" : "online" }));
      }, 20000);
    };
    socket.onmessage = function (event) {
      var frame;
      try { frame = JSON.parse(event.data); } catch (e) { return; }
      if (frame.type === "presence") {
        badge.textContent = badge.getAttribute("data-" + frame.state) || frame.state;
        badge.className = "presence presence-" + frame.state;
      }
    };
    socket.onclose = function (event) {
      window.clearInterval(beat);
      badge.textContent = badge.getAttribute("data-offline") || "offline";
      badge.className = "presence presence-offline";
      if (event.code >= 4400 && event.code < 4500) { return; }
      window.setTimeout(connect, delay);
      delay = Math.min(delay * 2, 15000);
    };
  }
  connect();
})();
