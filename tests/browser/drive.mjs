// Opens one test page in Debian's headless Chromium and reports what the browser saw.
//
//   node drive.mjs '{"url": "...", "hosts": [...], "init": {...}, "leave": false, "timeoutMs": 20000}'
//
// `hosts` are names Chromium resolves to 127.0.0.1 (no DNS is asked), so the page and
// the gateway can have real domain names, as in production, on local servers.
// `init` becomes `window.SEAWALL` before any page script runs (the gateway URL, the
// token, the delivery mode). The page sets `window.SEAWALL_DONE = true` once it has made
// its SDK calls. With `leave`, the driver then navigates away, so an SDK that flushes
// on pagehide/visibilitychange sends its queue as beacons.
//
// The driver does not guess when delivery is over: it keeps the browser open until its
// stdin closes (the Python test closes it once the vendor sink holds what it waits for,
// or gives up), then prints one JSON report on stdout: console messages, page errors,
// every request the page made, failed requests, the page's `SEAWALL_RESULTS` and its
// cookies. Never downloads a browser: CHROMIUM (default /usr/bin/chromium) is used.
import { chromium } from "playwright-core";

const FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

const job = JSON.parse(process.argv[2]);
const timeoutMs = job.timeoutMs ?? 20000;
const started = Date.now();
const report = {
  timings: {},
  console: [],
  pageErrors: [],
  requests: [],
  failed: [],
  results: null,
  done: false,
  cookies: [],
};

function stdinClosed() {
  return new Promise((resolve) => {
    process.stdin.on("data", () => {});
    process.stdin.on("end", resolve);
    process.stdin.on("close", resolve);
    process.stdin.resume();
  });
}

const released = stdinClosed();
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: [
    ...FLAGS,
    `--host-resolver-rules=${(job.hosts ?? []).map((h) => `MAP ${h} 127.0.0.1`).join(", ")}`,
  ],
  timeout: timeoutMs,
});
try {
  report.timings.launched = Date.now() - started;
  const context = await browser.newContext();
  await context.addInitScript((init) => {
    window.SEAWALL = init;
  }, job.init ?? {});
  const page = await context.newPage();
  page.on("console", (msg) => report.console.push({ type: msg.type(), text: msg.text() }));
  page.on("pageerror", (err) => report.pageErrors.push(String(err)));
  context.on("request", (req) =>
    report.requests.push({
      method: req.method(),
      url: req.url(),
      type: req.resourceType(),
      at: Date.now() - started,
    }),
  );
  context.on("requestfailed", (req) =>
    report.failed.push({ url: req.url(), error: req.failure()?.errorText ?? "" }),
  );

  await page.goto(job.url, { waitUntil: "load", timeout: timeoutMs });
  report.timings.loaded = Date.now() - started;
  await page.waitForFunction(() => window.SEAWALL_DONE === true, null, { timeout: timeoutMs });
  report.done = true;
  report.timings.done = Date.now() - started;
  report.results = await page.evaluate(() => window.SEAWALL_RESULTS ?? null);
  report.cookies = await context.cookies();
  if (job.leave) {
    await page.goto("about:blank");
  }
  let timer;
  await Promise.race([released, new Promise((r) => (timer = setTimeout(r, timeoutMs)))]);
  clearTimeout(timer);
  if (!job.leave) {
    report.results = await page.evaluate(() => window.SEAWALL_RESULTS ?? null);
  }
} catch (err) {
  report.pageErrors.push(`driver: ${err}`);
} finally {
  await browser.close();
}
// Exit at once: nothing of the browser's may keep the test waiting.
process.stdout.write(JSON.stringify(report) + "\n", () => process.exit(0));
