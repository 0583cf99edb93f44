import { Person, expect, test, uniqueTitle } from "./fixtures";

// What people do with a message (issue 30): reactions so far.

test("two people react and take back, see the counts and who reacted, and a page cut off catches up without a reload", async ({ browser }) => {
  const alice = await Person.enter(browser);
  const bob = await Person.enter(browser);
  const [aliceName, bobName] = await Promise.all([alice.name(), bob.name()]);
  const title = uniqueTitle("Reactions");
  await alice.createRoom(title);
  await bob.roomLink(title).click();
  await bob.expectInRoom(title);
  await alice.send("react to this");
  const onBob = bob.messages().locator(".message", { hasText: "react to this" });
  const onAlice = alice.messages().locator(".message", { hasText: "react to this" });

  // Bob picks 😂 from "React": both see "😂 1", pressed only on Bob's page.
  await onBob.getByRole("button", { name: "React" }).click();
  await onBob.getByRole("group", { name: "Reactions to choose from" }).getByRole("button", { name: "😂", exact: true }).click();
  await expect(onBob.getByRole("button", { name: "😂 1" })).toHaveAttribute("aria-pressed", "true");
  await expect(onAlice.getByRole("button", { name: "😂 1" })).toHaveAttribute("aria-pressed", "false");
  // Who reacted shows on hover and on focus.
  await onAlice.getByRole("button", { name: "😂 1" }).hover();
  await expect(onAlice.getByRole("tooltip")).toContainText(bobName);
  await onAlice.getByRole("button", { name: "😂 1" }).click();
  await expect(onAlice.getByRole("button", { name: "😂 2" })).toHaveAttribute("aria-pressed", "true");
  await expect(onBob.getByRole("button", { name: "😂 2" })).toHaveAttribute("aria-pressed", "true");
  await onBob.getByRole("button", { name: "😂 2" }).focus();
  await expect(onBob.getByRole("tooltip")).toContainText(aliceName);
  await expect(onBob.getByRole("tooltip")).toContainText(bobName);
  // Pressed again, Bob's goes.
  await onBob.getByRole("button", { name: "😂 2" }).click();
  await expect(onBob.getByRole("button", { name: "😂 1" })).toHaveAttribute("aria-pressed", "false");
  await expect(onAlice.getByRole("button", { name: "😂 1" })).toHaveAttribute("aria-pressed", "true");

  // Bob's connection is cut while Alice reacts: back online, his page has it, without a reload.
  await bob.context.setOffline(true);
  await expect(bob.page.getByRole("status")).toHaveText("Offline — reconnecting…");
  await onAlice.getByRole("button", { name: "React" }).click();
  await onAlice.getByRole("button", { name: "🎉", exact: true }).click();
  await expect(onAlice.getByRole("button", { name: "🎉 1" })).toBeVisible();
  await alice.send("and a message after it");
  await bob.context.setOffline(false);
  await expect(onBob.getByRole("button", { name: "🎉 1" })).toHaveAttribute("aria-pressed", "false");
  await expect(bob.messages()).toContainText("and a message after it");
  // Reloaded, the same.
  await bob.page.reload();
  await bob.expectInRoom(title);
  await expect(onBob.getByRole("button", { name: "🎉 1" })).toBeVisible();
  await expect(onBob.getByRole("button", { name: "😂 1" })).toHaveAttribute("aria-pressed", "false");
});
