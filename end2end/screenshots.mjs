// README's screenshots (docs/): the room list and a room, on a desktop in the light theme and on a phone in the
// dark one, with two people, a few messages and a GIF. Regenerate them after a visible change:
//
//   node end2end/screenshots.mjs [URL]        (a server running, e.g. `cargo leptos watch`; default :3000)
import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "@playwright/test";

const url = process.argv[2] ?? "http://127.0.0.1:3000/";
const docs = join(dirname(fileURLToPath(import.meta.url)), "..", "docs");
mkdirSync(docs, { recursive: true });

/**
 * An animated GIF of `side`×`side` pixels: a square of each color in turn on a light background. Written with
 * 3-bit LZW codes and a clear code every two pixels, so no compression table is needed (the server re-encodes it
 * anyway).
 */
function makeGif(side, colors) {
  const palette = [[250, 248, 240], ...colors, [0, 0, 0]].slice(0, 4).flat();
  const bytes = [...Buffer.from("GIF89a"), side & 255, side >> 8, side & 255, side >> 8, 0xf1, 0, 0, ...palette];
  bytes.push(0x21, 0xff, 11, ...Buffer.from("NETSCAPE2.0"), 3, 1, 0, 0, 0); // loop for ever
  colors.forEach((_, frame) => {
    bytes.push(0x21, 0xf9, 4, 0, 40, 0, 0, 0); // 0.4 s per frame
    bytes.push(0x2c, 0, 0, 0, 0, side & 255, side >> 8, side & 255, side >> 8, 0, 2);
    const codes = [];
    for (let i = 0; i < side * side; i++) {
      const [x, y] = [i % side, Math.floor(i / side)];
      const inside = x > side / 4 && x < (3 * side) / 4 && y > side / 4 && y < (3 * side) / 4;
      if (i % 2 === 0) codes.push(4); // clear
      codes.push(inside ? frame + 1 : 0);
    }
    codes.push(5); // end of information
    const packed = [];
    let [accumulator, bits] = [0, 0];
    for (const code of codes) {
      accumulator |= code << bits;
      bits += 3;
      while (bits >= 8) {
        packed.push(accumulator & 255);
        accumulator >>= 8;
        bits -= 8;
      }
    }
    if (bits > 0) packed.push(accumulator & 255);
    for (let at = 0; at < packed.length; at += 255) {
      const block = packed.slice(at, at + 255);
      bytes.push(block.length, ...block);
    }
    bytes.push(0);
  });
  bytes.push(0x3b);
  return Buffer.from(bytes);
}

const GIF = makeGif(160, [[91, 33, 182], [214, 80, 40]]);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu"],
});
const hydrated = (page) => page.waitForSelector("body[data-hydrated=true]");

async function person(options = {}) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, ...options });
  const page = await context.newPage();
  await page.goto(url);
  await hydrated(page);
  return page;
}

async function send(page, text) {
  const box = page.getByLabel("Message", { exact: true });
  await box.fill(text);
  await box.press("Enter");
  await page.getByText(text).last().waitFor();
}

const title = "Friday GIFs";
const alice = await person();
await alice.locator("summary", { hasText: "New room" }).click();
await alice.getByLabel("Title").fill(title);
await alice.getByRole("button", { name: "Create room" }).click();
await alice.waitForURL(/\/room\/\d+$/);
await hydrated(alice);
const room = alice.url();
const bob = await person({ viewport: { width: 390, height: 844 }, colorScheme: "dark", isMobile: true, hasTouch: true });
await bob.goto(room);
await hydrated(bob);
await send(alice, "Happy Friday! Show us your best GIF.");
await send(bob, "Here is mine, fresh from the oven:");
await bob.getByLabel("GIF", { exact: true }).setInputFiles({ name: "mine.gif", mimeType: "image/gif", buffer: GIF });
await alice.locator(".messages img").last().waitFor();
await send(alice, "Ha, lovely. Anyone else?");

await alice.screenshot({ path: join(docs, "room-desktop-light.png") });
await bob.screenshot({ path: join(docs, "room-phone-dark.png") });
await alice.goto(url);
await hydrated(alice);
await alice.screenshot({ path: join(docs, "rooms-desktop-light.png") });
await bob.goto(url);
await hydrated(bob);
await bob.screenshot({ path: join(docs, "rooms-phone-dark.png") });
await browser.close();
console.log(`screenshots written to ${docs}`);
