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
