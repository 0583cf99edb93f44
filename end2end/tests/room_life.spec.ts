import { Person, expect, test, uniqueTitle } from "./fixtures";

test("three people: live panel, a private whisper, owner hand-over, and a kick", async ({ browser }) => {
  const [alice, bob, carol] = await Person.enterMany(browser, 3);
  const [aliceName, bobName, carolName] = await Promise.all([alice, bob, carol].map((p) => p.name()));

  const title = uniqueTitle("Trio");
  await alice.createRoom(title);
  for (const person of [bob, carol]) {
    await person.roomLink(title).click();
    await person.expectInRoom(title);
  }

  // The panel on Alice's page lists all three, live, with Alice as owner.
  const panel = alice.page.getByRole("complementary", { name: /Here now/ });
  await expect(panel.locator(".participant")).toHaveCount(3);
  await expect(panel.locator(".participant", { hasText: aliceName })).toContainText("owner");
  await expect(panel.locator(".participant", { hasText: aliceName })).toContainText("(you)");
  // Names, badges and the owner's actions fit the panel: nothing is cut off at its edge.
  await expect(panel.getByRole("button", { name: `Remove ${bobName}…` })).toBeVisible();
  expect(await panel.evaluate((p) => p.scrollWidth - p.clientWidth)).toBeLessThanOrEqual(0);
  // The header says who you are once, without a "(you)" after your name.
  await expect(alice.page.locator("header .you")).toHaveText(`You are ${aliceName}`);

  // Alice whispers to Bob: Bob sees it, Carol never does (not live, not after a reload).
  await alice.page.getByRole("button", { name: `Whisper to ${bobName}` }).click();
  await expect(alice.page.getByText(`Whispering to ${bobName}`)).toBeVisible();
  await alice.send("a secret for Bob");
  await alice.send("(whisper mode stays until cancelled)");
  await alice.page.getByRole("button", { name: "Cancel whisper" }).click();
  await alice.send("hello all");
  await expect(bob.messages().locator(".message.whisper", { hasText: "a secret for Bob" })).toContainText("whispered to you");
  await expect(carol.messages()).toContainText("hello all");
  await expect(carol.messages()).not.toContainText("a secret");
  await carol.page.reload();
  await carol.expectInRoom(title);
  await expect(carol.messages()).toContainText("hello all");
  await expect(carol.messages()).not.toContainText("a secret");
  await bob.page.reload();
  await bob.expectInRoom(title);
  await expect(bob.messages()).toContainText("a secret for Bob");

  // Alice leaves: Bob, present longest after her, becomes the owner.
  await alice.close();
  await expect(bob.messages()).toContainText(`${bobName} is now the owner`, { timeout: 15_000 });
  const bobPanel = bob.page.getByRole("complementary", { name: /Here now/ });
  await expect(bobPanel.locator(".participant", { hasText: bobName })).toContainText("owner");
  await expect(bobPanel.locator(".participant")).toHaveCount(2);

  // Bob removes Carol. He is asked first, told it is a ban; Cancel (or Escape) changes nothing.
  const removeCarol = bob.page.getByRole("button", { name: `Remove ${carolName}…` });
  await removeCarol.click();
  const question = bob.page.getByRole("group", { name: `Remove ${carolName} and ban them from this room?`, exact: false });
  await expect(question).toContainText("They cannot come back unless you let them.");
  await expect(question.getByRole("button", { name: "Remove and ban" })).toBeFocused();
  await bob.page.keyboard.press("Escape");
  await expect(question).toHaveCount(0);
  await expect(removeCarol).toBeFocused();
  await removeCarol.click();
  await question.getByRole("button", { name: "Cancel" }).click();
  await expect(bobPanel.locator(".participant")).toHaveCount(2);
  // Confirmed: she lands on the room list with a message and cannot come back.
  await removeCarol.click();
  await question.getByRole("button", { name: "Remove and ban" }).click();
  await expect(carol.page).toHaveURL(/\/\?notice=banned$/);
  // The list says which room (the room page told it; the URL says only why).
  await expect(carol.page.getByRole("alert")).toHaveText(`The owner removed you from “${title}”.`);
  await expect(bob.messages()).toContainText(`${carolName} was removed by the owner`);
  await carol.roomLink(title).click();
  await expect(carol.page.getByRole("alert")).toContainText("The owner removed you from this room");
  const newTab = await carol.context.newPage();
  await newTab.goto(bob.page.url());
  await expect(newTab.getByRole("alert")).toContainText("The owner removed you from this room");
  // Her room list marks the room.
  await newTab.goto("/");
  await expect(newTab.locator(".room-card", { hasText: title }).locator(".room-flag")).toHaveText("You were removed");

  // Bob sees whom he removed, and lets Carol back in: she can enter again.
  await bobPanel.getByRole("button", { name: "Removed" }).click();
  const letBack = bobPanel.getByRole("button", { name: `Let ${carolName} back in` });
  await letBack.click();
  await expect(letBack).toHaveCount(0);
  await expect(bobPanel.locator("#ban-status")).toHaveText(`${carolName} may enter again.`);
  await newTab.reload();
  await expect(newTab.locator(".room-card", { hasText: title }).locator(".room-flag")).toHaveCount(0);
  await newTab.goto(bob.page.url());
  await expect(newTab.getByRole("heading", { level: 1 })).toContainText(title);
  await expect(newTab.locator(".messages")).toContainText(`${carolName} was removed by the owner`);
});

test("unread counts rise on the room list and reset when the room is opened", async ({ browser }) => {
  const alice = await Person.enter(browser);
  const bob = await Person.enter(browser);
  const title = uniqueTitle("News");
  await alice.createRoom(title);
  await bob.roomLink(title).click();
  await bob.expectInRoom(title);

  await bob.page.getByRole("link", { name: "← Rooms" }).click();
  await expect(bob.roomLink(title)).toBeVisible();
  const card = bob.page.locator(".room-card", { hasText: title });
  await expect(card.locator(".unread")).toHaveCount(0);

  await alice.send("first news");
  await alice.send("latest news");
  await expect(card.locator(".unread")).toHaveText("2 new");
  await expect(card.locator(".preview")).toContainText("latest news");

  await bob.roomLink(title).click();
  await bob.expectInRoom(title);
  await expect(bob.messages()).toContainText("latest news");
  await bob.page.getByRole("link", { name: "← Rooms" }).click();
  await expect(bob.page.locator(".room-card", { hasText: title }).locator(".unread")).toHaveCount(0);
});

test("the room list counts messages that arrive out of their order, and previews the latest", async ({ browser }) => {
  const alice = await Person.enter(browser);
  const bob = await Person.enter(browser);
  const title = uniqueTitle("Overtaken");
  await alice.createRoom(title);

  // Sends committed together are announced as each finishes: on Bob's page the notice of the first message
  // comes after the notice of the second.
  let held: string | null = null;
  let reordered = false;
  await bob.page.routeWebSocket(/\/ws$/, (socket) => {
    const server = socket.connectToServer();
    socket.onMessage((frame) => server.send(frame));
    server.onMessage((frame) => {
      const text = String(frame);
      if (text.startsWith('{"type":"roomActivity"') && held === null && text.includes("overtaken first")) {
        held = text;
        return;
      }
      socket.send(frame);
      if (text.startsWith('{"type":"roomActivity"') && held !== null && !reordered) {
        socket.send(held);
        reordered = true;
      }
    });
  });
  await bob.openRoomList();
  await bob.roomLink(title).click();
  await bob.expectInRoom(title);
  await bob.page.getByRole("link", { name: "← Rooms" }).click();
  const card = bob.page.locator(".room-card", { hasText: title });
  await expect(card).toBeVisible();
  await expect(card.locator(".unread")).toHaveCount(0);

  await alice.send("overtaken first");
  await alice.send("overtaking second");
  await expect.poll(() => reordered).toBe(true);
  await expect(card.locator(".unread")).toHaveText("2 new");
  await expect(card.locator(".preview")).toContainText("overtaking second");
});

test("a page that missed a change of who is here holds the next one and loads the list whole", async ({ browser }) => {
  // Five page loads before it starts (each new context compiles the debug WASM): room for slow machines.
  test.slow();
  const [alice, bob, carol, dave] = await Person.enterMany(browser, 4);
  const [carolName, daveName] = await Promise.all([carol.name(), dave.name()]);
  const title = uniqueTitle("Missed");
  await alice.createRoom(title);

  // Bob's live channel loses the change that says Carol arrived, as a connection that fell behind would.
  let dropped = 0;
  await bob.page.routeWebSocket(/\/ws$/, (socket) => {
    const server = socket.connectToServer();
    socket.onMessage((frame) => server.send(frame));
    server.onMessage((frame) => {
      const text = String(frame);
      if (dropped === 0 && text.startsWith('{"type":"people"') && text.includes(carolName)) {
        dropped += 1;
        return;
      }
      socket.send(frame);
    });
  });
  await bob.openRoomList();
  await bob.roomLink(title).click();
  await bob.expectInRoom(title);
  const panel = bob.page.getByRole("complementary", { name: /Here now/ });
  await expect(panel.locator(".participant")).toHaveCount(2);

  await carol.roomLink(title).click();
  await carol.expectInRoom(title);
  await expect(alice.page.getByRole("complementary", { name: /Here now/ }).locator(".participant")).toHaveCount(3);
  expect(dropped).toBe(1);
  await expect(panel.locator(".participant")).toHaveCount(2);

  // Dave's arrival does not add up on Bob's page (it would make 3, the server says 4): held, then after about a
  // second the page asks who is here and shows everyone.
  const reloaded = bob.page.waitForRequest((request) => request.url().endsWith("/api/who_is_here"));
  await dave.roomLink(title).click();
  await dave.expectInRoom(title);
  await reloaded;
  await expect(panel.locator(".participant")).toHaveCount(4);
  await expect(panel.locator(".participant", { hasText: carolName })).toBeVisible();
  await expect(panel.locator(".participant", { hasText: daveName })).toBeVisible();
});

test("a whisper never turns public: while its recipient is away it is refused and stays in the box", async ({ browser }) => {
  const [alice, bob, carol] = await Person.enterMany(browser, 3);
  const [aliceName, bobName] = await Promise.all([alice.name(), bob.name()]);
  const title = uniqueTitle("Hush");
  await alice.createRoom(title);
  for (const person of [bob, carol]) {
    await person.roomLink(title).click();
    await person.expectInRoom(title);
  }
  const alicePanel = alice.page.getByRole("complementary", { name: /Here now/ });
  await expect(alicePanel.locator(".participant")).toHaveCount(3);
  const box = alice.page.getByLabel("Message", { exact: true });

  // Whisper mode shows in the box itself.
  await alice.page.getByRole("button", { name: `Whisper to ${bobName}` }).click();
  await expect(box).toBeFocused();
  await expect(box).toHaveAttribute("placeholder", `Whisper to ${bobName}…`);
  await alice.send("first secret");
  await expect(bob.messages().locator(".message.whisper", { hasText: "first secret" })).toBeVisible();

  // Bob's network drops: once he is gone from the list, Alice still whispers to him, and what she sends is refused
  // by name, kept in her box, and reaches nobody.
  await bob.context.setOffline(true);
  await expect(alicePanel.locator(".participant")).toHaveCount(2);
  await expect(alice.page.locator(".whisper-target")).toContainText(`Whispering to ${bobName} (${bobName} is not here now)`);
  await box.fill("typed while bob was offline");
  await box.press("Enter");
  await expect(alice.page.locator(".composer .error")).toHaveText(`${bobName} is not here: your whisper was not sent.`);
  await expect(box).toHaveValue("typed while bob was offline");

  // He is back: the same whisper goes to him alone.
  await bob.context.setOffline(false);
  await expect(alicePanel.locator(".participant")).toHaveCount(3);
  await expect(alice.page.locator(".whisper-away")).toHaveCount(0);
  await box.press("Enter");
  await expect(box).toHaveValue("");
  const received = bob.messages().locator(".message.whisper", { hasText: "typed while bob was offline" });
  await expect(received).toBeVisible();

  // Bob answers privately from the whisper itself.
  await received.getByRole("button", { name: `Reply privately to ${aliceName}` }).click();
  const bobBox = bob.page.getByLabel("Message", { exact: true });
  await expect(bobBox).toBeFocused();
  await expect(bob.page.locator(".whisper-target")).toContainText(`Whispering to ${aliceName}`);
  await bob.send("got it");
  await expect(alice.messages().locator(".message.whisper", { hasText: "got it" })).toContainText("whispered to you");

  // Bob leaves for good: the same as away, the whisper is refused, not sent to everyone.
  await bob.close();
  await expect(alicePanel.locator(".participant")).toHaveCount(2);
  await box.fill("after bob left");
  await box.press("Enter");
  await expect(alice.page.locator(".composer .error")).toHaveText(`${bobName} is not here: your whisper was not sent.`);
  await expect(box).toHaveValue("after bob left");

  // Only Alice ends whisper mode (Escape), and then the box says it is public again.
  await box.press("Escape");
  await expect(alice.page.locator(".whisper-target")).toHaveCount(0);
  await expect(box).toHaveAttribute("placeholder", "Write a message…");
  await box.press("Enter");
  await expect(carol.messages()).toContainText("after bob left");

  // Carol saw none of the whispers, live or after a reload.
  for (const secret of ["first secret", "typed while bob", "got it"]) await expect(carol.messages()).not.toContainText(secret);
  await carol.page.reload();
  await carol.expectInRoom(title);
  await expect(carol.messages()).toContainText("after bob left");
  for (const secret of ["first secret", "typed while bob", "got it"]) await expect(carol.messages()).not.toContainText(secret);
});

test("when the owner deletes the room, the others land on the list told which room is gone", async ({ browser }) => {
  const alice = await Person.enter(browser);
  const bob = await Person.enter(browser);
  const title = uniqueTitle("Doomed");
  await alice.createRoom(title);
  await bob.roomLink(title).click();
  await bob.expectInRoom(title);
  // The owner's actions are in the room's menu, which says who the reader is too.
  await alice.page.locator("summary", { hasText: "Room menu" }).click();
  await expect(alice.page.locator(".menu-you")).toContainText("You are");
  alice.page.once("dialog", (dialog) => dialog.accept());
  await alice.page.getByRole("button", { name: "Delete room…" }).click();
  await expect(bob.page).toHaveURL(/\/\?notice=notFound$/);
  await expect(bob.page.getByRole("alert")).toHaveText(`“${title}” no longer exists.`);
  // The same address loaded whole says it without a name: a link cannot make the list name a room.
  await bob.page.reload();
  await expect(bob.page.getByRole("alert")).toHaveText("This room does not exist (any more).");
});
