import { test, expect } from "@playwright/test";

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

  // The "New room" disclosure has no server-side behaviour: it opens only if hydration attached its handler.
  const toggle = page.getByRole("button", { name: "New room" });
  await expect(toggle).toHaveAttribute("aria-expanded", "false");
  await expect(page.getByRole("heading", { name: "Create a room" })).toBeHidden();
  await toggle.click();
  await expect(toggle).toHaveAttribute("aria-expanded", "true");
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
  await page.getByRole("button", { name: "New room" }).click();

  // A blank title and an out-of-range limit: the messages are the server's (app/src/domain.rs), shown at once.
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
