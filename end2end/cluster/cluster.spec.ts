import { execFileSync } from "node:child_process";
import path from "node:path";
import { Person, TINY_GIF, expect, test, uniqueTitle } from "../tests/fixtures";

// Set by scripts/check-cluster.sh: the balancer, the instances (`http://127.0.0.1:PORT` each, in order) and the
// directory of the cluster's PostgreSQL server.
const lb = process.env.CLUSTER_LB!;
const instances = (process.env.CLUSTER_INSTANCES ?? "").split(" ").filter(Boolean);
const postgresDir = process.env.CLUSTER_POSTGRES_DIR!;

/** The `host:port` of instance `n` (1-based), as nginx names it in `X-Gif-Chat-Upstream`. */
function instanceAddress(n: number): string {
  return new URL(instances[n - 1]).host;
}

/** Someone whose every request the balancer sends to instance `n`, checked on the page that answered. */
async function pinned(browser: Parameters<typeof Person.enter>[0], n: number): Promise<Person> {
  const person = await Person.enterPinned(browser, lb, n);
  // A panic in the browser's wasm stops the page silently: say so in the test's output.
  person.page.on("pageerror", (error) => console.log(`[instance ${n} page error] ${error.message}`));
  person.page.on("console", (message) => {
    if (message.type() === "error") console.log(`[instance ${n} console] ${message.text()}`);
  });
  const response = (await person.page.reload())!;
  expect(response.headers()["x-gif-chat-upstream"]).toBe(instanceAddress(n));
  return person;
}

function postgres(command: "pause" | "resume") {
  execFileSync(path.resolve(__dirname, "../../scripts/postgres.sh"), [command, postgresDir], { stdio: "inherit" });
}

/** The sequence numbers of the messages on a person's page, in the order shown. */
async function shownSeqs(person: Person): Promise<number[]> {
  return person.messages().locator(".message").evaluateAll((items) => items.map((i) => Number(i.getAttribute("data-seq"))));
}

test.beforeAll(() => {
  expect(instances.length, "CLUSTER_INSTANCES lists two instances").toBeGreaterThanOrEqual(2);
});

test("people on different instances share one chat: list, messages, a GIF, a whisper, hand-over and a kick", async ({ browser }) => {
  const alice = await pinned(browser, 1);
  const bob = await pinned(browser, 2);
  const bobName = await bob.name();

  // A room made on instance 1 appears, live, on the list served by instance 2.
  const title = uniqueTitle("Across");
  await alice.createRoom(title);
  await expect(bob.roomLink(title)).toBeVisible();
  await bob.roomLink(title).click();
  await bob.expectInRoom(title);
  await expect(alice.messages()).toContainText(`${bobName} joined`);
  await expect(alice.page.locator(".room-count")).toHaveText(/^2\/\d+ present$/);

  await alice.send("hello from instance 1");
  await expect(bob.messages().locator(".message", { hasText: "hello from instance 1" })).toHaveCount(1);
  await bob.send("hello from instance 2");
  await expect(alice.messages().locator(".message", { hasText: "hello from instance 2" })).toHaveCount(1);

  // Bob's GIF is stored by instance 2 and shown to Alice by instance 1 (through the bucket: no shared directory).
  await bob.page.getByLabel("GIF", { exact: true }).setInputFiles({ name: "tiny.gif", mimeType: "image/gif", buffer: TINY_GIF });
  const gif = alice.messages().locator(`img[alt="GIF from ${bobName}"]`);
  await expect(gif).toBeVisible();
  await expect.poll(() => gif.evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth)).toBe(1);

  // A whisper crosses instances to its one recipient.
  await alice.page.getByRole("button", { name: `Whisper to ${bobName}` }).click();
  await alice.send("a secret for Bob");
  await alice.page.getByRole("button", { name: "Cancel whisper" }).click();
  await expect(bob.messages().locator(".message.whisper", { hasText: "a secret for Bob" })).toContainText("whispered to you");

  // Carol is not pinned: round-robin sends her requests to both instances, and she stays one person. (Requests
  // with her cookies, back to back, so that nothing else of hers, such as a live connection or a file, takes
  // a turn in between.)
  const carol = await Person.enter(browser);
  const carolName = await carol.name();
  const answeredBy = new Set<string>();
  for (let n = 0; n < 4; n++) {
    const response = await carol.context.request.get("/");
    expect(response.ok()).toBe(true);
    answeredBy.add(response.headers()["x-gif-chat-upstream"]);
    expect(await response.text()).toContain(carolName);
  }
  expect(answeredBy).toEqual(new Set([instanceAddress(1), instanceAddress(2)]));
  await carol.roomLink(title).click();
  await carol.expectInRoom(title);
  await expect(carol.messages()).toContainText("hello from instance 2");
  await expect(carol.messages()).not.toContainText("a secret");

  // Alice (instance 1) leaves: Bob (instance 2), present longest after her, becomes the owner, and removes Carol.
  await alice.close();
  await expect(bob.messages()).toContainText(`${bobName} is now the owner`, { timeout: 20_000 });
  await bob.page.getByRole("button", { name: `Remove ${carolName}…` }).click();
  await bob.page.getByRole("button", { name: "Remove and ban" }).click();
  await expect(carol.page).toHaveURL(/\/\?notice=banned$/);
  await expect(bob.messages()).toContainText(`${carolName} was removed by the owner`);

  // Bob saw every message once, in order.
  const seqs = await shownSeqs(bob);
  expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
  expect(new Set(seqs).size).toBe(seqs.length);
});

test("a reaction, an edit, a reply, an unsend and typing cross instances", async ({ browser }) => {
  const alice = await pinned(browser, 1);
  const bob = await pinned(browser, 2);
  const [aliceName, bobName] = await Promise.all([alice.name(), bob.name()]);
  const title = uniqueTitle("Changes across");
  await alice.createRoom(title);
  await expect(bob.roomLink(title)).toBeVisible();
  await bob.roomLink(title).click();
  await bob.expectInRoom(title);
  await alice.send("said on instance 1");
  const onBob = bob.messages().locator(".message", { hasText: "said on instance 1" });
  await expect(onBob).toHaveCount(1);

  // Bob (instance 2) reacts: Alice (instance 1) sees the count and who.
  await onBob.hover();
  await onBob.getByRole("button", { name: "React" }).click();
  await onBob.getByRole("button", { name: "🔥", exact: true }).click();
  const onAlice = alice.messages().locator(".message", { hasText: "said on instance 1" });
  await expect(onAlice.getByRole("button", { name: "🔥 1" })).toHaveAttribute("aria-pressed", "false");
  await onAlice.getByRole("button", { name: "🔥 1" }).hover();
  await expect(onAlice.getByRole("tooltip")).toContainText(bobName);

  // Alice edits it on instance 1: Bob's page has the new text.
  await onAlice.getByRole("button", { name: "Edit" }).click();
  await alice.page.getByLabel("Edit message").fill("edited on instance 1");
  await alice.page.getByLabel("Edit message").press("Enter");
  await expect(bob.messages().locator(".message", { hasText: "edited on instance 1" })).toContainText("(edited)");

  // Bob types and replies; Alice sees him typing, then the reply with its quote.
  const edited = bob.messages().locator(".message", { hasText: "edited on instance 1" });
  await edited.hover();
  await edited.getByRole("button", { name: "Reply" }).click();
  await bob.page.getByLabel("Message", { exact: true }).pressSequentially("an answer from instance 2");
  await expect(alice.page.locator(".typing")).toHaveText(`${bobName} is typing…`);
  await bob.page.getByLabel("Message", { exact: true }).press("Enter");
  const reply = alice.messages().locator(".message", { hasText: "an answer from instance 2" });
  await expect(reply.locator(".quote")).toContainText(aliceName);
  await expect(alice.page.locator(".typing")).toHaveText("");

  // Alice unsends hers: Bob's page shows the tombstone and the reply says so.
  const hers = alice.messages().locator(".message", { hasText: "edited on instance 1" }).first();
  await hers.hover();
  await hers.getByRole("button", { name: "Delete", exact: true }).click();
  await alice.page.getByRole("button", { name: "Delete for everyone" }).click();
  await expect(bob.messages().locator(".body.tombstone")).toHaveText("Message deleted");
  await expect(bob.messages().locator(".message", { hasText: "an answer from instance 2" }).locator(".quote")).toContainText("Message deleted");
});

test("PostgreSQL stops for 10 s: a send waits, saying why, and goes by itself once the database is back", async ({ browser }) => {
  test.setTimeout(120_000);
  const alice = await pinned(browser, 1);
  const bob = await pinned(browser, 2);
  const title = uniqueTitle("Outage");
  await alice.createRoom(title);
  await bob.roomLink(title).click();
  await bob.expectInRoom(title);
  await alice.send("before the outage");
  await expect(bob.messages()).toContainText("before the outage");

  postgres("pause");
  const stopped = Date.now();
  let resumed = false;
  const pending = alice.messages().locator(".message.pending", { hasText: "written during the outage" });
  try {
    await alice.send("written during the outage");
    await expect(pending).toContainText("The chat cannot reach its database right now.");
    await alice.page.waitForTimeout(Math.max(0, 10_000 - (Date.now() - stopped)));
    postgres("resume");
    resumed = true;
  } finally {
    if (!resumed) postgres("resume");
  }

  // Nobody presses anything: it is sent again until the database is back in every instance's pool.
  await expect(alice.messages().locator(".message:not(.pending)", { hasText: "written during the outage" })).toHaveCount(1, {
    timeout: 60_000,
  });
  await expect(pending).toHaveCount(0);

  // Bob gets it once; nobody was taken out of the room by the outage, and the live channels carry on both ways.
  await expect(bob.messages().locator(".message", { hasText: "written during the outage" })).toHaveCount(1);
  await expect(alice.page.locator(".room-count")).toHaveText(/^2\/\d+ present$/);
  await bob.send("after the outage");
  await expect(alice.messages().locator(".message", { hasText: "after the outage" })).toHaveCount(1);
  const seqs = await shownSeqs(bob);
  expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
  expect(new Set(seqs).size).toBe(seqs.length);
});

test("an alarm crosses instances: Bob on instance 2 reacts, Alice's bell on instance 1 rings", async ({ browser }) => {
  const alice = await pinned(browser, 1);
  const bob = await pinned(browser, 2);
  const bobName = await bob.name();
  const title = uniqueTitle("Alarm across");
  await alice.createRoom(title);
  await alice.send("ring me from over there");
  await alice.page.getByRole("link", { name: "← Rooms" }).click();
  await expect(alice.page.getByRole("button", { name: "Alarms", exact: true })).toBeVisible();

  await bob.roomLink(title).click();
  await bob.expectInRoom(title);
  const message = bob.messages().locator(".message", { hasText: "ring me from over there" });
  await message.getByRole("button", { name: "React" }).click();
  await message.getByRole("group", { name: "Reactions to choose from" }).getByRole("button", { name: "🔥", exact: true }).click();
  await expect(alice.page.getByRole("button", { name: "Alarms, 1 unread", exact: true })).toBeVisible({ timeout: 2_000 });
  await alice.page.getByRole("button", { name: "Alarms, 1 unread", exact: true }).click();
  await expect(alice.page.getByRole("region", { name: "Alarms" }).getByRole("link", { name: `${bobName} reacted 🔥 to your message` })).toBeVisible();
});
