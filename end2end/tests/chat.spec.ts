import { CLIP_GIF, Person, TINY_GIF, expect, test, uniqueTitle } from "./fixtures";

test("two people chat live: a new room appears, messages and a GIF flow both ways", async ({ browser }) => {
  const alice = await Person.enter(browser);
  const bob = await Person.enter(browser);

  // Two sessions, two identities.
  const aliceName = await alice.page.locator(".you .person-name").textContent();
  const bobName = await bob.page.locator(".you .person-name").textContent();
  const aliceColor = await alice.page.locator(".you .person").getAttribute("style");
  const bobColor = await bob.page.locator(".you .person").getAttribute("style");
  expect(aliceName).not.toEqual(bobName);
  expect(aliceColor).not.toEqual(bobColor);

  const title = uniqueTitle("Cats");
  await alice.createRoom(title);

  // Bob's list shows the room without a reload.
  await expect(bob.roomLink(title)).toBeVisible();
  await bob.roomLink(title).click();
  await bob.expectInRoom(title);
  await expect(alice.messages()).toContainText(`${bobName} joined`);
  await expect(alice.page.locator(".room-count")).toHaveText(/^2\/10 present$/);

  await alice.send("Hello from Alice");
  await expect(bob.messages().locator(".message", { hasText: "Hello from Alice" })).toBeVisible();
  // Alice sees her own message marked as hers.
  await expect(alice.messages().locator(".message.mine", { hasText: "Hello from Alice" })).toBeVisible();

  await bob.page.getByLabel("Message", { exact: true }).fill("Hi Alice\nsecond line");
  await bob.page.getByRole("button", { name: "Send" }).click();
  await expect(alice.messages().locator(".message", { hasText: "second line" })).toBeVisible();

  await alice.page.getByLabel("GIF", { exact: true }).setInputFiles({ name: "tiny.gif", mimeType: "image/gif", buffer: TINY_GIF });
  const gif = bob.messages().locator(`img[alt="GIF from ${aliceName}"]`);
  await expect(gif).toBeVisible();
  await expect.poll(() => gif.evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth)).toBe(1);
  // A 1×1 GIF is still something to see (a minimum size), not an empty bubble.
  const shown = await gif.boundingBox();
  expect(shown!.width).toBeGreaterThanOrEqual(48);
  expect(shown!.height).toBeGreaterThanOrEqual(48);

  // A file that is not a GIF is refused with a message.
  await alice.page.getByLabel("GIF", { exact: true }).setInputFiles({ name: "fake.gif", mimeType: "image/gif", buffer: Buffer.from("<html>not a gif</html>") });
  await expect(alice.page.getByRole("alert")).toHaveText("That file is not a GIF.");
});

test("a wrong password is refused and the right one lets you in", async ({ browser }) => {
  const alice = await Person.enter(browser);
  const title = uniqueTitle("Secret");
  await alice.createRoom(title, { password: "open sesame" });

  const carol = await Person.enter(browser);
  await carol.roomLink(title).click();
  await expect(carol.page.getByText("This room is locked")).toBeVisible();
  await carol.waitForHydration();
  await carol.page.getByLabel("Password").fill("open says me");
  // The hydrated form asks the server function itself; the page stays (only without the WASM does it post).
  const asked = carol.page.waitForRequest((request) => request.url().endsWith("/api/enter_room"));
  await carol.page.getByRole("button", { name: "Enter" }).click();
  expect((await asked).isNavigationRequest()).toBe(false);
  await expect(carol.page.getByRole("alert")).toHaveText("Wrong password.");
  expect(carol.page.url()).not.toContain("sesame");

  await carol.page.getByLabel("Password").fill("open sesame");
  await carol.page.getByRole("button", { name: "Enter" }).click();
  await carol.expectInRoom(title);
  expect(carol.page.url()).not.toContain("sesame");
});

test("entering a room puts the cursor in the message box, and a locked room's page in its password field", async ({ browser }) => {
  const alice = await Person.enter(browser);
  const title = uniqueTitle("Focus");
  await alice.createRoom(title, { password: "open sesame" });
  const box = (person: Person) => person.page.getByLabel("Message", { exact: true });
  await expect(box(alice)).toBeFocused();
  // A page loaded whole too, not only one the router brought.
  await alice.page.reload();
  await alice.expectInRoom(title);
  await expect(box(alice)).toBeFocused();

  const bob = await Person.enter(browser);
  await bob.roomLink(title).click();
  await expect(bob.page.getByText("This room is locked")).toBeVisible();
  await bob.waitForHydration();
  await expect(bob.page.getByLabel("Password")).toBeFocused();
  // Typed, never clicked: the cursor is where the typing goes.
  await bob.page.keyboard.type("open sesame");
  await bob.page.keyboard.press("Enter");
  await bob.expectInRoom(title);
  await expect(box(bob)).toBeFocused();
  await bob.page.keyboard.type("straight in");
  await bob.page.keyboard.press("Enter");
  await expect(alice.messages().getByText("straight in")).toBeVisible();
});

test("web addresses in messages are links that open apart; anything else stays text", async ({ browser }) => {
  const alice = await Person.enter(browser);
  const bob = await Person.enter(browser);
  const title = uniqueTitle("Links");
  await alice.createRoom(title);
  await bob.roomLink(title).click();
  await bob.expectInRoom(title);
  await alice.send("read https://example.com/page?x=1&y=2. then tell me");
  await alice.send("javascript:alert(1) and <b>not bold</b>");

  for (const page of [bob, alice]) {
    const link = page.messages().getByRole("link", { name: "https://example.com/page?x=1&y=2" });
    await expect(link).toHaveAttribute("href", "https://example.com/page?x=1&y=2");
    await expect(link).toHaveAttribute("target", "_blank");
    await expect(link).toHaveAttribute("rel", "noopener noreferrer nofollow ugc");
    await expect(page.messages().locator(".message", { hasText: "then tell me" })).toContainText("read https://example.com/page?x=1&y=2. then tell me");
    const other = page.messages().locator(".message", { hasText: "javascript:alert(1)" });
    await expect(other.locator(".body")).toHaveText("javascript:alert(1) and <b>not bold</b>");
    await expect(other.locator("a, b")).toHaveCount(0);
  }
  // Rendered by the server the same (a page loaded whole).
  await bob.page.reload();
  await bob.expectInRoom(title);
  await expect(bob.messages().getByRole("link", { name: "https://example.com/page?x=1&y=2" })).toHaveAttribute(
    "rel",
    "noopener noreferrer nofollow ugc",
  );
  await expect(bob.messages().locator(".message", { hasText: "javascript:alert(1)" }).locator("a")).toHaveCount(0);
});

test("a room's title and a message say how many characters they still take, near their limits", async ({ browser }) => {
  const alice = await Person.enter(browser);
  await alice.waitForHydration();
  await alice.page.locator("summary", { hasText: "New room" }).click();
  const title = alice.page.getByLabel("Title");
  const titleLeft = alice.page.locator("#room-title-left");
  await title.fill("short");
  await expect(titleLeft).toBeHidden();
  await title.fill("x".repeat(75));
  await expect(titleLeft).toBeVisible();
  await expect(titleLeft).toHaveText("5 characters left");
  await expect(title).toHaveAttribute("aria-describedby", "room-title-left");
  await alice.page.keyboard.press("Escape");
  await alice.createRoom(uniqueTitle("Limits"));

  const box = alice.page.getByLabel("Message", { exact: true });
  const left = alice.page.locator("#message-left");
  await box.fill("hello");
  await expect(left).toBeHidden();
  await box.fill("y".repeat(1990));
  await expect(left).toHaveText("10 characters left");
  // Counted as the server counts: characters, not bytes.
  await box.fill("é".repeat(1999));
  await expect(left).toHaveText("1 character left");
  await box.fill("hi");
  await expect(left).toBeHidden();
});

test("a half-typed message is kept per room through a reload, and gone once sent", async ({ browser }) => {
  const alice = await Person.enter(browser);
  const bob = await Person.enter(browser);
  const first = uniqueTitle("Draft");
  await alice.createRoom(first);
  const firstUrl = alice.page.url();
  await bob.roomLink(first).click();
  await bob.expectInRoom(first);
  const box = alice.page.getByLabel("Message", { exact: true });
  await box.pressSequentially("half a thought");
  await alice.page.reload();
  await alice.expectInRoom(first);
  await expect(box).toHaveValue("half a thought");

  // Another room has its own (none yet).
  await alice.page.goto("/");
  const second = uniqueTitle("Other");
  await alice.createRoom(second);
  await expect(box).toHaveValue("");
  await box.pressSequentially("for the other room");
  await alice.page.goto(firstUrl);
  await alice.expectInRoom(first);
  await expect(box).toHaveValue("half a thought");

  // Sent, it is no longer kept.
  await box.press("Enter");
  await expect(bob.messages().getByText("half a thought")).toBeVisible();
  await alice.page.reload();
  await alice.expectInRoom(first);
  await expect(box).toHaveValue("");
});

test("a full room is marked on the list, its page waits for a place, and the room goes after everyone leaves", async ({ browser }) => {
  const alice = await Person.enter(browser);
  const bob = await Person.enter(browser);
  const title = uniqueTitle("Pair");
  await alice.createRoom(title, { maxMembers: 2 });
  await bob.roomLink(title).click();
  await bob.expectInRoom(title);
  await expect(alice.page.locator(".room-count")).toHaveText("2/2 present");

  const carol = await Person.enter(browser);
  const card = carol.page.locator(".room-card", { hasText: title });
  await expect(card).toContainText("2/2 present");
  await expect(card.locator(".room-flag")).toHaveText("Full");
  await carol.roomLink(title).click();
  await expect(carol.page.getByRole("alert")).toContainText("This room is full");
  await expect(carol.page.getByRole("alert")).toContainText("waits for a place");

  // Bob leaves: once his leave grace is over, Carol's page takes her in by itself.
  await bob.close();
  await carol.expectInRoom(title);
  await expect(carol.page.locator(".room-count")).toHaveText("2/2 present");

  // Both leave: after the leave and room grace periods the room goes, live, from Carol's list.
  await carol.openRoomList();
  await alice.close();
  await expect(carol.roomLink(title)).toHaveCount(0, { timeout: 20_000 });
});

test("sending too fast is explained plainly, and the typed text is kept", async ({ browser }) => {
  const alice = await Person.enter(browser);
  await alice.createRoom(uniqueTitle("Fast"));
  await alice.waitForHydration();
  // A script in Alice's browser (it shares her cookies) uses up her burst of quick messages.
  const room = new URL(alice.page.url()).pathname.split("/").pop()!;
  let sent = 0;
  while ((await alice.page.request.post("/api/send_message", { form: { room, body: `burst ${sent}` } })).ok()) {
    sent += 1;
    expect(sent).toBeLessThan(100);
  }
  const composer = alice.page.getByLabel("Message", { exact: true });
  await composer.fill("one more thing");
  await alice.page.getByRole("button", { name: "Send" }).click();
  await expect(alice.page.getByRole("alert")).toHaveText(/^You are sending too fast\. Wait \d+ s\.$/);
  await expect(composer).toHaveValue("one more thing");
});

test("the room list can be searched by title", async ({ browser }) => {
  const alice = await Person.enter(browser);
  const title = uniqueTitle("Marmalade");
  await alice.createRoom(title);
  const bob = await Person.enter(browser);
  const search = bob.page.getByLabel("Find a room");
  await search.fill(title.toLowerCase());
  await expect(bob.page.locator(".room-card")).toHaveCount(1);
  await expect(bob.roomLink(title)).toBeVisible();
  await search.fill("no such room anywhere");
  await expect(bob.page.getByText("No room's title contains “no such room anywhere”.")).toBeVisible();
  await search.fill("");
  await expect(bob.roomLink(title)).toBeVisible();
});

test("sending while scrolled up brings the view to the bottom, where one's own message is", async ({ browser }) => {
  const alice = await Person.enter(browser);
  const bob = await Person.enter(browser);
  const title = uniqueTitle("Scroll");
  await alice.createRoom(title);
  await bob.roomLink(title).click();
  await bob.expectInRoom(title);
  // Enough for the log to scroll (tall messages: the tests' send limit is 20 per person), then Alice reads back up.
  for (let n = 0; n < 12; n++) await bob.send(`part ${n} of a long story\nwith\nseveral\nlines\neach`);
  await expect(alice.messages().getByText("part 11 of a long story")).toBeInViewport();
  await alice.messages().locator("ol.messages").evaluate((list) => list.scrollTo({ top: 0 }));
  await expect(alice.messages().getByText("part 11 of a long story")).not.toBeInViewport();
  await alice.send("my answer, at the bottom");
  await expect(alice.messages().locator(".message.mine", { hasText: "my answer, at the bottom" })).toBeInViewport();
});

test("the GIF picker posts from this room, one's own and the library without uploading, and finds by a word's start", async ({ browser }) => {
  const alice = await Person.enter(browser);
  await alice.createRoom(uniqueTitle("Shared"));
  // Alice shares her GIF to the library as she uploads it.
  await alice.page.getByLabel("Add to the library").check();
  await alice.page.getByLabel("Words to find it by").fill("dancing robot");
  await alice.page.getByLabel("GIF", { exact: true }).setInputFiles({ name: "clip.gif", mimeType: "image/gif", buffer: CLIP_GIF });
  await expect(alice.messages().locator(".gif-frame")).toHaveCount(1);

  const bob = await Person.enter(browser);
  await bob.createRoom(uniqueTitle("Elsewhere"));
  await bob.page.getByLabel("GIF", { exact: true }).setInputFiles({ name: "tiny.gif", mimeType: "image/gif", buffer: TINY_GIF });
  await expect(bob.messages().locator(".gif-frame")).toHaveCount(1);
  // From here on, nothing goes to the upload route.
  const uploads: string[] = [];
  bob.page.on("request", (request) => {
    if (/\/room\/\d+\/gif$/.test(new URL(request.url()).pathname)) uploads.push(request.url());
  });
  const picker = bob.page.getByRole("dialog", { name: "Choose a GIF" });
  const open = async () => {
    await bob.page.getByRole("button", { name: "Choose a GIF" }).click();
    await expect(picker).toBeVisible();
  };

  // The library, searched by the start of a word.
  await open();
  await picker.getByRole("tab", { name: "Library" }).click();
  await picker.getByLabel("Search the library").fill("bot");
  await expect(picker.getByText("No GIF in the library has those words.")).toBeVisible();
  await picker.getByLabel("Search the library").fill("rob");
  await picker.getByRole("button", { name: "Post the GIF “dancing robot”" }).click();
  await expect(picker).toBeHidden();
  await expect(bob.messages().locator(".gif-frame")).toHaveCount(2);

  // Mine: his own upload. The keyboard moves between the tabs.
  await open();
  await picker.getByRole("tab", { name: "Library" }).focus();
  await bob.page.keyboard.press("ArrowLeft");
  await expect(picker.getByRole("tab", { name: "Mine" })).toHaveAttribute("aria-selected", "true");
  await expect(picker.getByRole("tab", { name: "Mine" })).toBeFocused();
  await picker.getByRole("button", { name: "Post GIF 1 of 1" }).click();
  await expect(picker).toBeHidden();
  await expect(bob.messages().locator(".gif-frame")).toHaveCount(3);

  // This room: both GIFs it shows; Escape closes the picker.
  await open();
  await picker.getByRole("tab", { name: "This room" }).click();
  await expect(picker.getByRole("button", { name: /^Post GIF \d of 2$/ })).toHaveCount(2);
  await bob.page.keyboard.press("Escape");
  await expect(picker).toBeHidden();
  await open();
  await picker.getByRole("tab", { name: "This room" }).click();
  await picker.getByRole("button", { name: "Post GIF 2 of 2" }).click();
  await expect(bob.messages().locator(".gif-frame")).toHaveCount(4);
  expect(uploads).toEqual([]);
});
