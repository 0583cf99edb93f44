// First load in Chromium on emulated networks: how long until the room list shows (first contentful paint) and
// until it is interactive (the app's `data-hydrated` marker), with a cold cache and with a warm one, and how
// many bytes went over the wire. Prints figures; it asserts nothing (a benchmark, not a test).
//
//   node end2end/bench/first-load.mjs [URL] [--runs N] [--json FILE]
//
// scripts/first-load.sh builds the release site, starts a server and runs this against it.
import { writeFileSync } from "node:fs";
import { chromium } from "@playwright/test";

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const at = args.indexOf(name);
  return at >= 0 ? args.splice(at, 2)[1] : fallback;
};
const runs = Number(option("--runs", "5"));
const jsonPath = option("--json", undefined);
const url = args[0] ?? "http://127.0.0.1:3000/";

// Chrome DevTools' own presets use the same shape: throughput in bytes/s, latency as the round trip in ms.
const PROFILES = [
  { name: "slow 4G (1.6 Mbit/s down, 750 kbit/s up, 150 ms RTT)", down: 1.6e6, up: 750e3, rtt: 150 },
  { name: "20 Mbit/s line (5 Mbit/s up, 40 ms RTT)", down: 20e6, up: 5e6, rtt: 40 },
];

// Runs before any of the page's scripts: notes when the body gets `data-hydrated`, on the page's own clock
// (milliseconds since the navigation started), so the figure does not depend on how often we poll.
function watchHydration() {
  new MutationObserver((_, observer) => {
    if (document.body?.dataset.hydrated === "true") {
      window.__hydratedAt = performance.now();
      observer.disconnect();
    }
  }).observe(document, { subtree: true, attributes: true, attributeFilter: ["data-hydrated"] });
}

async function measure(page, cdp) {
  const transfers = new Map();
  const onResponse = ({ requestId, response }) =>
    transfers.set(requestId, { url: response.url, encoding: response.headers["content-encoding"] ?? response.headers["Content-Encoding"], fromCache: response.fromDiskCache || response.fromMemoryCache, bytes: 0 });
  const onFinished = ({ requestId, encodedDataLength }) => {
    const transfer = transfers.get(requestId);
    if (transfer) transfer.bytes = encodedDataLength;
  };
  cdp.on("Network.responseReceived", onResponse);
  cdp.on("Network.loadingFinished", onFinished);
  await page.goto(url, { waitUntil: "commit" });
  await page.waitForFunction(() => window.__hydratedAt !== undefined, undefined, { timeout: 120_000 });
  const timing = await page.evaluate(() => ({
    hydrated: window.__hydratedAt,
    paint: performance.getEntriesByName("first-contentful-paint")[0]?.startTime ?? NaN,
  }));
  cdp.off("Network.responseReceived", onResponse);
  cdp.off("Network.loadingFinished", onFinished);
  const resources = [...transfers.values()].map(({ url: u, ...rest }) => ({ path: new URL(u).pathname, ...rest }));
  return { ...timing, bytes: resources.reduce((sum, r) => sum + r.bytes, 0), resources };
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)];
};

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const results = [];
try {
  for (const profile of PROFILES) {
    const cold = [];
    const warm = [];
    for (let run = 0; run < runs; run++) {
      // A new context is a new profile: an empty cache, no cookies.
      const context = await browser.newContext();
      await context.addInitScript(watchHydration);
      const page = await context.newPage();
      const cdp = await context.newCDPSession(page);
      await cdp.send("Network.enable");
      await cdp.send("Network.emulateNetworkConditions", {
        offline: false,
        latency: profile.rtt,
        downloadThroughput: profile.down / 8,
        uploadThroughput: profile.up / 8,
      });
      cold.push(await measure(page, cdp));
      // The same browser comes back later: a new navigation with the cache the first one filled.
      warm.push(await measure(page, cdp));
      await context.close();
    }
    const summary = (samples) => ({
      paint_ms: median(samples.map((s) => s.paint)),
      interactive_ms: median(samples.map((s) => s.hydrated)),
      bytes: median(samples.map((s) => s.bytes)),
      resources: samples[0].resources,
    });
    results.push({ profile: profile.name, runs, cold: summary(cold), warm: summary(warm) });
  }
} finally {
  await browser.close();
}

const kb = (bytes) => `${(bytes / 1000).toFixed(0)} KB`;
const ms = (value) => `${(value / 1000).toFixed(2)} s`;
console.log(`\nfirst load of ${url}, median of ${runs} runs each`);
for (const { profile, cold, warm } of results) {
  console.log(`\n${profile}`);
  console.log(`  cold cache: shows in ${ms(cold.paint_ms)}, interactive in ${ms(cold.interactive_ms)}, ${kb(cold.bytes)} transferred`);
  console.log(`  warm cache: shows in ${ms(warm.paint_ms)}, interactive in ${ms(warm.interactive_ms)}, ${kb(warm.bytes)} transferred`);
}
console.log("\nwhat a cold load fetched (first run):");
for (const resource of results[0].cold.resources) {
  console.log(`  ${resource.path.padEnd(48)} ${kb(resource.bytes).padStart(8)}  ${resource.encoding ?? "identity"}`);
}
if (jsonPath) writeFileSync(jsonPath, JSON.stringify(results, null, 2));
