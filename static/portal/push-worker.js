/* WeldDesk's service worker: shows incident notices pushed by the desk; a click opens the
   incident's page. The payload is JSON {title, body, url}. */
self.addEventListener("push", function (event) {
  var data = {};
  try { data = event.data ? event.data.json() : {}; } catch (e) { data = {}; }
  event.waitUntil(self.registration.showNotification(data.title || "WeldDesk", {
    body: data.body || "", data: { url: data.url || "/status/" }, tag: data.tag || "welddesk"
  }));
});
self.addEventListener("notificationclick", function (event) {
  event.notification.close();
  event.waitUntil(clients.openWindow(event.notification.data.url));
});
