// analytics.js (@segment/analytics-next) with its Segment.io destination at the gateway.
// window.SEAWALL comes from the driver: {gateway, writeKey}. The CDN settings are given
// inline, so nothing is fetched from cdn.segment.com; metrics are off (they would post
// to <apiHost>/m).
(async function () {
  var cfg = window.SEAWALL;
  var gateway = new URL(cfg.gateway);
  var segmentio = { apiKey: cfg.writeKey, apiHost: gateway.host + "/v1", protocol: "http" };
  var results = (window.SEAWALL_RESULTS = []);
  try {
    var loaded = await AnalyticsNext.AnalyticsBrowser.load(
      {
        writeKey: cfg.writeKey,
        cdnURL: location.origin,
        cdnSettings: { integrations: { "Segment.io": segmentio }, metrics: { sampleRate: 0 } },
      },
      { integrations: { "Segment.io": segmentio }, retryQueue: false }
    );
    var analytics = loaded[0];
    var identified = await analytics.identify("user-4711", {
      email: "ada.lovelace@example.com",
      name: "Ada Lovelace",
      plan: "pro",
    });
    results.push({ call: "identify", failed: identified.failedDelivery() || null });
    var tracked = await analytics.track("Upgraded", {
      plan: "pro",
      revenue: 20,
      email: "ada.lovelace@example.com",
    });
    results.push({ call: "track", failed: tracked.failedDelivery() || null });
  } catch (err) {
    console.error("analytics.js test page: " + err);
  }
  window.SEAWALL_DONE = true;
})();
