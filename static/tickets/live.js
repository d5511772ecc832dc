/* The live layer of the agents' workspace (progressive: the pages work without it).
 *
 * One socket (/ws/workspace/, docs/chat-protocol.md) says which tickets changed; the page then
 * fetches what it shows over HTTP with the agent's own session and scope:
 * - the list re-fetches the rows of the changed tickets under its own query string and
 *   inserts, replaces or removes them (bursts are gathered for a moment first);
 * - the ticket page fetches new messages and its countdown, says when the ticket changed
 *   since it was opened (and warns once before sending on the old version), and shows who
 *   else is viewing or replying;
 * - SLA countdowns tick every 30 s from the data the server rendered into them.
 * A static file because the Content-Security-Policy allows no inline script. */
"use strict";
(function () {
  var TICK_MS = 30000;
  var HEARTBEAT_MS = 30000;
  var PRESENCE_TTL_MS = 75000;
  var GATHER_MS = 400;
  var IDLE_TYPING_MS = 5000;
  var MAX_ROWS = 50;
  var FINAL_CLOSE = { 4401: true, 4403: true, 4404: true, 4426: true };

  function ready(fn) {
    if (document.readyState !== "loading") {
      fn();
    } else {
      document.addEventListener("DOMContentLoaded", fn);
    }
  }

  // ------------------------------------------------------------------ countdowns

  function fill(format, values) {
    // Python's %(name)d and %(name)02d, as the server's phrases use them.
    return format.replace(/%\((\w+)\)(0?)(\d*)[ds]/g, function (all, key, zero, width) {
      var text = String(values[key]);
      while (zero && text.length < Number(width)) {
        text = "0" + text;
      }
      return text;
    });
  }

  function duration(words, seconds) {
    var minutes = Math.round(Math.abs(seconds) / 60);
    if (minutes < 60) {
      return fill(words.m, { m: minutes });
    }
    var hours = Math.floor(minutes / 60);
    minutes = minutes % 60;
    if (hours >= 100) {
      return fill(words.h, { h: hours });
    }
    return fill(words.hm, { h: hours, m: minutes });
  }

  function born(root) {
    // Note when countdowns were rendered: the page ticks from there.
    var now = Date.now();
    var spans = root.matches && root.matches("span.sla[data-left]") ? [root] : [];
    root.querySelectorAll("span.sla[data-left]").forEach(function (span) {
      spans.push(span);
    });
    spans.forEach(function (span) {
      if (!span.liveBorn) {
        span.liveBorn = now;
        span.liveOverdue = span.classList.contains("sla-overdue");
      }
    });
  }

  function tick(words) {
    var now = Date.now();
    document.querySelectorAll("span.sla[data-left]").forEach(function (span) {
      if (!span.liveBorn) {
        born(span);
        return;
      }
      var elapsed = (now - span.liveBorn) / 1000;
      var runs = span.getAttribute("data-runs");
      var ran = runs === "" ? elapsed : Math.min(elapsed, Number(runs));
      var left = Number(span.getAttribute("data-left")) - ran;
      var warnAt = span.getAttribute("data-warn");
      var state = "ok";
      if (left < 0 || span.liveOverdue) {
        state = "overdue";
      } else if (warnAt !== "" && left <= Number(warnAt)) {
        state = "warning";
      }
      var text;
      if (left < 0) {
        text = fill(words.overdue, { time: duration(words, left) });
      } else if (state === "overdue") {
        text = fill(words.breached, { time: duration(words, left) });
      } else {
        text = fill(words.left, { time: duration(words, left) });
      }
      span.classList.remove("sla-ok", "sla-warning", "sla-overdue");
      span.classList.add("sla-" + state);
      span.textContent = text;
    });
  }

  // ------------------------------------------------------------------ helpers

  function fromHtml(html, container) {
    var holder = document.createElement(container);
    holder.innerHTML = html;
    var element = holder.firstElementChild;
    born(element);
    return element;
  }

  function getJson(url) {
    return fetch(url, {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    }).then(function (response) {
      if (!response.ok) {
        throw new Error("HTTP " + response.status);
      }
      return response.json();
    });
  }

  function say(format, name) {
    return format.replace("{name}", name);
  }

  // ------------------------------------------------------------------ the list

  function List(config) {
    this.config = config;
    this.pending = {};
    this.timer = null;
  }

  List.prototype.changed = function (ids) {
    var self = this;
    ids.forEach(function (id) {
      self.pending[id] = true;
    });
    if (!this.timer) {
      this.timer = window.setTimeout(function () {
        self.timer = null;
        self.flush();
      }, GATHER_MS);
    }
  };

  List.prototype.flush = function () {
    var ids = Object.keys(this.pending);
    this.pending = {};
    for (var start = 0; start < ids.length; start += MAX_ROWS) {
      this.fetchRows(ids.slice(start, start + MAX_ROWS));
    }
  };

  List.prototype.firstPage = function () {
    var page = new URLSearchParams(window.location.search).get("p");
    return !page || page === "1";
  };

  List.prototype.fetchRows = function (ids) {
    var self = this;
    var query = ids.map(function (id) {
      return "pk=" + encodeURIComponent(id);
    });
    query.push("list=" + encodeURIComponent(window.location.search.replace(/^\?/, "")));
    getJson(this.config.rows + "?" + query.join("&")).then(function (answer) {
      self.apply(answer);
    }).catch(function () { /* the next change or a reload shows it */ });
  };

  List.prototype.apply = function (answer) {
    var table = document.getElementById("result_list");
    if (!table) {
      if (answer.rows.length && !document.querySelector("input:focus, textarea:focus, select:focus")) {
        window.location.reload(); // an empty list has no table to add to
      }
      return;
    }
    var body = table.tBodies[0];
    var firstPage = this.firstPage();
    answer.rows.forEach(function (row) {
      var fresh = fromHtml(row.html, "tbody");
      var old = body.querySelector('tr[data-ticket="' + row.pk + '"]');
      if (old) {
        var box = old.querySelector("input.action-select");
        var newBox = fresh.querySelector("input.action-select");
        if (box && newBox && box.checked) {
          newBox.checked = true;
          fresh.classList.add("selected");
        }
        fresh.classList.add("live-changed");
        old.replaceWith(fresh);
      } else if (firstPage) {
        fresh.classList.add("live-new");
        body.insertBefore(fresh, body.firstElementChild);
      }
    });
    answer.gone.forEach(function (pk) {
      var old = body.querySelector('tr[data-ticket="' + pk + '"]');
      if (old) {
        old.remove();
      }
    });
  };

  // ------------------------------------------------------------------ the ticket page

  function Ticket(config, socket) {
    this.config = config;
    this.socket = socket;
    this.id = Number(config.ticket);
    this.version = Number(config.version);
    this.stale = false;
    this.people = {};
    this.typing = false;
    this.idle = null;
    this.notice = document.getElementById("desk-live-notice");
    this.watchForms();
    this.watchTyping();
  }

  Ticket.prototype.lastMessage = function () {
    var last = 0;
    document.querySelectorAll("ol.conversation > li[id^='message-']").forEach(function (li) {
      last = Math.max(last, Number(li.id.slice(8)) || 0);
    });
    return last;
  };

  Ticket.prototype.changed = function (frame) {
    if (frame.v && frame.v > this.version) {
      this.markStale();
    }
    this.fetch();
  };

  Ticket.prototype.fetch = function () {
    var self = this;
    getJson(this.config.messages + "?after=" + this.lastMessage()).then(function (answer) {
      var list = document.querySelector("ol.conversation");
      answer.messages.forEach(function (message) {
        if (list && !document.getElementById("message-" + message.pk)) {
          var empty = list.querySelector("li:not([id])");
          if (empty) {
            empty.remove();
          }
          var item = fromHtml(message.html, "ol");
          item.classList.add("live-new");
          list.appendChild(item);
        }
      });
      var countdown = document.querySelector(".workspace-facts span.sla");
      if (countdown && answer.countdown) {
        countdown.replaceWith(fromHtml(answer.countdown, "div"));
      }
      if (answer.version > self.version) {
        self.markStale();
      }
    }).catch(function () { /* shown on the next change or a reload */ });
  };

  Ticket.prototype.markStale = function () {
    this.stale = true;
    this.render();
  };

  Ticket.prototype.watchForms = function () {
    var self = this;
    document.querySelectorAll(".workspace form[method=post]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (self.stale && !form.liveWarned) {
          // Once: the server refuses the old version anyway and shows what changed; this
          // only says so before the agent loses a moment.
          event.preventDefault();
          form.liveWarned = true;
          self.warning = true;
          self.render();
          if (self.notice) {
            self.notice.scrollIntoView({ block: "nearest" });
          }
        }
      });
    });
  };

  Ticket.prototype.watchTyping = function () {
    var self = this;
    var body = document.querySelector("#reply-box textarea[name=body]");
    if (!body) {
      return;
    }
    body.addEventListener("input", function () {
      if (!self.typing) {
        self.typing = true;
        self.socket.send({ type: "typing", typing: true });
      }
      window.clearTimeout(self.idle);
      self.idle = window.setTimeout(function () {
        self.typing = false;
        self.socket.send({ type: "typing", typing: false });
      }, IDLE_TYPING_MS);
    });
  };

  Ticket.prototype.presence = function (frame) {
    if (frame.ticket !== this.id) {
      return;
    }
    if (frame.state === "left") {
      delete this.people[frame.user];
    } else {
      this.people[frame.user] = { name: frame.name, state: frame.state, at: Date.now() };
    }
    this.render();
  };

  Ticket.prototype.expire = function () {
    var now = Date.now();
    var people = this.people;
    var changed = false;
    Object.keys(people).forEach(function (user) {
      if (now - people[user].at > PRESENCE_TTL_MS) {
        delete people[user];
        changed = true;
      }
    });
    if (changed) {
      this.render();
    }
  };

  Ticket.prototype.render = function () {
    var config = this.config;
    var lines = [];
    var people = this.people;
    Object.keys(people).sort().forEach(function (user) {
      var person = people[user];
      lines.push({
        text: say(person.state === "replying" ? config.replying : config.viewing, person.name),
        kind: "live-presence",
      });
    });
    if (this.warning) {
      lines.push({ text: config.warn, kind: "live-stale" });
    } else if (this.stale) {
      lines.push({ text: config.changed, kind: "live-stale" });
    }
    renderNotice(this.notice, lines);
  };

  function renderNotice(notice, lines) {
    if (!notice) {
      return;
    }
    notice.textContent = "";
    lines.forEach(function (line) {
      var p = document.createElement("p");
      p.className = line.kind;
      p.textContent = line.text;
      notice.appendChild(p);
    });
    notice.hidden = lines.length === 0;
  }

  // ------------------------------------------------------------------ the socket

  function Socket(config, onFrame, onOpen) {
    this.config = config;
    this.onFrame = onFrame;
    this.onOpen = onOpen;
    this.delay = 1000;
    this.opened = false;
    this.connect();
  }

  Socket.prototype.connect = function () {
    var self = this;
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    var ws = new WebSocket(scheme + window.location.host + this.config.socket);
    this.ws = ws;
    ws.addEventListener("open", function () {
      self.delay = 1000;
      self.onOpen(self.opened);
      self.opened = true;
    });
    ws.addEventListener("message", function (event) {
      var frame;
      try {
        frame = JSON.parse(event.data);
      } catch (e) {
        return;
      }
      self.onFrame(frame);
    });
    ws.addEventListener("close", function (event) {
      if (FINAL_CLOSE[event.code]) {
        renderNotice(document.getElementById("desk-live-notice"), [
          { text: self.config.offline, kind: "live-stale" },
        ]);
        return;
      }
      window.setTimeout(function () {
        self.connect();
      }, self.delay);
      self.delay = Math.min(self.delay * 2, 30000);
    });
  };

  Socket.prototype.send = function (frame) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify(frame));
    }
  };

  // ------------------------------------------------------------------ start

  ready(function () {
    var element = document.getElementById("desk-live");
    if (!element) {
      return;
    }
    var config = {
      socket: element.getAttribute("data-socket"),
      rows: element.getAttribute("data-rows"),
      ticket: element.getAttribute("data-ticket"),
      version: element.getAttribute("data-version"),
      messages: element.getAttribute("data-messages"),
      viewing: element.getAttribute("data-viewing"),
      replying: element.getAttribute("data-replying"),
      changed: element.getAttribute("data-changed"),
      warn: element.getAttribute("data-warn"),
      offline: element.getAttribute("data-offline"),
    };
    var words = JSON.parse(element.getAttribute("data-words") || "{}");
    tick(words); // notes when each countdown was rendered
    window.setInterval(function () {
      tick(words);
    }, TICK_MS);
    if (!window.WebSocket || !window.fetch) {
      return;
    }
    var list = config.ticket ? null : new List(config);
    var ticket = null;
    var socket = new Socket(
      config,
      function (frame) {
        if (frame.type === "tickets") {
          if (list) {
            list.changed(frame.ids);
          } else if (ticket && frame.ids.indexOf(ticket.id) !== -1) {
            ticket.changed(frame);
          }
        } else if (frame.type === "presence" && ticket) {
          ticket.presence(frame);
        }
      },
      function (reconnected) {
        if (ticket) {
          socket.send({ type: "watch", ticket: ticket.id });
          if (reconnected) {
            ticket.fetch(); // what happened while the socket was away
          }
        }
      }
    );
    if (config.ticket) {
      ticket = new Ticket(config, socket);
    }
    window.setInterval(function () {
      if (ticket) {
        socket.send({ type: "watch", ticket: ticket.id }); // repeats presence
        ticket.expire();
      } else {
        socket.send({ type: "ping" });
      }
    }, HEARTBEAT_MS);
  });
})();
