import { Person, expect, test, uniqueTitle } from "./fixtures";

test("a browser that goes offline catches up on every message once, in order", async ({ browser }) => {
  const alice = await Person.enter(browser);
  const bob = await Person.enter(browser);
  const title = uniqueTitle("Tunnel");
  await alice.createRoom(title);
  await bob.roomLink(title).click();
  await bob.expectInRoom(title);
  await alice.send("before the tunnel");
  await expect(bob.messages()).toContainText("before the tunnel");

  await bob.context.setOffline(true);
  await expect(bob.page.getByRole("status")).toHaveText("Offline — reconnecting…");
  const missed = ["one", "two", "three", "four", "five"].map((n) => `while away ${n}`);
  for (const text of missed) await alice.send(text);
  await expect(alice.messages()).toContainText("while away five");

  await bob.context.setOffline(false);
  await expect(bob.page.getByRole("status")).toBeHidden();
  await expect(bob.messages()).toContainText("while away five");

  // Each message exactly once, in the order it was sent.
  const texts = await bob.messages().locator(".message:not(.system) .body").allTextContents();
  const relevant = texts.filter((t) => t.startsWith("while away") || t === "before the tunnel");
  expect(relevant).toEqual(["before the tunnel", ...missed]);
  const seqs = (await bob.messages().locator(".message").evaluateAll((items) => items.map((i) => Number(i.getAttribute("data-seq")))));
  expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
  expect(new Set(seqs).size).toBe(seqs.length);
});

test("a message sent offline shows pending at once, outlives a reload while offline, and arrives exactly once", async ({ browser }) => {
  const alice = await Person.enter(browser);
  const bob = await Person.enter(browser);
  const title = uniqueTitle("Outbox");
  await alice.createRoom(title);
  const roomUrl = alice.page.url();
  await bob.roomLink(title).click();
  await bob.expectInRoom(title);

  await alice.context.setOffline(true);
  await expect(alice.page.getByRole("status")).toHaveText("Offline — reconnecting…");
  await alice.send("written in the tunnel");
  const pending = alice.messages().locator(".message.pending", { hasText: "written in the tunnel" });
  await expect(pending).toContainText("Sending…");
  // A reload while offline finds no page at all; the message waits in the browser.
  await alice.page.reload().catch(() => {});
  await alice.context.setOffline(false);
  await alice.page.goto(roomUrl);
  await alice.expectInRoom(title);

  // Delivered once, and shown once on both sides; nothing is left pending.
  await expect(bob.messages().getByText("written in the tunnel")).toHaveCount(1);
  await expect(alice.messages().locator(".message:not(.pending)", { hasText: "written in the tunnel" })).toHaveCount(1);
  await expect(alice.messages().locator(".message.pending")).toHaveCount(0);
  expect(await alice.page.evaluate(() => Object.keys(localStorage).filter((key) => key.startsWith("gif-chat.pending.")))).toEqual([]);
  await bob.page.reload();
  await bob.expectInRoom(title);
  await expect(bob.messages().getByText("written in the tunnel")).toHaveCount(1);
});

test("a queued message the server refuses waits, marked, for Retry or Discard", async ({ browser }) => {
  const alice = await Person.enter(browser);
  await alice.createRoom(uniqueTitle("Refused"));
  const box = alice.page.getByLabel("Message", { exact: true });
  // The server is made to refuse sends (as when over a limit), then to take them again. A refusal waits for
  // `answer()`, so that the person has typed on by then.
  let refuse = true;
  let answer = () => {};
  let answered = new Promise<void>((resolve) => (answer = resolve));
  await alice.page.route("**/api/send_message", async (route) => {
    if (!refuse) return route.continue();
    await answered;
    answered = new Promise<void>((resolve) => (answer = resolve));
    await route.fulfill({
      status: 429,
      contentType: "application/json",
      headers: { "retry-after": "1" },
      body: JSON.stringify({ error: "tooManyRequests", message: "You are sending too fast. Wait 1 s.", limit: "sending", retryAfter: 1 }),
    });
  });
  await box.fill("first try");
  await box.press("Enter");
  // Typed on meanwhile: the refused message does not take the box back, it waits in the log.
  await box.fill("typed meanwhile");
  answer();
  const refused = alice.messages().locator(".message.pending", { hasText: "first try" });
  await expect(refused).toContainText("Not sent:");
  await expect(box).toHaveValue("typed meanwhile");
  refuse = false;
  await refused.getByRole("button", { name: "Retry sending “first try”" }).click();
  await expect(alice.messages().locator(".message:not(.pending)", { hasText: "first try" })).toHaveCount(1);
  await expect(refused).toHaveCount(0);

  refuse = true;
  await box.fill("second try");
  await box.press("Enter");
  await box.fill("typed again");
  answer();
  const second = alice.messages().locator(".message.pending", { hasText: "second try" });
  await second.getByRole("button", { name: "Discard “second try”" }).click();
  await expect(second).toHaveCount(0);
  await expect(alice.messages()).not.toContainText("second try");
});
