// A pricing page as an app would instrument it, with mixpanel-browser's api_host at
// the gateway. window.SEAWALL comes from the driver: {gateway, token, mode}.
//   mode "xhr":    batch_requests off, one XHR per call (callbacks get 1 or 0)
//   mode "batch":  the default batching queue, flushed every 100 ms over XHR
//   mode "beacon": batching with a flush far away; the driver leaves the page, and the
//                  SDK sends its event queue with navigator.sendBeacon
(function () {
  var cfg = window.SEAWALL;
  var results = (window.SEAWALL_RESULTS = []);
  function note(call) {
    return function (response) {
      results.push({ call: call, response: response });
    };
  }
  mixpanel.init(cfg.token, {
    api_host: cfg.gateway,
    debug: true,
    ignore_dnt: true,
    batch_requests: cfg.mode !== "xhr",
    batch_flush_interval_ms: cfg.mode === "beacon" ? 60000 : 100,
  });
  mixpanel.track(
    "Viewed Pricing",
    { plan: "pro", note: "questions to ada.lovelace@example.com" },
    note("track")
  );
  mixpanel.identify("user-4711");
  mixpanel.people.set(
    {
      $email: "ada.lovelace@example.com",
      $name: "Ada Lovelace",
      $city: "London",
      plan: "pro",
    },
    note("people.set")
  );
  if (cfg.mode !== "beacon") {
    window.SEAWALL_DONE = true;
    return;
  }
  // The SDK queues a batched event asynchronously (it takes a localStorage lock), so a
  // visitor leaving at once can leave the last calls behind, for the next page view to
  // send. The driver leaves once both events are in the SDK's persisted queue (or after
  // two seconds), as a visitor who stays a moment would.
  var queueKey = "__mpq_" + cfg.token + "_ev";
  var waited = 0;
  (function queued() {
    var queue = window.localStorage.getItem(queueKey) || "";
    if ((queue.indexOf("Viewed Pricing") >= 0 && queue.indexOf("$identify") >= 0) || waited >= 2000) {
      window.SEAWALL_DONE = true;
      return;
    }
    waited += 20;
    setTimeout(queued, 20);
  })();
})();
