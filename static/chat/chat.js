/* WeldDesk chat: live messages over /ws/chat/<id>/ (see docs/chat-protocol.md).
   Without this script the chat still works as plain forms. Messages are kept until the server
   acknowledges them and resent with the same client id after a reconnect; "resume" fetches
   whatever arrived while the socket was down. Text is inserted with textContent only. */
(function () {
  "use strict";
  var root = document.getElementById("chat");
  if (!root || !window.WebSocket) { return; }
  var id = root.getAttribute("data-conversation");
  var role = root.getAttribute("data-role");
  var log = document.getElementById("chat-log");
  var form = document.getElementById("chat-form");
  var input = document.getElementById("chat-body");
  var status = document.getElementById("chat-status");
  var typing = document.getElementById("chat-typing");
  var texts = {
    sending: root.getAttribute("data-texts-sending") || "sending…",
    offline: root.getAttribute("data-texts-offline") || "Reconnecting…",
    typing: root.getAttribute("data-texts-typing") || "typing…",
    you: root.getAttribute("data-texts-you"),  // the customer's page says "You", as on reload
    scanning: root.getAttribute("data-texts-scanning") || "waiting for the virus scan",
    assistant: root.getAttribute("data-texts-assistant") || "",  // the bot's frames name no sender
    // A ticket's or shipment's link, as on reload: "View ticket %(ref)s", "Track shipment %(number)s"
    tickets: root.getAttribute("data-texts-tickets") || "%(ref)s",
    shipments: root.getAttribute("data-texts-shipments") || "%(number)s"
  };
  var url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws/chat/" + id + "/";
  var lastSeq = 0;
  var pending = {};  // client id -> {body, item}
  var socket = null;
  var delay = 1000;
  var typingSent = 0;
  var typingTimer = null;

  Array.prototype.forEach.call(log.querySelectorAll("[data-seq]"), function (li) {
    lastSeq = Math.max(lastSeq, parseInt(li.getAttribute("data-seq"), 10) || 0);
  });

  function mine(frame) {
    return role === "customer" ? frame.from_customer : (!frame.from_customer && !frame.bot);
  }

  // A path on this site only: one "/", then no backslash, space or control character (a
  // browser reads "//host", "/\\host" or "/<tab>/host" as another host). As ChatMessage.links.
  var SITE_PATH = /^\/(?![\/\\])[^\\\x00-\x20\x7f]*$/;
  // What a bot message links to, under its text (its text does not repeat them): help articles
  // for everyone; the customer's own tickets and shipments on the customer's page (portal
  // pages, not the agent's).
  var LINK_LABELS = role === "customer"
    ? { articles: "title", tickets: "reference", shipments: "tracking_number" }
    : { articles: "title" };

  function botLinks(data) {
    var found = [];
    if (!data || typeof data !== "object") { return found; }
    Object.keys(LINK_LABELS).forEach(function (kind) {
      var rows = Array.isArray(data[kind]) ? data[kind] : [];
      rows.forEach(function (row) {
        var text = row && row[LINK_LABELS[kind]];
        var url = row && row.url;
        if (typeof text === "string" && text && typeof url === "string" && SITE_PATH.test(url)) {
          var label = !texts[kind] ? text
            : texts[kind].replace(/%\((ref|number)\)s/, function () { return text; });
          found.push({ kind: kind, text: label, url: url });
        }
      });
    });
    return found;
  }

  function item(frame, cls) {
    var li = document.createElement("li");
    li.className = "chat-msg " + cls;
    var who = document.createElement("span");
    who.className = "who";
    who.textContent = frame.sender || (frame.bot ? texts.assistant : "");
    var text = document.createElement("span");
    text.className = "text";
    text.textContent = frame.body;
    li.appendChild(who);
    li.appendChild(text);
    (frame.attachments || []).forEach(function (f) {
      if (f.scan_status === "pending") {  // held for the virus scan: no link yet, as on reload
        var held = document.createElement("span");
        held.className = "file";
        held.textContent = f.name + " (" + texts.scanning + ")";
        li.appendChild(held);
        return;
      }
      var link = document.createElement("a");
      link.className = "file";
      link.href = f.url;
      if (f.image) {
        var img = document.createElement("img");
        img.src = f.url;
        img.alt = f.name;
        img.loading = "lazy";
        link.target = "_blank";
        link.rel = "noopener";
        link.appendChild(img);
      } else {
        link.textContent = f.name;
      }
      li.appendChild(link);
    });
    var links = botLinks(frame.bot_data);
    if (links.length) {
      var list = document.createElement("ul");
      list.className = "links";
      links.forEach(function (l) {
        var entry = document.createElement("li");
        var link = document.createElement("a");
        link.href = l.url;
        link.target = "_blank";
        link.rel = "noopener";
        link.setAttribute("data-kind", l.kind);
        link.textContent = l.text;
        entry.appendChild(link);
        list.appendChild(entry);
      });
      li.appendChild(list);
    }
    return li;
  }

  function scroll() { log.scrollTop = log.scrollHeight; }

  function show(frame) {
    if (frame.seq <= lastSeq && log.querySelector('[data-seq="' + frame.seq + '"]')) { return; }
    if (frame.seq > lastSeq + 1) {  // a gap: ask for what is missing, in order
      send({ type: "resume", last_seq: lastSeq });
      return;
    }
    var existing = pending[frame.client_id] && pending[frame.client_id].item;
    if (existing && frame.attachments) {  // show the stored files in place of the placeholder
      var fresh = item(frame, "mine");
      existing.parentNode.replaceChild(fresh, existing);
      existing = fresh;
    }
    var li = existing || item(frame, frame.bot ? "bot" : (mine(frame) ? "mine" : "agent"));
    li.classList.remove("pending");
    if (existing) { existing.querySelector(".who").textContent = texts.you || frame.sender || ""; }
    li.setAttribute("data-seq", frame.seq);
    li.setAttribute("data-client-id", frame.client_id);
    if (!existing) { log.appendChild(li); }
    delete pending[frame.client_id];
    lastSeq = Math.max(lastSeq, frame.seq);
    scroll();
    if (!mine(frame) && document.visibilityState === "visible") {
      send({ type: "read", seq: frame.seq });
    }
  }

  function send(frame) {
    if (socket && socket.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify(frame));
      return true;
    }
    return false;
  }

  function connect() {
    socket = new WebSocket(url);
    socket.onopen = function () {
      delay = 1000;
      status.textContent = status.getAttribute("data-online") || status.textContent;
      send({ type: "resume", last_seq: lastSeq });
      Object.keys(pending).forEach(function (clientId) {
        send({ type: "message", client_id: clientId, body: pending[clientId].body,
               attachments: pending[clientId].attachments || [] });
      });
    };
    socket.onmessage = function (event) {
      var frame;
      try { frame = JSON.parse(event.data); } catch (e) { return; }
      if (frame.type === "message") { show(frame); }
      else if (frame.type === "ack") {
        var p = pending[frame.client_id];
        if (p) { p.item.setAttribute("data-seq", frame.seq); }
      } else if (frame.type === "typing") {
        typing.hidden = !frame.typing;
        typing.textContent = texts.typing;
        window.clearTimeout(typingTimer);
        typingTimer = window.setTimeout(function () { typing.hidden = true; }, 5000);
      } else if (frame.type === "closed" || frame.type === "assigned") {
        window.location.reload();
      } else if (frame.type === "pong") {
        // The conversation moved on past what this page saw (a frame lost on the way):
        // fetch the missing messages, in order.
        if (frame.last_seq > lastSeq) { send({ type: "resume", last_seq: lastSeq }); }
      } else if (frame.type === "error") {
        status.textContent = frame.message;
        var again = frame.code === "unavailable" && pending[frame.client_id];
        if (again) {  // not stored this time: send it again shortly, with the same id
          window.setTimeout(function () {
            send({ type: "message", client_id: frame.client_id, body: again.body,
                   attachments: again.attachments || [] });
          }, 2000);
        }
      }
    };
    socket.onclose = function (event) {
      if (event.code >= 4400 && event.code < 4500) { return; }  // refused: no retry
      status.setAttribute("data-online", status.getAttribute("data-online") || status.textContent);
      status.textContent = texts.offline;
      window.setTimeout(connect, delay);
      delay = Math.min(delay * 2, 15000);
    };
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var body = input.value.trim();
    if (!body) { return; }
    var clientId = "c-" + Date.now().toString(36) + "-" + Math.random().toString(36).slice(2, 10);
    var li = item({ body: body, sender: texts.sending }, "mine pending");
    li.setAttribute("data-client-id", clientId);
    log.appendChild(li);
    scroll();
    pending[clientId] = { body: body, item: li };
    input.value = "";
    send({ type: "message", client_id: clientId, body: body });
  });

  // Files: uploaded over HTTP (the same checks as ticket attachments), then sent by id. The
  // picker itself stays hidden (a browser's own file input is wide and not restylable): the
  // paperclip button beside the message box opens it.
  var fileInput = document.getElementById("chat-file");
  var attach = document.getElementById("chat-attach");
  var uploadUrl = root.getAttribute("data-upload-url");
  if (fileInput && attach && uploadUrl && window.FormData && window.fetch) {
    attach.hidden = false;
    attach.addEventListener("click", function () { fileInput.click(); });
    fileInput.addEventListener("change", function () {
      var file = fileInput.files && fileInput.files[0];
      if (!file) { return; }
      var data = new FormData();
      data.append("file", file);
      var token = form.querySelector("input[name=csrfmiddlewaretoken]");
      fetch(uploadUrl, {
        method: "POST", body: data, credentials: "same-origin",
        headers: { "X-CSRFToken": token ? token.value : "" }
      }).then(function (r) { return r.json().then(function (j) { return { ok: r.ok, json: j }; }); })
        .then(function (result) {
          fileInput.value = "";
          if (!result.ok) {
            status.textContent = (result.json.error && result.json.error.message) || "";
            return;
          }
          var clientId = "f-" + Date.now().toString(36) + "-" + Math.random().toString(36).slice(2, 8);
          var body = input.value.trim();
          var li = item({ body: body || result.json.name, sender: texts.sending }, "mine pending");
          log.appendChild(li);
          pending[clientId] = { body: body, item: li, attachments: [result.json.id] };
          input.value = "";
          send({ type: "message", client_id: clientId, body: body, attachments: [result.json.id] });
        })
        .catch(function () { fileInput.value = ""; });
    });
  }

  input.addEventListener("input", function () {
    var now = Date.now();
    if (now - typingSent > 3000) {
      typingSent = now;
      send({ type: "typing", typing: true });
    }
  });

  var canned = document.getElementById("chat-canned");
  if (canned) {
    canned.addEventListener("change", function () {
      if (canned.value) { input.value = canned.value; input.focus(); }
      canned.value = "";
    });
  }

  window.setInterval(function () {
    send({ type: "presence", state: document.hidden ? "away" : "online" });
    send({ type: "ping" });  // the pong says the latest number: a lost frame is noticed
  }, 25000);
  connect();
})();
