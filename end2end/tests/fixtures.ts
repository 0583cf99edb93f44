import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test as base, expect, type Browser, type BrowserContext, type Page } from "@playwright/test";

/**
 * Playwright's `test`, closing every browser context a test opened (its people) when the test ends, passed or
 * failed: a test closes someone itself only when their leaving is part of what it tests.
 */
export const test = base.extend<{ closesWhatItOpens: void }>({
  closesWhatItOpens: [
    async ({ browser }, use) => {
      const before = new Set(browser.contexts());
      await use();
      await Promise.all(browser.contexts().filter((context) => !before.has(context)).map((context) => context.close()));
    },
    { auto: true },
  ],
});
export { expect };

/** A person: their own browser context (own cookies, own session, own color). */
export class Person {
  /** What went wrong in the page (script errors, console errors, failed requests): said when it does not hydrate. */
  private readonly troubles: string[] = [];

  constructor(
    readonly context: BrowserContext,
    readonly page: Page,
  ) {
    // The latest 10 since the page last navigated: an earlier page's troubles are not what stops this one.
    const note = (trouble: string) => this.troubles.push(trouble) > 10 && this.troubles.shift();
    page.on("framenavigated", (frame) => frame === page.mainFrame() && this.troubles.splice(0));
    page.on("pageerror", (error) => note(`page error: ${error.message}`));
    page.on("console", (message) => message.type() === "error" && note(`console: ${message.text()}`));
    page.on("requestfailed", (request) => note(`failed: ${request.url()} (${request.failure()?.errorText})`));
  }

  static async enter(browser: Browser): Promise<Person> {
    const context = await browser.newContext();
    const page = await context.newPage();
    const person = new Person(context, page);
    await person.openRoomList();
    return person;
  }

  /**
   * `count` people with different names, entering one after the other (pages compiling the debug WASM at once
   * each take as long as all of them). Names come from 4,096, so two people can share one; tests find people by
   * name, so whoever would repeat a name is replaced by a new visitor.
   */
  static async enterMany(browser: Browser, count: number): Promise<Person[]> {
    const people: Person[] = [];
    const names = new Set<string>();
    while (people.length < count) {
      const person = await Person.enter(browser);
      const name = await person.name();
      if (names.has(name)) {
        await person.close();
        continue;
      }
      names.add(name);
      people.push(person);
    }
    return people;
  }

  /**
   * A person whose browser the cluster's load balancer always sends to `instance` (scripts/cluster.sh pins a
   * browser with a `gif_chat_instance` cookie): their pages, calls, uploads and live connection all land there.
   */
  static async enterPinned(browser: Browser, baseURL: string, instance: number): Promise<Person> {
    const context = await browser.newContext({ baseURL });
    await context.addCookies([{ name: "gif_chat_instance", value: String(instance), url: baseURL }]);
    const person = new Person(context, await context.newPage());
    await person.openRoomList();
    return person;
  }

  /** Opens the room list; returns the page's response (its headers tell which instance of a cluster answered). */
  async openRoomList() {
    const response = await this.page.goto("/");
    await this.waitForHydration();
    return response!;
  }

  async name(): Promise<string> {
    return (await this.page.locator(".you .person-name").first().textContent())!.trim();
  }

  async waitForHydration() {
    const started = Date.now();
    try {
      // A new browser context compiles the debug build's WASM (3.4 MB, lightly optimized: the `wasm-dev` profile)
      // from scratch: under a second here when the machine is idle, several when it is not. The patience is for
      // the load, not for the app's reactions.
      await expect(this.page.locator("body")).toHaveAttribute("data-hydrated", "true", { timeout: 20_000 });
    } catch (error) {
      // Say what the page went through, so that a failure in CI (where only the output is kept) can be told apart:
      // a slow load, a script error, a refused request.
      const waited = ((Date.now() - started) / 1000).toFixed(1);
      const troubles = this.troubles.length ? this.troubles.join("; ") : "no script error, console error or failed request";
      const wasm = await Promise.race([
        this.page.evaluate(() =>
          performance
            .getEntriesByType("resource")
            .filter((entry) => entry.name.endsWith(".wasm"))
            .map((entry) => `wasm fetched in ${Math.round(entry.duration)} ms`)
            .join(", "),
        ),
        new Promise<string>((resolve) => setTimeout(() => resolve("the page does not answer"), 2_000)),
      ]).catch((reason) => `the page cannot be asked: ${reason}`);
      (error as Error).message =
        `${this.page.url()} not hydrated after ${waited} s (${troubles}; ${wasm || "no wasm fetched"})\n` +
        (error as Error).message;
      throw error;
    }
  }

  /** Creates a room from the list and lands in it. */
  async createRoom(title: string, options: { maxMembers?: number; password?: string } = {}) {
    const page = this.page;
    await page.locator("summary", { hasText: "New room" }).click();
    await page.getByLabel("Title").fill(title);
    if (options.maxMembers !== undefined) await page.getByLabel("Max members").fill(String(options.maxMembers));
    // Exactly: a locked room on the list is labelled "password required".
    if (options.password !== undefined) await page.getByLabel("Password", { exact: true }).fill(options.password);
    await page.getByRole("button", { name: "Create room" }).click();
    await expect(page).toHaveURL(/\/room\/\d+$/);
    await this.expectInRoom(title);
  }

  async expectInRoom(title: string) {
    await expect(this.page.getByRole("heading", { level: 1 })).toContainText(title);
    await this.waitForHydration();
    await expect(this.page.locator(".room-count")).toContainText("present");
  }

  roomLink(title: string) {
    return this.page.getByRole("link", { name: title, exact: true });
  }

  messages() {
    return this.page.getByRole("log", { name: "Messages" });
  }

  async send(text: string) {
    const box = this.page.getByLabel("Message", { exact: true });
    await box.fill(text);
    await box.press("Enter");
    await expect(box).toHaveValue("");
  }

  async close() {
    await this.context.close();
  }
}

/**
 * `count` messages ("<prefix> 0", "<prefix> 1", …) posted to `room` (its id) as a browser without the WASM posts
 * them, by throwaway visitors: each may send 20 in a row.
 */
export async function postMessages(browser: Browser, room: string, count: number, prefix: string) {
  for (let sent = 0; sent < count; ) {
    const context = await browser.newContext();
    for (let i = 0; i < 20 && sent < count; i++, sent++) {
      const response = await context.request.post("/api/send_message", {
        form: { room, body: `${prefix} ${sent}` },
        headers: { Accept: "text/html" },
        maxRedirects: 0,
      });
      expect(response.status()).toBe(303);
    }
    await context.close();
  }
}

/**
 * A 2-second animated GIF (160×120, 20 frames; ffmpeg's `testsrc2` pattern, 48 KiB): large enough that the server
 * makes a video of it.
 */
export const CLIP_GIF = readFileSync(join(__dirname, "clip.gif"));

/** A 1×1 GIF89a. */
export const TINY_GIF = Buffer.from("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7", "base64");

export function uniqueTitle(prefix: string): string {
  return `${prefix} ${Date.now().toString(36)}${Math.floor(Math.random() * 1e4)}`;
}
