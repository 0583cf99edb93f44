import type { Page } from "@playwright/test";
import { Person, TINY_GIF, expect, test, uniqueTitle } from "./fixtures";

// What a person trips over in their first minutes (issue 35): the log's shape, uploads, drops, errors.

/** Drops a GIF on `selector` as a browser does (dragover, then drop); says whether the page took both. */
async function dropGif(page: Page, selector: string, name: string): Promise<boolean[]> {
  return page.evaluate(
    ({ selector, name, base64 }) => {
      const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
      const data = new DataTransfer();
      data.items.add(new File([bytes], name, { type: "image/gif" }));
      const target = document.querySelector(selector)!;
      return ["dragover", "drop"].map(
        (type) => !target.dispatchEvent(new DragEvent(type, { bubbles: true, cancelable: true, dataTransfer: data })),
      );
    },
    { selector, name, base64: TINY_GIF.toString("base64") },
  );
}

test("a GIF dropped anywhere on the room page is sent, and the browser never leaves the chat", async ({ browser }) => {
  const alice = await Person.enter(browser);
  await alice.createRoom(uniqueTitle("Drops"));
  const url = alice.page.url();
  // Outside the chat column: on who is here, and on the header.
  expect(await dropGif(alice.page, ".participants", "beside.gif")).toEqual([true, true]);
  await expect(alice.messages().locator("img.gif")).toHaveCount(1);
  expect(await dropGif(alice.page, ".chat-header", "above.gif")).toEqual([true, true]);
  await expect(alice.messages().locator("img.gif")).toHaveCount(2);
  expect(alice.page.url()).toBe(url);
});

test("an upload shows its file's name and progress, and Cancel stops it", async ({ browser }) => {
  const alice = await Person.enter(browser);
  await alice.createRoom(uniqueTitle("Slow GIF"));
  // The upload is held on its way (never answered) until it is cancelled.
  await alice.page.route("**/room/*/gif", () => {});
  const picker = alice.page.getByLabel("GIF", { exact: true });
  await picker.setInputFiles({ name: "holiday.gif", mimeType: "image/gif", buffer: TINY_GIF });
  const upload = alice.page.locator(".upload");
  await expect(upload.locator(".upload-name")).toHaveText("holiday.gif");
  await expect(upload.getByRole("progressbar", { name: "Uploading holiday.gif" })).toBeVisible();
  await expect(upload.locator(".upload-percent")).toHaveText(/^\d{1,3}%$/);
  await upload.getByRole("button", { name: "Cancel upload" }).click();
  await expect(upload).toHaveCount(0);
  await expect(alice.page.locator("#upload-status")).toHaveText("Upload of holiday.gif cancelled.");
  await expect(alice.page.locator(".uploader").getByRole("alert")).toHaveCount(0);
  await expect(alice.messages().locator("img.gif")).toHaveCount(0);
  // The next one goes through.
  await alice.page.unrouteAll({ behavior: "ignoreErrors" });
  await picker.setInputFiles({ name: "holiday.gif", mimeType: "image/gif", buffer: TINY_GIF });
  await expect(alice.messages().locator("img.gif")).toHaveCount(1);
  await expect(alice.page.locator("#upload-status")).toHaveText("holiday.gif sent.");
});

test("an error under the composer leaves the newest message in view", async ({ browser }) => {
  const alice = await Person.enter(browser);
  await alice.createRoom(uniqueTitle("Pinned"));
  // Enough lines to scroll (one message, many lines: the send limit stays untouched).
  await alice.send(Array.from({ length: 60 }, (_, n) => `line ${n}`).join("\n"));
  await alice.send("the newest message");
  const log = alice.page.locator(".messages");
  const distanceFromBottom = () => log.evaluate((l) => l.scrollHeight - l.scrollTop - l.clientHeight);
  await expect.poll(distanceFromBottom).toBeLessThan(2);
  // An empty message is refused in words, under the box: the log shrinks, and still shows its end.
  await alice.page.getByLabel("Message", { exact: true }).press("Enter");
  await expect(alice.page.locator(".composer").getByRole("alert")).toBeVisible();
  await expect.poll(distanceFromBottom).toBeLessThan(2);
  await expect(alice.messages().getByText("the newest message")).toBeInViewport({ ratio: 1 });
});

test("one person's messages in a row group under one name, days are marked, updates in a row are one line", async ({ browser }) => {
  const alice = await Person.enter(browser);
  const bob = await Person.enter(browser);
  const title = uniqueTitle("Grouped");
  await alice.createRoom(title);
  const roomUrl = alice.page.url();
  const bobName = await bob.name();

  // Bob comes, goes and comes back (each after the leave grace): Alice sees one line for the three.
  for (let visit = 0; visit < 2; visit++) {
    await bob.page.goto(roomUrl);
    await bob.expectInRoom(title);
    await expect(alice.page.locator(".room-count")).toHaveText(/^2\//);
    await bob.openRoomList();
    await expect(alice.page.locator(".room-count")).toHaveText(/^1\//, { timeout: 15_000 });
  }
  await bob.page.goto(roomUrl);
  await bob.expectInRoom(title);
  const updates = alice.messages().locator(".message.system").last();
  await expect(updates).toContainText(`${bobName} joined · ${bobName} left · ${bobName} joined · ${bobName} left · ${bobName} joined`);

  await alice.send("first of three");
  await alice.send("second of three");
  await alice.send("third of three");
  const mine = alice.messages().locator(".message.mine");
  await expect(mine).toHaveCount(3);
  // The name and time show once, on the first; the others continue it (a screen reader still hears the name).
  await expect(mine.nth(0)).not.toHaveClass(/grouped/);
  await expect(mine.nth(0).locator(".meta")).toBeVisible();
  for (const n of [1, 2]) {
    await expect(mine.nth(n)).toHaveClass(/grouped/);
    await expect(mine.nth(n).locator(".person-name")).toHaveCount(1);
    expect(await mine.nth(n).locator(".meta").boundingBox().then((box) => box!.height)).toBeLessThanOrEqual(1);
  }
  // Bob speaking breaks the group.
  await bob.send("bob between");
  await alice.send("after bob");
  await expect(mine.last()).not.toHaveClass(/grouped/);

  // The day is marked once, as "Today"; a time's tooltip has the whole date.
  await expect(alice.messages().locator(".day-separator")).toHaveText(["Today"]);
  const time = mine.first().locator("time");
  const year = String(new Date().getFullYear());
  await expect(time).toHaveAttribute("title", new RegExp(year));
});

test("the create form and the last person in a room are told that an empty room closes, with its messages", async ({ browser }) => {
  const alice = await Person.enter(browser);
  await alice.page.locator("summary", { hasText: "New room" }).click();
  await expect(alice.page.getByRole("region", { name: "Create a room" })).toContainText(
    "A room closes 2 seconds after the last person leaves it, and its messages go with it.",
  );
  await alice.page.locator("summary", { hasText: "New room" }).click();
  const title = uniqueTitle("Alone");
  await alice.createRoom(title);
  const alone = alice.page.locator(".alone");
  await expect(alone).toHaveText(
    "You are the only one here: when you leave, the room closes after 2 seconds, and its messages go with it.",
  );
  const bob = await Person.enter(browser);
  await bob.roomLink(title).click();
  await bob.expectInRoom(title);
  await expect(alone).toBeHidden();
  await expect(bob.page.locator(".alone")).toBeHidden();
});
