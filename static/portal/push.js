/* Browser notifications of incidents (profile page): subscribe this browser with the desk's
   VAPID key and keep the subscription on the server. Only shown where the browser can. */
(function () {
  "use strict";
  var box = document.getElementById("push");
  if (!box || !("serviceWorker" in navigator) || !("PushManager" in window)) { return; }
  var button = document.getElementById("push-toggle");
  var state = document.getElementById("push-state");
  var token = document.querySelector("input[name=csrfmiddlewaretoken]");

  function key(base64) {
    var padded = (base64 + "===".slice((base64.length + 3) % 4)).replace(/-/g, "+").replace(/_/g, "/");
    var raw = window.atob(padded);
    var out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) { out[i] = raw.charCodeAt(i); }
    return out;
  }

  function tell(method, subscription) {
    return fetch(box.getAttribute("data-url"), {
      method: method, credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": token ? token.value : "" },
      body: JSON.stringify(subscription)
    });
  }

  function show(on) {
    button.textContent = button.getAttribute(on ? "data-on" : "data-off");
    button.setAttribute("aria-pressed", on ? "true" : "false");
  }

  navigator.serviceWorker.register(box.getAttribute("data-worker")).then(function (reg) {
    box.hidden = false;
    reg.pushManager.getSubscription().then(function (current) { show(!!current); });
    button.addEventListener("click", function () {
      reg.pushManager.getSubscription().then(function (current) {
        if (current) {
          return tell("DELETE", current.toJSON()).then(function () { return current.unsubscribe(); })
            .then(function () { show(false); });
        }
        return reg.pushManager.subscribe({
          userVisibleOnly: true, applicationServerKey: key(box.getAttribute("data-key"))
        }).then(function (sub) { return tell("POST", sub.toJSON()); })
          .then(function (r) { show(r.ok); if (!r.ok) { state.textContent = r.statusText; } });
      }).catch(function (e) { state.textContent = String(e.message || e); });
    });
  }).catch(function () { /* no service worker here: the box stays hidden */ });
})();
