import { Person, expect, test } from "./fixtures";

test("the room list is server-rendered, then hydrated and interactive", async ({ page }) => {
  const consoleErrors: string[] = [];
  page.on("console", (message) => {
    if (message.type() === "error") consoleErrors.push(message.text());
  });
  page.on("pageerror", (error) => consoleErrors.push(error.message));

  await page.goto("/");
  await expect(page).toHaveTitle("gif-chat");
  await expect(page.getByRole("heading", { level: 1, name: "gif-chat" })).toBeVisible();

  // Only the WASM client sets this attribute, after hydration.
  await expect(page.locator("body")).toHaveAttribute("data-hydrated", "true");

  // The room search has no server-side behaviour: typing filters the list only if hydration attached its handler.
  await page.getByLabel("Find a room").fill("no room is called this");
  await expect(page.getByText("No room's title contains “no room is called this”.")).toBeVisible();

  // "New room" is a disclosure the browser opens by itself, before hydration too (see no_script.spec.ts).
  await expect(page.getByRole("heading", { name: "Create a room" })).toBeHidden();
  await page.locator("summary", { hasText: "New room" }).click();
  await expect(page.getByRole("heading", { name: "Create a room" })).toBeVisible();

  expect(consoleErrors).toEqual([]);
});

test("the forms check input with the server's own rules before sending anything", async ({ page }) => {
  const posts: string[] = [];
  page.on("request", (request) => {
    if (request.method() === "POST") posts.push(request.url());
  });
  await page.goto("/");
  await expect(page.locator("body")).toHaveAttribute("data-hydrated", "true");
  await page.locator("summary", { hasText: "New room" }).click();

  // A blank title and an out-of-range limit: the messages are the server's (protocol/src/domain.rs), shown at once.
  await page.getByLabel("Title").fill("   ");
  await page.getByRole("button", { name: "Create room" }).click();
  await expect(page.getByRole("alert")).toHaveText("Give the room a title.");
  await page.getByLabel("Title").fill("Checked in the browser");
  await page.getByLabel("Max members").fill("101");
  await page.getByRole("button", { name: "Create room" }).click();
  await expect(page.getByRole("alert")).toHaveText("Max members is a whole number from 2 to 100.");
  expect(posts).toEqual([]);

  // Valid input goes through, and the composer checks too: a blank message is never sent.
  await page.getByLabel("Max members").fill("5");
  await page.getByRole("button", { name: "Create room" }).click();
  await expect(page.getByRole("heading", { level: 1 })).toContainText("Checked in the browser");
  await expect(page.locator("body")).toHaveAttribute("data-hydrated", "true");
  posts.length = 0;
  await page.getByLabel("Message", { exact: true }).fill("  \n  ");
  await page.getByRole("button", { name: "Send" }).click();
  await expect(page.locator(".composer").getByRole("alert")).toHaveText("Write something first.");
  expect(posts).toEqual([]);
});

test("a reader who leaves while the room list's search is loading leaves no error behind", async ({ browser }) => {
  // The search's answer comes after the list is gone: the page must not read the list's signals then
  // (leptos-rs/leptos#3595: a panic, and the WASM stops).
  const alice = await Person.enter(browser);
  const page = alice.page;
  const errors: string[] = [];
  page.on("console", (message) => message.type() === "error" && errors.push(message.text()));
  page.on("pageerror", (error) => errors.push(error.message));
  await alice.createRoom("Left mid-search");
  await page.goBack();
  await expect(alice.roomLink("Left mid-search")).toBeVisible();

  let release = () => {};
  const held = new Promise<void>((resolve) => (release = resolve));
  let asked = () => {};
  const searched = new Promise<void>((resolve) => (asked = resolve));
  await page.route("**/api/find_rooms*", async (route) => {
    asked();
    await held;
    await route.continue();
  });
  await page.getByLabel("Find a room").fill("Left");
  await searched;
  // Into the room, by the page's own router (the WASM lives on), while the answer waits.
  await alice.roomLink("Left mid-search").click();
  await alice.expectInRoom("Left mid-search");
  const answered = page.waitForResponse("**/api/find_rooms*");
  release();
  await answered;

  // The page still works after the answer came: a message goes and shows.
  await alice.send("still here");
  await expect(alice.messages().getByText("still here")).toBeVisible();
  expect(errors).toEqual([]);
  await alice.close();
});
