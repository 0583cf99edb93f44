// The first-load benchmark's GIF case: a room of 10 GIFs opened with a cold cache on emulated slow 4G, on a server
// that shows GIFs as GIFs (before) and on one that shows their videos (after). How long until every GIF of the log
// shows its first frame, and how many bytes went over the wire. Prints figures; it asserts nothing.
//
//   node end2end/bench/gif-room.mjs BEFORE_URL AFTER_URL GIF... [--runs N] [--json FILE]
//
// A video reports its first frame (`loadeddata`); an <img> of a GIF reports only its whole file (`load`), though
// the browser paints its first frame a little before: the "before" figures lean that way. scripts/first-load.sh
// --gifs DIR starts both servers and runs this with ten GIFs of DIR.
import { readFileSync, writeFileSync } from "node:fs";
import { basename } from "node:path";
import { chromium } from "@playwright/test";

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const at = args.indexOf(name);
  return at >= 0 ? args.splice(at, 2)[1] : fallback;
};
const runs = Number(option("--runs", "3"));
const jsonPath = option("--json", undefined);
const [before, after, ...gifs] = args;
const SLOW_4G = { down: 1.6e6, up: 750e3, rtt: 150 };

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--autoplay-policy=no-user-gesture-required"],
});

/** Makes a room on `base` and posts the GIFs to it through the page; with `videos`, waits until their videos are
 * made (until no more have come for 15 s: a GIF with transparent pixels, or whose video would not be smaller,
 * keeps none). */
async function roomOfGifs(base, videos) {
  const context = await browser.newContext({ baseURL: base });
  const page = await context.newPage();
  await page.goto("/");
  await page.locator("body[data-hydrated=true]").waitFor({ timeout: 120_000 });
  await page.locator("summary", { hasText: "New room" }).click();
  await page.getByLabel("Title").fill(`Ten GIFs ${Date.now()}`);
  await page.getByRole("button", { name: "Create room" }).click();
  await page.waitForURL(/\/room\/\d+$/);
  await page.locator("body[data-hydrated=true]").waitFor();
  for (const [n, file] of gifs.entries()) {
    await page.getByLabel("GIF", { exact: true }).setInputFiles({ name: basename(file), mimeType: "image/gif", buffer: readFileSync(file) });
    await page.locator(".gif-frame").nth(n).waitFor({ timeout: 120_000 });
  }
  let shown = -1;
  for (let quiet = 0; videos && quiet < 15; quiet++) {
    const now = await page.locator("video.gif").count();
    if (now !== shown) quiet = 0;
    shown = now;
    await page.waitForTimeout(1000);
  }
  const url = page.url();
  await context.close();
  return url;
}

/** Opens `url` cold on slow 4G: when every GIF of the log shows its first frame, and the bytes fetched. */
async function openCold(url) {
  // Tall enough that the whole log shows: nothing waits for a scroll (lazy pictures, paused videos).
  const context = await browser.newContext({ viewport: { width: 1280, height: 6000 } });
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send("Network.enable");
  await cdp.send("Network.emulateNetworkConditions", { offline: false, latency: SLOW_4G.rtt, downloadThroughput: SLOW_4G.down / 8, uploadThroughput: SLOW_4G.up / 8 });
  let bytes = 0;
  cdp.on("Network.loadingFinished", ({ encodedDataLength }) => (bytes += encodedDataLength));
  // Notes, on the page's own clock, when each picture or video of the log first has something to show.
  await context.addInitScript(() => {
    window.__shown = new Map();
    const note = (event) => {
      const element = event.target;
      if (element instanceof HTMLVideoElement || (element instanceof HTMLImageElement && element.classList.contains("gif"))) {
        if (!window.__shown.has(element)) window.__shown.set(element, performance.now());
      }
    };
    document.addEventListener("loadeddata", note, true);
    document.addEventListener("load", note, true);
  });
  await page.goto(url, { waitUntil: "commit" });
  const count = gifs.length;
  await page.waitForFunction((count) => {
    const shown = [...document.querySelectorAll(".gif-frame")].map((frame) => frame.querySelector("video.gif, img.gif"));
    return shown.length >= count && shown.every((element) => window.__shown.has(element) || (element instanceof HTMLImageElement && element.complete && element.naturalWidth > 0) || (element instanceof HTMLVideoElement && element.readyState >= 2));
  }, count, { timeout: 600_000, polling: 50 });
  const times = await page.evaluate(() => [...document.querySelectorAll(".gif-frame")].map((frame) => window.__shown.get(frame.querySelector("video.gif, img.gif")) ?? performance.now()));
  await context.close();
  return { all_ms: Math.max(...times), first_ms: Math.min(...times), bytes };
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)];
const results = {};
try {
  for (const [name, base, videos] of [["before (GIFs)", before, false], ["after (videos)", after, true]]) {
    const url = await roomOfGifs(base, videos);
    const samples = [];
    for (let run = 0; run < runs; run++) samples.push(await openCold(url));
    results[name] = {
      all_first_frames_ms: median(samples.map((s) => s.all_ms)),
      first_ms: median(samples.map((s) => s.first_ms)),
      bytes: median(samples.map((s) => s.bytes)),
      runs,
    };
  }
} finally {
  await browser.close();
}
console.log(`\na room of ${gifs.length} GIFs, cold cache, slow 4G (1.6 Mbit/s, 150 ms RTT), median of ${runs} runs`);
for (const [name, r] of Object.entries(results)) {
  console.log(`  ${name.padEnd(16)} every first frame in ${(r.all_first_frames_ms / 1000).toFixed(1)} s (the first in ${(r.first_ms / 1000).toFixed(1)} s), ${(r.bytes / 1e6).toFixed(2)} MB transferred`);
}
if (jsonPath) writeFileSync(jsonPath, JSON.stringify({ gifs: gifs.map((g) => basename(g)), ...results }, null, 2));
