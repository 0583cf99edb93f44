import AxeBuilder from "@axe-core/playwright";
import { type Page } from "@playwright/test";
import { CLIP_GIF, Person, TINY_GIF, expect, test, uniqueTitle } from "./fixtures";

// Pleasant for everyone (issue 14): dark mode, phones, the tab's title, an accessibility audit, the keyboard.

/** axe-core's serious and critical findings on the page as it is now (WCAG 2.x A and AA rules). */
async function seriousViolations(page: Page) {
  const results = await new AxeBuilder({ page }).withTags(["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]).analyze();
  return results.violations
    .filter((violation) => violation.impact === "serious" || violation.impact === "critical")
    .map((violation) => `${violation.id}: ${violation.nodes.map((node) => node.target.join(" ")).join(", ")}`);
}

/** The background color `<body>` is drawn with. */
function pageBackground(page: Page) {
  return page.evaluate(() => getComputedStyle(document.documentElement).backgroundColor);
}

test("the pages follow the system's dark mode", async ({ browser }) => {
  const alice = await Person.enter(browser);
  expect(await pageBackground(alice.page)).toBe("rgb(251, 250, 248)");
  await alice.page.emulateMedia({ colorScheme: "dark" });
  expect(await pageBackground(alice.page)).toBe("rgb(19, 17, 23)");
  // An identity color is drawn light on the dark theme (Oklch lightness 0.78), dark on the light one.
  const nameLightness = () =>
    alice.page.locator(".you .person").first().evaluate((element) => {
      const color = getComputedStyle(element).color;
      const numbers = color.match(/[\d.]+/g)!.map(Number);
      if (color.startsWith("oklch(")) return numbers[0];
      return (Math.max(...numbers.slice(0, 3)) + Math.min(...numbers.slice(0, 3))) / 2 / 255;
    });
  expect(await nameLightness()).toBeGreaterThan(0.5);
  await alice.page.emulateMedia({ colorScheme: "light" });
  expect(await nameLightness()).toBeLessThan(0.5);
});

test("on a phone the conversation owns the screen and who is here is a tap away", async ({ browser }) => {
  const title = uniqueTitle("Phone talk with a title long enough to be shortened");
  const alice = await Person.enter(browser);
  await alice.createRoom(title);
  const roomUrl = alice.page.url();

  const context = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  const bob = new Person(context, await context.newPage());
  await bob.page.goto(roomUrl);
  await bob.expectInRoom(title);
  const panel = bob.page.getByRole("complementary", { name: /Here now/ });
  // Folded to one line that still counts who is here; the conversation and the composer are on screen.
  await expect(panel.getByRole("heading", { name: "Here now (2)" })).toBeVisible();
  await expect(panel.getByRole("list")).toBeHidden();
  await expect(bob.messages()).toBeInViewport();
  await expect(bob.page.getByLabel("Message", { exact: true })).toBeInViewport();
  const panelHeight = await panel.evaluate((element) => element.getBoundingClientRect().height);
  expect(panelHeight).toBeLessThan(60);
  // The header is one line, its title shortened (whole in its tooltip), the identity in the menu.
  const header = bob.page.locator(".chat-header");
  expect((await header.boundingBox())!.height).toBeLessThan(48);
  await expect(header.getByRole("heading", { level: 1 })).toHaveAttribute("title", title);
  await expect(header.locator(".you")).toBeHidden();
  await header.locator("summary", { hasText: "Room menu" }).tap();
  await expect(header.locator(".menu-you")).toBeVisible();
  await header.locator("summary", { hasText: "Room menu" }).tap();
  // The conversation gets at least 65% of the screen.
  const logHeight = (await bob.page.locator(".log-wrap").boundingBox())!.height;
  console.log(`phone 390×844: the conversation is ${logHeight.toFixed(0)} px, ${((logHeight / 844) * 100).toFixed(1)}% of the screen`);
  expect(logHeight / 844).toBeGreaterThanOrEqual(0.65);
  // One tap unfolds it.
  const disclosure = panel.getByRole("button", { name: "Here now (2)" });
  await expect(disclosure).toHaveAttribute("aria-expanded", "false");
  await disclosure.tap();
  await expect(disclosure).toHaveAttribute("aria-expanded", "true");
  await expect(panel.getByRole("list")).toBeVisible();
  await expect(panel.getByRole("button", { name: /Whisper to/ })).toBeVisible();
  // Nothing is wider than the screen.
  await bob.send("a message long enough to wrap on a narrow phone screen, without making anything scroll sideways");
  await bob.send(`https://example.com/${"a-very-long-unbroken-path-segment".repeat(4)}`);
  const overflow = await bob.page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  expect(overflow).toBeLessThanOrEqual(0);
});

test("the New room pop-up closes on Escape and on a press outside, and on a phone opens below the header", async ({ browser }) => {
  const alice = await Person.enter(browser);
  const page = alice.page;
  await alice.waitForHydration();
  const summary = page.locator("summary", { hasText: "New room" });
  const form = page.getByRole("region", { name: "Create a room" });
  await summary.click();
  await expect(form).toBeVisible();
  await page.getByLabel("Title").focus();
  await page.keyboard.press("Escape");
  await expect(form).toBeHidden();
  await expect(summary).toBeFocused();
  await summary.click();
  await expect(form).toBeVisible();
  // A press inside keeps it open; one outside closes it.
  await page.getByLabel("Title").click();
  await expect(form).toBeVisible();
  await page.getByRole("heading", { name: "gif-chat" }).click();
  await expect(form).toBeHidden();

  const context = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  const phone = new Person(context, await context.newPage());
  await phone.openRoomList();
  await phone.waitForHydration();
  await phone.page.locator("summary", { hasText: "New room" }).tap();
  const opened = phone.page.getByRole("region", { name: "Create a room" });
  await expect(opened).toBeVisible();
  const you = (await phone.page.locator(".page-header .you").boundingBox())!;
  const box = (await opened.boundingBox())!;
  expect(box.y, "the form starts below the identity line").toBeGreaterThanOrEqual(you.y + you.height);
  expect(box.x).toBeGreaterThanOrEqual(0);
  expect(box.x + box.width).toBeLessThanOrEqual(390);
  await phone.close();
});

test("while the tab is hidden its title counts new messages, until the person is back", async ({ browser }) => {
  const title = uniqueTitle("Tab");
  const alice = await Person.enter(browser);
  await alice.createRoom(title);
  const bob = await Person.enter(browser);
  await bob.roomLink(title).click();
  await bob.expectInRoom(title);
  await expect(alice.page).toHaveTitle(`${title} · gif-chat`);

  // Alice switches to another tab (the page's visibility as the browser reports it, then its event).
  const setHidden = (hidden: boolean) =>
    alice.page.evaluate((hidden) => {
      Object.defineProperty(document, "hidden", { configurable: true, get: () => hidden });
      Object.defineProperty(document, "visibilityState", { configurable: true, get: () => (hidden ? "hidden" : "visible") });
      document.dispatchEvent(new Event("visibilitychange", { bubbles: true }));
    }, hidden);
  await setHidden(true);
  for (const text of ["one", "two", "three"]) await bob.send(text);
  await expect(alice.messages().getByText("three")).toBeAttached();
  await expect(alice.page).toHaveTitle(`(3) ${title} · gif-chat`);
  await setHidden(false);
  await expect(alice.page).toHaveTitle(`${title} · gif-chat`);
  // Her own messages never count (sent from another tab of hers while this one is hidden); others' do.
  await setHidden(true);
  const otherTab = await alice.context.newPage();
  await otherTab.goto(alice.page.url());
  await new Person(alice.context, otherTab).expectInRoom(title);
  await new Person(alice.context, otherTab).send("mine");
  await expect(alice.messages().getByText("mine")).toBeAttached();
  await bob.send("four");
  await expect(alice.messages().getByText("four")).toBeAttached();
  await expect(alice.page).toHaveTitle(`(1) ${title} · gif-chat`);
});

test("under reduced motion a GIF shows its still first frame and plays on request", async ({ browser }) => {
  const title = uniqueTitle("Still");
  const context = await browser.newContext({ reducedMotion: "reduce" });
  const alice = new Person(context, await context.newPage());
  await alice.openRoomList();
  await alice.createRoom(title);
  await alice.page.getByLabel("GIF", { exact: true }).setInputFiles({ name: "tiny.gif", mimeType: "image/gif", buffer: TINY_GIF });
  const gif = alice.messages().locator("img.gif");
  // The picture shown, once it has loaded (a still that failed to load has no width).
  const shown = () =>
    gif.evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth > 0 && new URL(img.currentSrc).pathname);
  await expect.poll(shown).toMatch(/^\/gif\/[0-9a-f]{32}\.still\.gif$/);
  // The control says what it does (Play, then Pause), reached and pressed with the keyboard.
  const play = alice.messages().locator(".gif-play");
  await expect(play).toHaveText("Play");
  await expect(play).toHaveAccessibleName(/^Play GIF from /);
  await play.press("Enter");
  await expect(play).toHaveText("Pause");
  await expect(play).toHaveAccessibleName(/^Pause GIF from /);
  await expect.poll(shown).toMatch(/^\/gif\/[0-9a-f]{32}\.gif$/);
  await play.press("Space");
  await expect(play).toHaveText("Play");
  await expect.poll(shown).toMatch(/\.still\.gif$/);
  // The page as the server renders it picks the still too (before the WASM takes over).
  await alice.page.reload();
  await expect.poll(shown).toMatch(/\.still\.gif$/);
  await alice.waitForHydration();
  // Without the preference, GIFs play and there is nothing to press.
  await alice.page.emulateMedia({ reducedMotion: "no-preference" });
  await expect(play).toBeHidden();
  await expect.poll(shown).toMatch(/^\/gif\/[0-9a-f]{32}\.gif$/);
});

test("a GIF plays as a looping video once the server made one, and under reduced motion shows its still until Play", async ({ browser }) => {
  const title = uniqueTitle("Clip");
  const alice = await Person.enter(browser);
  await alice.createRoom(title);
  await alice.page.getByLabel("GIF", { exact: true }).setInputFiles({ name: "clip.gif", mimeType: "image/gif", buffer: CLIP_GIF });
  // Shown as the GIF at once (unless this server made its video already), then switched to its video (a live
  // change), which plays, muted and looping.
  await expect(alice.messages().locator(".gif-frame")).toBeVisible();
  const video = alice.messages().locator("video.gif");
  await expect(video).toBeVisible({ timeout: 15_000 });
  await expect(video).toHaveAttribute("poster", /^\/gif\/[0-9a-f]{32}\.still\.gif$/);
  await expect(video).toHaveAccessibleName(/^GIF from /);
  const state = () =>
    video.evaluate((v: HTMLVideoElement) => ({
      src: new URL(v.currentSrc || "http://x/").pathname,
      playing: !v.paused && v.currentTime > 0,
      muted: v.muted,
      loop: v.loop,
    }));
  await expect.poll(state).toEqual({ src: expect.stringMatching(/^\/gif\/[0-9a-f]{32}\.mp4$/), playing: true, muted: true, loop: true });

  // Someone who asked for reduced motion sees the still (nothing of the video is fetched) until they press Play.
  const context = await browser.newContext({ reducedMotion: "reduce" });
  const bob = new Person(context, await context.newPage());
  const videoRequests: string[] = [];
  bob.page.on("request", (request) => {
    if (request.url().endsWith(".mp4")) videoRequests.push(request.url());
  });
  await bob.openRoomList();
  await bob.roomLink(title).click();
  await bob.expectInRoom(title);
  await bob.waitForHydration();
  const bobs = bob.messages().locator("video.gif");
  await expect(bobs).toBeVisible();
  // Nothing loaded (the poster, the still, shows), nothing playing.
  const bobState = () => bobs.evaluate((v: HTMLVideoElement) => ({ loaded: v.readyState, playing: !v.paused }));
  await expect.poll(bobState).toEqual({ loaded: 0, playing: false });
  expect(videoRequests).toEqual([]);
  const play = bob.messages().locator(".gif-play");
  await play.press("Enter");
  await expect(play).toHaveText("Pause");
  await expect.poll(async () => (await bobState()).playing).toBe(true);
  expect(videoRequests.length).toBeGreaterThan(0);
  await play.press("Enter");
  await expect(play).toHaveText("Play");
  await expect.poll(bobState).toEqual({ loaded: 0, playing: false });
});

test("axe finds no serious or critical violations, light and dark, wide and narrow", async ({ browser }) => {
  const title = uniqueTitle("Audited");
  const owner = await Person.enter(browser);
  await owner.createRoom(title, { password: "audited secret" });
  await owner.send("a message for the audit");
  await owner.page.getByLabel("GIF", { exact: true }).setInputFiles({ name: "tiny.gif", mimeType: "image/gif", buffer: TINY_GIF });
  await expect(owner.messages().locator("img")).toBeVisible();
  // A GIF shown as its video too.
  await owner.page.getByLabel("GIF", { exact: true }).setInputFiles({ name: "clip.gif", mimeType: "image/gif", buffer: CLIP_GIF });
  await expect(owner.messages().locator("video.gif")).toBeVisible({ timeout: 15_000 });
  // What people do with messages is audited too: reactions, a reply's quote, an edited message, a tombstone.
  const audited = owner.messages().locator(".message", { hasText: "a message for the audit" }).first();
  await audited.hover();
  await audited.getByRole("button", { name: "React" }).click();
  await audited.getByRole("button", { name: "🎉", exact: true }).click();
  await expect(audited.getByRole("button", { name: "🎉 1" })).toBeVisible();
  await audited.getByRole("button", { name: "Reply" }).click();
  await owner.send("a reply for the audit");
  await owner.send("to be edited");
  const edited = owner.messages().locator(".message", { hasText: "to be edited" });
  await edited.hover();
  await edited.getByRole("button", { name: "Edit" }).click();
  await owner.page.getByLabel("Edit message").fill("edited for the audit");
  await owner.page.getByLabel("Edit message").press("Enter");
  await owner.send("to be unsent");
  const unsent = owner.messages().locator(".message", { hasText: "to be unsent" });
  await unsent.hover();
  await unsent.getByRole("button", { name: "Delete", exact: true }).click();
  await owner.page.getByRole("button", { name: "Delete for everyone" }).click();
  await expect(owner.messages().locator(".body.tombstone")).toHaveText("Message deleted");
  const roomUrl = owner.page.url();

  for (const viewport of [{ width: 1280, height: 800 }, { width: 390, height: 844 }]) {
    for (const colorScheme of ["light", "dark"] as const) {
      const context = await browser.newContext({ viewport, colorScheme });
      const visitor = new Person(context, await context.newPage());
      const where = `${viewport.width}px ${colorScheme}`;
      await visitor.openRoomList();
      expect(await seriousViolations(visitor.page), `room list, ${where}`).toEqual([]);
      await visitor.page.locator("summary", { hasText: "New room" }).click();
      await expect(visitor.page.getByLabel("Title")).toBeVisible();
      expect(await seriousViolations(visitor.page), `create form, ${where}`).toEqual([]);
      await visitor.page.getByRole("button", { name: "Alarms", exact: true }).click();
      await expect(visitor.page.getByRole("region", { name: "Alarms" })).toBeVisible();
      expect(await seriousViolations(visitor.page), `alarms panel, ${where}`).toEqual([]);
      await visitor.page.goto("/alarms");
      await visitor.waitForHydration();
      expect(await seriousViolations(visitor.page), `alarms page, ${where}`).toEqual([]);
      await visitor.page.goto(roomUrl);
      await expect(visitor.page.getByLabel("Password")).toBeVisible();
      await visitor.waitForHydration();
      expect(await seriousViolations(visitor.page), `password gate, ${where}`).toEqual([]);
      await visitor.page.goto("/room/999999999");
      await expect(visitor.page.getByRole("heading", { name: "Room not found" })).toBeVisible();
      expect(await seriousViolations(visitor.page), `not found, ${where}`).toEqual([]);
      await context.close();

      await owner.page.setViewportSize(viewport);
      await owner.page.emulateMedia({ colorScheme });
      expect(await seriousViolations(owner.page), `a room, ${where}`).toEqual([]);
      // A message's reaction choices open, another's edit box, and a reply on its way.
      const reply = owner.messages().locator(".message", { hasText: "a reply for the audit" });
      await reply.hover();
      await reply.getByRole("button", { name: "React" }).click();
      await expect(reply.getByRole("group", { name: "Reactions to choose from" })).toBeVisible();
      const fixed = owner.messages().locator(".message", { hasText: "edited for the audit" });
      await fixed.hover();
      await fixed.getByRole("button", { name: "Edit" }).click();
      await reply.getByRole("button", { name: "Reply" }).click();
      await expect(owner.page.getByRole("button", { name: "Cancel reply" })).toBeVisible();
      expect(await seriousViolations(owner.page), `a room's message actions, ${where}`).toEqual([]);
      await owner.page.getByRole("button", { name: "Cancel reply" }).click();
      await owner.page.locator(".edit-box").getByRole("button", { name: "Cancel" }).click();
      await reply.getByRole("button", { name: "React" }).click();
      // The GIF picker open, on its shelf of this room's GIFs.
      await owner.page.getByRole("button", { name: "Choose a GIF" }).click();
      const picker = owner.page.getByRole("dialog", { name: "Choose a GIF" });
      await expect(picker.getByRole("button", { name: /^Post GIF/ }).first()).toBeVisible();
      expect(await seriousViolations(owner.page), `the GIF picker, ${where}`).toEqual([]);
      await owner.page.keyboard.press("Escape");
      await expect(picker).toBeHidden();
      // The owner's menu open, and (the panel unfolded) the list of people they removed.
      const menu = owner.page.locator("summary", { hasText: "Room menu" });
      await menu.click();
      await expect(owner.page.getByRole("button", { name: "Delete room…" })).toBeVisible();
      expect(await seriousViolations(owner.page), `a room's menu, ${where}`).toEqual([]);
      await menu.click();
      const disclosure = owner.page.getByRole("button", { name: /^Here now/ });
      if ((await disclosure.getAttribute("aria-expanded")) === "false") await disclosure.click();
      const removed = owner.page.getByRole("button", { name: "Removed" });
      if ((await removed.getAttribute("aria-expanded")) === "false") await removed.click();
      await expect(owner.page.getByText("Nobody. Whoever you remove is listed here")).toBeVisible();
      expect(await seriousViolations(owner.page), `a room's removed list, ${where}`).toEqual([]);
    }
  }
});

test("with the keyboard alone a person creates a room, talks, sends a GIF, whispers and leaves", async ({ browser }) => {
  const title = uniqueTitle("Keys");
  const alice = await Person.enter(browser);
  const page = alice.page;

  /** Presses Tab until the focused element is `name`d so (an accessible name or label); its focus is visible. */
  async function tabTo(name: RegExp) {
    for (let presses = 0; presses < 60; presses++) {
      if (presses > 0 || (await page.evaluate(() => document.activeElement === document.body))) {
        await page.keyboard.press("Tab");
      }
      const focused = await page.evaluate(() => {
        const element = document.activeElement as HTMLElement | null;
        if (!element) return { name: "", visible: false };
        const labelled = element.id ? document.querySelector(`label[for="${element.id}"]`)?.textContent : null;
        const name = element.getAttribute("aria-label") ?? labelled ?? element.textContent ?? "";
        // A visually hidden input shows its focus on its label (style/main.css).
        const shown = element.classList.contains("visually-hidden") && labelled ? element.nextElementSibling! : element;
        const style = getComputedStyle(shown);
        return { name: name.trim(), visible: element.matches(":focus-visible") && style.outlineStyle !== "none" };
      });
      if (name.test(focused.name)) {
        expect(focused.visible, `focus on ${focused.name} is visible`).toBe(true);
        return;
      }
    }
    throw new Error(`Tab never reached ${name}`);
  }

  await tabTo(/^New room$/);
  await page.keyboard.press("Enter");
  await tabTo(/^Title$/);
  await page.keyboard.type(title);
  await tabTo(/^Create room$/);
  await page.keyboard.press("Enter");
  await alice.expectInRoom(title);

  const bob = await Person.enter(browser);
  await bob.roomLink(title).click();
  await bob.expectInRoom(title);
  const bobName = await bob.name();

  await tabTo(/^Message$/);
  await page.keyboard.type("typed, never clicked");
  await page.keyboard.press("Enter");
  await expect(bob.messages().getByText("typed, never clicked")).toBeVisible();

  await tabTo(/^GIF$/);
  const chooser = page.waitForEvent("filechooser");
  await page.keyboard.press("Space");
  await (await chooser).setFiles({ name: "tiny.gif", mimeType: "image/gif", buffer: TINY_GIF });
  await expect(bob.messages().locator("img")).toBeVisible();

  await tabTo(new RegExp(`^Whisper to ${bobName}$`));
  await page.keyboard.press("Enter");
  await expect(page.getByText(`Whispering to ${bobName}`)).toBeVisible();
  await tabTo(/^Message$/);
  await page.keyboard.type("just between us");
  await page.keyboard.press("Enter");
  await expect(bob.messages().locator(".whisper").getByText("just between us")).toBeVisible();

  await tabTo(/Rooms$/);
  await page.keyboard.press("Enter");
  await expect(page).toHaveURL(/\/$/);
});
