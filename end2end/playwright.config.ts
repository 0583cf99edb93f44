import { defineConfig, devices } from "@playwright/test";

// The server is started by `cargo leptos end-to-end` (or by you, with `cargo leptos watch`); global-setup waits
// until it answers. Playwright never downloads a browser here: it drives Debian's Chromium.
const baseURL = process.env.BASE_URL ?? "http://127.0.0.1:3000";

export default defineConfig({
  testDir: "./tests",
  globalSetup: "./global-setup.ts",
  timeout: 60_000,
  expect: { timeout: 10_000 },
  fullyParallel: false,
  workers: 1,
  forbidOnly: !!process.env.CI,
  // scripts/test.sh allows one retry (PLAYWRIGHT_RETRIES=1) and names every test that needed it at its end;
  // run by hand, a failure is a failure.
  retries: Number(process.env.PLAYWRIGHT_RETRIES ?? 0),
  // The JSON report lets scripts/test.sh repeat what failed as its last lines (CI shows the end of the output).
  reporter: [["list"], ["json", { outputFile: process.env.PLAYWRIGHT_REPORT ?? "../target/playwright/report.json" }]],
  use: {
    baseURL,
    trace: "retain-on-failure",
  },
  projects: [
    {
      name: "chromium",
      use: {
        ...devices["Desktop Chrome"],
        browserName: "chromium",
        launchOptions: {
          executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
          args: [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
          ],
        },
      },
    },
  ],
});
