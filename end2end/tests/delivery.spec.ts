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
