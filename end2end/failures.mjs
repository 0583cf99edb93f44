// Prints the tests that a Playwright JSON report (the `json` reporter in playwright.config.ts) says did not pass,
// each with the start of its error. scripts/test.sh prints this last when a suite fails: the end of the output is
// what one sees first (and all CI shows), and the list reporter's account is far above it by then.
// Usage: node failures.mjs REPORT.json
import { existsSync, readFileSync } from "node:fs";

const path = process.argv[2];
if (!existsSync(path)) {
  console.log(`no Playwright report at ${path}: the suite did not run (see above)`);
  process.exit(0);
}
const report = JSON.parse(readFileSync(path, "utf8"));
const plain = (text) => text.replace(/\x1b\[[0-9;]*m/g, "");

function* specsOf(suite) {
  yield* suite.specs ?? [];
  for (const inner of suite.suites ?? []) yield* specsOf(inner);
}

for (const error of report.errors ?? []) console.log(`error outside the tests: ${plain(error.message ?? "")}`);
for (const suite of report.suites ?? []) {
  for (const spec of specsOf(suite)) {
    for (const test of spec.tests) {
      if (test.status === "expected" || test.status === "skipped") continue;
      const verdict = { unexpected: "failed", flaky: "flaky (failed, then passed)" }[test.status] ?? test.status;
      console.log(`${verdict}: ${spec.file}:${spec.line} › ${spec.title}`);
      for (const result of test.results) {
        if (result.status === "passed" || result.status === "skipped") continue;
        console.log(`  attempt ${result.retry + 1}, ${result.status} after ${(result.duration / 1000).toFixed(1)} s:`);
        // The first error's stack is kept only in `result.error`; every error has its location.
        const stacks = [result.error?.stack ?? ""];
        for (const [index, error] of (result.errors ?? []).entries()) {
          // The message up to its call log (which repeats the message), then where in our tests it was thrown.
          const message = plain(error.message ?? String(error.value ?? "")).split("\nCall log:")[0];
          const lines = message.split("\n").filter((line) => line.trim() !== "").slice(0, 8);
          let places = plain(stacks[index] ?? "")
            .split("\n")
            .filter((line) => /^\s*at .*tests\/.*\.ts:\d+/.test(line))
            .map((line) => line.trim().replace(/\/\S*\/tests\//, "tests/"));
          if (places.length === 0 && error.location) {
            places = [`at ${error.location.file.replace(/.*\/tests\//, "tests/")}:${error.location.line}`];
          }
          console.log([...lines, ...places].map((line) => `    ${line}`).join("\n"));
        }
      }
    }
  }
}
