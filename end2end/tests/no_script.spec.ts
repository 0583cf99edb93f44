import { type Browser } from "@playwright/test";
import { Person, expect, postMessages, test, uniqueTitle } from "./fixtures";

// With JavaScript off, which is also every visitor's state until the WASM has arrived and hydrated the page, the
// forms are plain HTML forms: each post is answered with a redirect to the page to show, its error on the form.

async function withoutScript(browser: Browser) {
  const context = await browser.newContext({ javaScriptEnabled: false });
  return context.newPage();
}

test("without JavaScript a person creates a room, talks in it, and sees why a form was refused", async ({ browser }) => {
  const title = uniqueTitle("Plain forms");
  const page = await withoutScript(browser);
  await page.goto("/");
  await expect(page.getByRole("heading", { name: "Create a room" })).toBeHidden();
  await page.locator("summary", { hasText: "New room" }).click();

  // Refused: back on the list with the form open and the server's reason, and nothing about it in the URL.
  await page.getByLabel("Title").fill("   ");
  await page.getByRole("button", { name: "Create room" }).click();
  await expect(page.getByRole("alert")).toHaveText("Give the room a title.");
  await expect(page.getByLabel("Title")).toBeVisible();
  expect(new URL(page.url()).search).toBe("");

  await page.getByLabel("Title").fill(title);
  await page.getByRole("button", { name: "Create room" }).click();
  await expect(page).toHaveURL(/\/room\/\d+$/);
  await expect(page.getByRole("heading", { level: 1 })).toContainText(title);

  // Someone with JavaScript finds the creator in the room (the post brought them in for a visit).
  const bob = await Person.enter(browser);
  await bob.roomLink(title).click();
  await bob.expectInRoom(title);
  await expect(bob.page.locator(".chat-header .room-count")).toHaveText("2/10 present");

  await page.getByLabel("Message", { exact: true }).fill("sent by a plain form");
  await page.getByRole("button", { name: "Send" }).click();
  await expect(page).toHaveURL(/\/room\/\d+#m\d+$/);
  await expect(page.getByRole("log", { name: "Messages" }).getByText("sent by a plain form")).toBeVisible();
  await expect(bob.messages().getByText("sent by a plain form")).toBeVisible();

  await page.getByLabel("Message", { exact: true }).fill("   ");
  await page.getByRole("button", { name: "Send" }).click();
  await expect(page.locator(".composer").getByRole("alert")).toHaveText("Write something first.");
  expect(new URL(page.url()).search).toBe("");
  // Shown once: the page loaded again starts clean.
  await page.reload();
  await expect(page.getByLabel("Message", { exact: true })).toBeVisible();
  await expect(page.locator(".composer").getByRole("alert")).toHaveCount(0);
});

test("without JavaScript a person enters a password room", async ({ browser }) => {
  const alice = await Person.enter(browser);
  const title = uniqueTitle("Locked, plain");
  await alice.createRoom(title, { password: "sesame" });
  const roomUrl = alice.page.url();

  const page = await withoutScript(browser);
  await page.goto(roomUrl);
  await page.getByLabel("Password").fill("not it");
  await page.getByRole("button", { name: "Enter" }).click();
  await expect(page.getByRole("alert")).toHaveText("Wrong password.");
  expect(page.url()).toBe(roomUrl);

  await page.getByLabel("Password").fill("sesame");
  await page.getByRole("button", { name: "Enter" }).click();
  await expect(page.getByRole("heading", { level: 1 })).toContainText(title);
  await expect(page.getByLabel("Message", { exact: true })).toBeVisible();
});

test("an error in a page's URL is not shown: anyone can write a link", async ({ page }) => {
  // What the server-function machinery would put in a URL: a made-up "error" for the create form.
  const error = { error: "invalid", message: "Send your password to someone else." };
  const forged = Buffer.from(JSON.stringify(error)).toString("base64url");
  await page.goto(`/?notice=full&__path=/api/create_room&__err=${forged}`);
  await expect(page).toHaveURL(/\/\?notice=full$/);
  await expect(page.getByText("Send your password")).toHaveCount(0);
});

test("'Load earlier' is a link: without JavaScript it pages back, with it the page loads them in place", async ({
  browser,
}) => {
  const alice = await Person.enter(browser);
  const title = uniqueTitle("Long history");
  await alice.createRoom(title);
  const roomUrl = alice.page.url();
  const room = roomUrl.split("/").pop()!;
  await postMessages(browser, room, 60, "history");

  const page = await withoutScript(browser);
  await page.goto(roomUrl);
  const log = page.getByRole("log", { name: "Messages" });
  await expect(log.getByText("history 59", { exact: true })).toBeVisible();
  await expect(log.getByText("history 0", { exact: true })).toHaveCount(0);
  await page.getByRole("link", { name: "Load earlier" }).click();
  await expect(page).toHaveURL(/\?before=\d+$/);
  await expect(log.getByText("history 0", { exact: true })).toBeVisible();
  await expect(log.getByText("history 59", { exact: true })).toHaveCount(0);
  await page.getByRole("link", { name: "Back to the latest messages" }).click();
  await expect(log.getByText("history 59", { exact: true })).toBeVisible();

  // Hydrated, the same link loads the earlier messages into the page, which stays where it is.
  const bob = await Person.enter(browser);
  await bob.page.goto(roomUrl);
  await bob.expectInRoom(title);
  await expect(bob.messages().getByText("history 0", { exact: true })).toHaveCount(0);
  await bob.page.getByRole("link", { name: "Load earlier" }).click();
  await expect(bob.messages().getByText("history 0", { exact: true })).toBeAttached();
  await expect(bob.messages().getByText("history 59", { exact: true })).toBeAttached();
  expect(bob.page.url()).toBe(roomUrl);
});

test("a form posted before the WASM arrived shows its error on the hydrated page, until the next page", async ({
  page,
}) => {
  const consoleErrors: string[] = [];
  page.on("console", (message) => {
    if (message.type() === "error") consoleErrors.push(message.text());
  });
  await page.goto("/");
  // What the browser posts when the form is sent before hydration.
  const answer = await page.request.post("/api/create_room", {
    form: { title: " ", max_members: "5" },
    headers: { Accept: "text/html", Referer: page.url() },
    maxRedirects: 0,
  });
  expect(answer.status()).toBe(303);
  await page.goto(answer.headers()["location"]);
  await expect(page.locator("body")).toHaveAttribute("data-hydrated", "true");
  await expect(page.getByRole("alert")).toHaveText("Give the room a title.");

  // Hydrated, the same form works without page loads; back on the list, the old error is gone.
  await page.getByLabel("Title").fill("After the error");
  await page.getByRole("button", { name: "Create room" }).click();
  await expect(page).toHaveURL(/\/room\/\d+$/);
  await page.getByRole("link", { name: "← Rooms" }).click();
  await expect(page.getByRole("heading", { name: "Rooms", exact: true })).toBeVisible();
  await page.locator("summary", { hasText: "New room" }).click();
  await expect(page.getByLabel("Title")).toBeVisible();
  await expect(page.getByRole("alert")).toHaveCount(0);
  expect(consoleErrors).toEqual([]);
});

test("without JavaScript a person reacts and unsends with plain forms", async ({ browser }) => {
  const alice = await Person.enter(browser);
  const title = uniqueTitle("Plain reactions");
  await alice.createRoom(title);
  const roomUrl = alice.page.url();
  await alice.send("react without scripts");

  const page = await withoutScript(browser);
  await page.goto(roomUrl);
  const log = page.getByRole("log", { name: "Messages" });
  const message = log.locator(".message", { hasText: "react without scripts" });
  // "React" shows the choices while it has the focus; a choice posts the form.
  await message.getByRole("button", { name: "React" }).click();
  await message.getByRole("button", { name: "🎉", exact: true }).click();
  await expect(page).toHaveURL(/\/room\/\d+#m\d+$/);
  await expect(message.getByRole("button", { name: "🎉 1" })).toHaveAttribute("aria-pressed", "true");
  await expect(alice.messages().locator(".message", { hasText: "react without scripts" }).getByRole("button", { name: "🎉 1" })).toBeVisible();
  // Pressed again, taken back.
  await message.getByRole("button", { name: "🎉 1" }).click();
  await expect(message.getByRole("button", { name: /🎉/ })).toHaveCount(0);

  // Their own message, unsent by its form.
  await page.getByLabel("Message", { exact: true }).fill("sent and unsent without scripts");
  await page.getByRole("button", { name: "Send" }).click();
  await expect(alice.messages()).toContainText("sent and unsent without scripts");
  await log.locator(".message", { hasText: "sent and unsent without scripts" }).getByRole("button", { name: "Delete", exact: true }).click();
  await expect(log.getByText("sent and unsent without scripts")).toHaveCount(0);
  await expect(alice.messages().getByText("sent and unsent without scripts")).toHaveCount(0);
  await expect(alice.messages().locator(".body.tombstone")).toHaveText("Message deleted");
});
