import { Person, TINY_GIF, expect, postMessages, test, uniqueTitle } from "./fixtures";

// What people do with a message: react, reply, edit, unsend (and the owner's removal), and see who is typing.
// (The e2e server lets a message be edited for 10 s, so that the refusal after the window shows in a test.)

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

test("a reply quotes what it answers and leads to it, loading its page, and says when that was deleted", async ({ browser }) => {
  const alice = await Person.enter(browser);
  const bob = await Person.enter(browser);
  const aliceName = await alice.name();
  const title = uniqueTitle("Replies");
  await alice.createRoom(title);
  const roomUrl = alice.page.url();
  await bob.roomLink(title).click();
  await bob.expectInRoom(title);
  await alice.send("the original question");

  // Bob answers it: the composer says to whom, with the start of it, and the reply can be cancelled.
  const original = bob.messages().locator(".message", { hasText: "the original question" });
  await original.hover();
  await original.getByRole("button", { name: "Reply" }).click();
  const replying = bob.page.locator(".composer .replying-to");
  await expect(replying).toContainText(`Replying to ${aliceName}`);
  await expect(replying).toContainText("the original question");
  await expect(bob.page.getByLabel("Message", { exact: true })).toBeFocused();
  await bob.page.getByRole("button", { name: "Cancel reply" }).click();
  await expect(replying).toHaveCount(0);
  await original.getByRole("button", { name: "Reply" }).click();
  // 60 messages arrive meanwhile, so that the original is far up the log.
  await postMessages(browser, roomUrl.split("/").pop()!, 60, "filler");
  await expect(bob.messages().getByText("filler 59", { exact: true })).toBeVisible();
  await bob.send("the answer");
  await expect(replying).toHaveCount(0);
  const onAlice = alice.messages().locator(".message", { hasText: "the answer" });
  await expect(onAlice.locator(".quote")).toContainText(aliceName);
  await expect(onAlice.locator(".quote")).toContainText("the original question");

  // Carol comes later: the original is not on her page; the quote's link loads it and goes there.
  const carol = await Person.enter(browser);
  await carol.page.goto(roomUrl);
  await carol.expectInRoom(title);
  const onCarol = carol.messages().locator(".message", { hasText: "the answer" });
  // (Its text is in the reply's quote only.)
  const originalOn = (person: Person) =>
    person.messages().locator(".message").filter({ has: person.page.locator("p.body", { hasText: "the original question" }) });
  await expect(originalOn(carol)).toHaveCount(0);
  await onCarol.locator(".quote").click();
  const found = originalOn(carol);
  await expect(found).toBeFocused();
  await expect(found).toBeInViewport();
  expect(carol.page.url()).toBe(roomUrl);

  // Alice unsends the original: everyone sees the tombstone, and the reply says what it answered is gone.
  const hers = originalOn(alice);
  await hers.hover();
  await hers.getByRole("button", { name: "Delete", exact: true }).click();
  await alice.page.getByRole("button", { name: "Delete for everyone" }).click();
  await expect(hers).toHaveCount(0);
  for (const person of [alice, bob, carol]) {
    await expect(person.messages().locator(".message .body.tombstone").first()).toHaveText("Message deleted");
    await expect(person.messages().locator(".message", { hasText: "the answer" }).locator(".quote")).toContainText("Message deleted");
  }
});

test("my own text is edited in place on every page within the window and refused after it", async ({ browser }) => {
  const alice = await Person.enter(browser);
  const bob = await Person.enter(browser);
  const title = uniqueTitle("Edits");
  await alice.createRoom(title);
  await bob.roomLink(title).click();
  await bob.expectInRoom(title);
  await alice.send("teh typo");
  const mine = alice.messages().locator(".message", { hasText: "teh typo" });
  const onBob = bob.messages().locator(".message", { hasText: "teh typo" });
  await onBob.hover();
  await expect(onBob.getByRole("button", { name: "Edit" })).toHaveCount(0);
  // Bob answers it first: his reply's quote follows the edit.
  await onBob.getByRole("button", { name: "Reply" }).click();
  await bob.send("did you mean the?");
  const reply = (person: Person) => person.messages().locator(".message", { hasText: "did you mean the?" });
  await expect(reply(alice).locator(".quote")).toContainText("teh typo");
  await mine.first().hover();
  await mine.first().getByRole("button", { name: "Edit" }).click();
  const box = alice.page.getByLabel("Edit message");
  await expect(box).toBeFocused();
  await box.fill("the typo, fixed");
  await box.press("Enter");
  for (const person of [alice, bob]) {
    const edited = person.messages().locator(".message", { hasText: "the typo, fixed" }).first();
    await expect(edited).toContainText("(edited)");
    await expect(reply(person).locator(".quote")).toContainText("the typo, fixed");
    await expect(person.messages().getByText("teh typo")).toHaveCount(0);
  }
  // Reloaded, the latest text, in the message and in the quote.
  await bob.page.reload();
  await bob.expectInRoom(title);
  await expect(bob.messages().locator(".message", { hasText: "the typo, fixed" }).first()).toContainText("(edited)");
  await expect(reply(bob).locator(".quote")).toContainText("the typo, fixed");

  // Escape leaves the box as it was; after the window the server refuses, and says for how long one may edit.
  const fixed = alice.messages().locator(".message", { hasText: "the typo, fixed" }).first();
  await fixed.hover();
  await fixed.getByRole("button", { name: "Edit" }).click();
  await alice.page.getByLabel("Edit message").press("Escape");
  await expect(alice.page.getByLabel("Edit message")).toHaveCount(0);
  await alice.page.waitForTimeout(10_500);
  await fixed.hover();
  await fixed.getByRole("button", { name: "Edit" }).click();
  await alice.page.getByLabel("Edit message").fill("too late");
  await alice.page.getByRole("button", { name: "Save" }).click();
  await expect(alice.page.locator(".edit-box").getByRole("alert")).toHaveText("Messages can be edited for 10 seconds after sending.");
  await expect(bob.messages().getByText("too late")).toHaveCount(0);
});

test("an unsent GIF's file is gone, the owner removes others' messages, and typing shows and clears", async ({ browser }) => {
  const alice = await Person.enter(browser);
  const bob = await Person.enter(browser);
  const bobName = await bob.name();
  const title = uniqueTitle("Unsend");
  await alice.createRoom(title);
  await bob.roomLink(title).click();
  await bob.expectInRoom(title);

  // Bob types: Alice sees it within a second, and it goes when he sends.
  const box = bob.page.getByLabel("Message", { exact: true });
  await box.pressSequentially("hello every");
  await expect(alice.page.locator(".typing")).toHaveText(`${bobName} is typing…`, { timeout: 1500 });
  await box.press("Enter");
  await expect(alice.messages()).toContainText("hello every");
  await expect(alice.page.locator(".typing")).toHaveText("");
  // Typing stops: it goes within 5 s of the last keystroke.
  await box.pressSequentially("wait");
  await expect(alice.page.locator(".typing")).toHaveText(`${bobName} is typing…`);
  await expect(alice.page.locator(".typing")).toHaveText("", { timeout: 6000 });
  await box.fill("");

  // Bob posts a GIF and unsends it: the file is no longer served.
  await bob.page.getByLabel("GIF", { exact: true }).setInputFiles({ name: "tiny.gif", mimeType: "image/gif", buffer: TINY_GIF });
  const gif = bob.messages().locator(".message", { has: bob.page.locator("img.gif") });
  await expect(gif).toHaveCount(1);
  const src = await gif.locator("img.gif").getAttribute("src");
  expect((await bob.page.request.get(src!)).status()).toBe(200);
  await gif.hover();
  await gif.getByRole("button", { name: "Delete", exact: true }).click();
  await bob.page.getByRole("button", { name: "Delete for everyone" }).click();
  await expect(alice.messages().locator("img.gif")).toHaveCount(0);
  await expect(alice.messages().locator(".body.tombstone")).toHaveText("Message deleted");
  await expect.poll(async () => (await bob.page.request.get(src!)).status()).toBe(404);

  // Alice owns the room: she removes Bob's message (she cannot edit it); Bob has no such control on hers.
  await alice.send("the owner's own");
  const bobs = alice.messages().locator(".message", { hasText: "hello every" });
  await bobs.hover();
  await expect(bobs.getByRole("button", { name: "Edit" })).toHaveCount(0);
  await bobs.getByRole("button", { name: "Remove message" }).click();
  await alice.page.getByRole("button", { name: "Remove for everyone" }).click();
  await expect(bob.messages().locator(".body.tombstone", { hasText: "Removed by the owner" })).toBeVisible();
  const hers = bob.messages().locator(".message", { hasText: "the owner's own" });
  await hers.hover();
  await expect(hers.getByRole("button", { name: "Remove message" })).toHaveCount(0);
});

test("a page whose connection was cut while the other person edited, unsent and reacted shows all three on its return", async ({ browser }) => {
  const alice = await Person.enter(browser);
  const bob = await Person.enter(browser);
  const title = uniqueTitle("Away");
  await alice.createRoom(title);
  await bob.roomLink(title).click();
  await bob.expectInRoom(title);
  await alice.send("to be edited");
  await alice.send("to be unsent");
  await alice.send("to be liked");
  await expect(bob.messages()).toContainText("to be liked");

  await bob.context.setOffline(true);
  await expect(bob.page.getByRole("status")).toHaveText("Offline — reconnecting…");
  const edited = alice.messages().locator(".message", { hasText: "to be edited" });
  await edited.hover();
  await edited.getByRole("button", { name: "Edit" }).click();
  await alice.page.getByLabel("Edit message").fill("edited while Bob was away");
  await alice.page.getByLabel("Edit message").press("Enter");
  await expect(alice.messages()).toContainText("edited while Bob was away");
  const unsent = alice.messages().locator(".message", { hasText: "to be unsent" });
  await unsent.hover();
  await unsent.getByRole("button", { name: "Delete", exact: true }).click();
  await alice.page.getByRole("button", { name: "Delete for everyone" }).click();
  await expect(unsent).toHaveCount(0);
  const liked = alice.messages().locator(".message", { hasText: "to be liked" });
  await liked.hover();
  await liked.getByRole("button", { name: "React" }).click();
  await liked.getByRole("button", { name: "👍", exact: true }).click();
  await expect(liked.getByRole("button", { name: "👍 1" })).toBeVisible();

  await bob.context.setOffline(false);
  await expect(bob.messages()).toContainText("edited while Bob was away");
  await expect(bob.messages().getByText("to be unsent")).toHaveCount(0);
  await expect(bob.messages().locator(".body.tombstone")).toHaveText("Message deleted");
  await expect(bob.messages().locator(".message", { hasText: "to be liked" }).getByRole("button", { name: "👍 1" })).toBeVisible();
});
