import type { FullConfig } from "@playwright/test";

// `cargo leptos end-to-end` starts the server and this suite at the same moment: wait until the server is ready
// (its readiness probe: the database answers, uploads are writable).
export default async function globalSetup(config: FullConfig) {
  const baseURL = config.projects[0].use.baseURL!;
  const deadline = Date.now() + 120_000;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const response = await fetch(new URL("/readyz", baseURL));
      if (response.ok) return;
      lastError = new Error(`HTTP ${response.status}`);
    } catch (error) {
      lastError = error;
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`server at ${baseURL} did not come up: ${lastError}`);
}
