import AxeBuilder from "@axe-core/playwright";
import { type Page } from "@playwright/test";
import { Person, expect, test, uniqueTitle } from "./fixtures";

// Alarms: what concerns a person reaches them on whatever page they have open, through the bell.

function bell(page: Page, unread?: number) {
  return page.getByRole("button", { name: unread ? `Alarms, ${unread} unread` : "Alarms", exact: true });
}

/** Bob reacts to the message of Alice's that says `text` (he is in the room). */
async function react(bob: Person, text: string, emoji: string) {
  const message = bob.messages().locator(".message", { hasText: text });
  await message.getByRole("button", { name: "React" }).click();
  await message.getByRole("group", { name: "Reactions to choose from" }).getByRole("button", { name: emoji, exact: true }).click();
}

test("a reaction to Alice's message rings her bell on the room list, links to the message, and her own rings nothing", async ({ browser }) => {
  const alice = await Person.enter(browser);
  const bob = await Person.enter(browser);
  const bobName = await bob.name();
  const title = uniqueTitle("Alarms");
  await alice.createRoom(title);
  const roomPath = new URL(alice.page.url()).pathname;
  await alice.send("react to this");
  // Her own reaction alarms nobody.
  await react(alice, "react to this", "😂");
  await expect(alice.messages().getByRole("button", { name: "😂 1" })).toBeVisible();
  await alice.page.getByRole("link", { name: "← Rooms" }).click();
  await expect(alice.page.getByRole("heading", { name: "Rooms" })).toBeVisible();
  await expect(bell(alice.page)).toBeVisible();

  await bob.roomLink(title).click();
  await bob.expectInRoom(title);
  await react(bob, "react to this", "🎉");
  await expect(bell(alice.page, 1)).toBeVisible({ timeout: 2_000 });
  await expect(alice.page.locator(".bell-count")).toHaveText("1");

  // The panel says who did what, where, and links to the message; opening it marks it read.
  await bell(alice.page, 1).click();
  const panel = alice.page.getByRole("region", { name: "Alarms" });
  const alarm = panel.getByRole("link", { name: `${bobName} reacted 🎉 to your message` });
  await expect(alarm).toHaveAttribute("href", new RegExp(`^${roomPath}#m\\d+$`));
  await expect(panel).toContainText(`in ${title}`);
  await expect(bell(alice.page)).toHaveAttribute("aria-expanded", "true");
  await expect(alice.page.locator(".bell-count")).toHaveCount(0);
  // An unread alarm in the open panel passes the audit (WCAG 2.x A and AA, serious or critical).
  const audit = await new AxeBuilder({ page: alice.page }).include(".bell").withTags(["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]).analyze();
  expect(audit.violations.filter((v) => v.impact === "serious" || v.impact === "critical").map((v) => v.id)).toEqual([]);
  // Escape closes it, the focus back on the bell.
  await alice.page.keyboard.press("Escape");
  await expect(panel).toBeHidden();
  await expect(bell(alice.page)).toBeFocused();
  await bell(alice.page).click();
  await alarm.click();
  await alice.expectInRoom(title);
  await expect(alice.page).toHaveURL(new RegExp(`${roomPath}#m\\d+$`));
  // Read on one page is read on every page.
  const aliceAgain = await alice.context.newPage();
  await aliceAgain.goto("/");
  await expect(bell(aliceAgain)).toBeVisible();
});

test("a whisper to Carol while she looks at another room rings her bell there", async ({ browser }) => {
  const [alice, carol] = await Person.enterMany(browser, 2);
  const [aliceName, carolName] = await Promise.all([alice.name(), carol.name()]);
  const title = uniqueTitle("Whispers");
  await alice.createRoom(title);
  await carol.roomLink(title).click();
  await carol.expectInRoom(title);
  // Alice has her whisper ready; Carol goes to a room of her own (still counted in Alice's for the leave grace).
  await alice.page.getByRole("button", { name: `Whisper to ${carolName}` }).click();
  await alice.page.getByLabel("Message", { exact: true }).fill("come back when you can");
  await carol.page.getByRole("link", { name: "← Rooms" }).click();
  await carol.createRoom(uniqueTitle("Elsewhere"));
  await alice.page.getByLabel("Message", { exact: true }).press("Enter");
  await expect(alice.messages().locator(".whisper").getByText("come back when you can")).toBeVisible();

  await expect(bell(carol.page, 1)).toBeVisible({ timeout: 2_000 });
  await bell(carol.page, 1).click();
  await expect(carol.page.getByRole("region", { name: "Alarms" }).getByRole("link", { name: `${aliceName} whispered to you` })).toBeVisible();
});

test("a page cut off while an alarm arrives shows it after reconnecting, and a reply rings too", async ({ browser }) => {
  const alice = await Person.enter(browser);
  const bob = await Person.enter(browser);
  const bobName = await bob.name();
  const title = uniqueTitle("Offline alarms");
  await alice.createRoom(title);
  await alice.send("anyone?");
  await bob.roomLink(title).click();
  await bob.expectInRoom(title);
  // Alice looks at another room of hers.
  await alice.page.getByRole("link", { name: "← Rooms" }).click();
  await alice.createRoom(uniqueTitle("Elsewhere"));
  await expect(bell(alice.page)).toBeVisible();

  await alice.context.setOffline(true);
  await expect(alice.page.getByRole("status")).toHaveText("Offline — reconnecting…");
  const question = bob.messages().locator(".message", { hasText: "anyone?" });
  await question.hover();
  await question.getByRole("button", { name: "Reply" }).click();
  await bob.send("me!");
  await alice.context.setOffline(false);
  await expect(bell(alice.page, 1)).toBeVisible();
  await bell(alice.page, 1).click();
  await expect(alice.page.getByRole("region", { name: "Alarms" }).getByRole("link", { name: `${bobName} replied to your message` })).toBeVisible();
});

test("without JavaScript the bell leads to the alarms page, whose links and forms work", async ({ browser }) => {
  const alice = await Person.enter(browser);
  const bob = await Person.enter(browser);
  const bobName = await bob.name();
  const title = uniqueTitle("Plain alarms");
  await alice.createRoom(title);
  await alice.send("plain and simple");
  await bob.roomLink(title).click();
  await bob.expectInRoom(title);
  await react(bob, "plain and simple", "👍");

  // Alice's session in a page without JavaScript.
  const plain = await browser.newContext({ javaScriptEnabled: false, storageState: await alice.context.storageState() });
  const page = await plain.newPage();
  await page.goto("/");
  await expect(bell(page, 1)).toBeVisible();
  await bell(page, 1).click();
  await expect(page).toHaveURL(/\/alarms\??$/);
  await expect(page.getByRole("heading", { level: 1 })).toHaveText("Alarms");
  const alarm = page.getByRole("link", { name: `${bobName} reacted 👍 to your message` });
  await expect(alarm).toBeVisible();
  await page.getByRole("button", { name: "Mark all read" }).click();
  await expect(page).toHaveURL(/\/alarms$/);
  await expect(bell(page)).toBeVisible();
  // Muting Bob lists him, with a way back.
  await page.getByRole("button", { name: `Mute ${bobName}` }).click();
  await expect(page.getByRole("region", { name: "Muted" })).toContainText(bobName);
  await page.getByRole("button", { name: "Unmute" }).click();
  await expect(page.getByRole("region", { name: "Muted" })).toHaveCount(0);
  await alarm.click();
  await expect(page.getByRole("heading", { level: 1 })).toContainText(title);
  await plain.close();
});

test("a mention picked from the @ list shows as Carol's name, marked for her, and rings her bell", async ({ browser }) => {
  const [alice, bob, carol] = await Person.enterMany(browser, 3);
  const [aliceName, carolName] = await Promise.all([alice.name(), carol.name()]);
  const title = uniqueTitle("Mentions");
  await alice.createRoom(title);
  for (const person of [bob, carol]) {
    await person.roomLink(title).click();
    await person.expectInRoom(title);
  }
  await expect(alice.page.locator(".room-count")).toContainText("3/10");
  const box = alice.page.getByLabel("Message", { exact: true });
  // Her whole name: the others' may start the same way.
  await box.pressSequentially(`lunch @${carolName}`);
  const list = alice.page.getByRole("listbox", { name: "People to mention" });
  await expect(list.getByRole("option", { name: carolName })).toHaveAttribute("aria-selected", "true");
  await expect(list.getByRole("option", { name: aliceName })).toHaveCount(0);
  await box.press("Enter");
  await expect(list).toBeHidden();
  // (With the look-alike mark when someone here could be taken for her.)
  await expect(box).toHaveValue(new RegExp(`^lunch @${carolName}(#[0-9a-f]+)? $`));
  await box.pressSequentially("now?");
  await box.press("Enter");
  await expect(box).toHaveValue("");

  const onAlice = alice.messages().locator(".message", { hasText: "now?" });
  await expect(onAlice.locator(".mention")).toHaveText(`@${carolName}`);
  const onCarol = carol.messages().locator(".message", { hasText: "now?" });
  await expect(onCarol.locator(".mention-me")).toContainText(`@${carolName}`);
  await expect(bell(carol.page, 1)).toBeVisible({ timeout: 2_000 });
  await bell(carol.page, 1).click();
  await expect(carol.page.getByRole("region", { name: "Alarms" }).getByRole("link", { name: `${aliceName} mentioned you` })).toBeVisible();
  // Bob was not mentioned.
  await expect(bell(bob.page)).toBeVisible();
});

test("talking privately: Bob accepts and both are in a room off the list that Carol cannot open; a decline tells Alice", async ({ browser }) => {
  const [alice, bob, carol] = await Person.enterMany(browser, 3);
  const [aliceName, bobName] = await Promise.all([alice.name(), bob.name()]);
  const title = uniqueTitle("Meeting point");
  await alice.createRoom(title);
  await bob.roomLink(title).click();
  await bob.expectInRoom(title);
  await alice.page.getByRole("button", { name: `Talk privately with ${bobName}` }).click();
  const privateTitle = `${aliceName} and ${bobName}`;
  await alice.expectInRoom(privateTitle);
  await expect(alice.page.getByText("private", { exact: true })).toBeVisible();
  await expect(alice.page.locator(".room-count")).toHaveText("1/2 present");
  const privateUrl = alice.page.url();

  // Bob is invited, wherever he is; Accept takes him in.
  await expect(bell(bob.page, 1)).toBeVisible({ timeout: 2_000 });
  await bell(bob.page, 1).click();
  const panel = bob.page.getByRole("region", { name: "Alarms" });
  await expect(panel).toContainText(`${aliceName} invited you to talk privately`);
  await panel.getByRole("link", { name: "Accept" }).click();
  await bob.expectInRoom(privateTitle);
  await expect(alice.page.locator(".room-count")).toHaveText("2/2 present");
  await bob.send("just us");
  await expect(alice.messages()).toContainText("just us");

  // Not on the list, and to Carol a room that does not exist.
  await expect(carol.roomLink(title)).toBeVisible();
  await expect(carol.roomLink(privateTitle)).toHaveCount(0);
  await carol.page.goto(privateUrl);
  await expect(carol.page.getByRole("heading", { name: "Room not found" })).toBeVisible();

  // Carol invites Alice from the meeting room and Alice declines: Carol is told.
  await carol.page.goto("/");
  await carol.roomLink(title).click();
  await carol.expectInRoom(title);
  await alice.page.goto("/");
  await alice.roomLink(title).click();
  await alice.expectInRoom(title);
  await carol.page.getByRole("button", { name: `Talk privately with ${aliceName}` }).click();
  await carol.expectInRoom(`${await carol.name()} and ${aliceName}`);
  await expect(bell(alice.page, 1)).toBeVisible();
  await bell(alice.page, 1).click();
  await alice.page.getByRole("region", { name: "Alarms" }).getByRole("button", { name: "Decline" }).click();
  await expect(alice.page.getByRole("region", { name: "Alarms" })).not.toContainText("invited you");
  await expect(bell(carol.page, 1)).toBeVisible();
  await bell(carol.page, 1).click();
  await expect(carol.page.getByRole("region", { name: "Alarms" })).toContainText(`${aliceName} declined your invitation`);
});

test("desktop notifications: nothing is asked before Alice opts in; then an alarm while her page is hidden shows one", async ({ browser }) => {
  const alice = await Person.enter(browser);
  const bob = await Person.enter(browser);
  const bobName = await bob.name();
  // The browser's Notification API, recorded (a headless browser shows none), and a page that can be hidden.
  await alice.context.addInitScript(() => {
    const w = window as unknown as { __shown: { title: string; body: string }[]; __asked: number; __hidden: boolean };
    w.__shown = [];
    w.__asked = 0;
    w.__hidden = false;
    class RecordedNotification {
      static permission = "default";
      static async requestPermission() {
        w.__asked += 1;
        RecordedNotification.permission = "granted";
        return "granted";
      }
      onclick: unknown = null;
      constructor(title: string, options?: { body?: string }) {
        w.__shown.push({ title, body: options?.body ?? "" });
      }
    }
    Object.defineProperty(window, "Notification", { value: RecordedNotification, configurable: true });
    Object.defineProperty(document, "hidden", { get: () => w.__hidden, configurable: true });
  });
  await alice.openRoomList();
  const title = uniqueTitle("Notified");
  await alice.createRoom(title);
  await alice.send("first");
  await alice.send("second");
  await bob.roomLink(title).click();
  await bob.expectInRoom(title);
  const recorded = () =>
    alice.page.evaluate(() => {
      const w = window as unknown as { __shown: unknown[]; __asked: number };
      return { shown: w.__shown, asked: w.__asked };
    });

  // Hidden, but not opted in: the bell rings, no notification, nothing asked.
  await alice.page.evaluate(() => ((window as unknown as { __hidden: boolean }).__hidden = true));
  await react(bob, "first", "🔥");
  await expect(bell(alice.page, 1)).toBeVisible();
  expect(await recorded()).toEqual({ shown: [], asked: 0 });

  await alice.page.evaluate(() => ((window as unknown as { __hidden: boolean }).__hidden = false));
  await bell(alice.page, 1).click();
  await alice.page.getByRole("button", { name: "Notify me on this device" }).click();
  await expect(alice.page.getByText("Alarms show as notifications on this device while the page is hidden.")).toBeVisible();
  await alice.page.keyboard.press("Escape");

  // Shown while hidden, not while she looks.
  await react(bob, "second", "👀");
  await expect(bell(alice.page, 1)).toBeVisible();
  await alice.page.evaluate(() => ((window as unknown as { __hidden: boolean }).__hidden = true));
  await bob.send("a reply comes next");
  const second = bob.messages().locator(".message", { hasText: "second" });
  await second.hover();
  await second.getByRole("button", { name: "Reply" }).click();
  await bob.send("got it");
  await expect.poll(async () => (await recorded()).shown).toEqual([{ title: `${bobName} replied to your message`, body: `in ${title}` }]);
  expect((await recorded()).asked).toBe(1);
});
