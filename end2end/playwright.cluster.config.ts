import { defineConfig } from "@playwright/test";
import base from "./playwright.config";

// The suite for a running cluster (scripts/check-cluster.sh starts one with scripts/cluster.sh and runs this):
// browsers go through its load balancer, CLUSTER_LB; CLUSTER_INSTANCES lists the instances' URLs.
const lb = process.env.CLUSTER_LB;
if (!lb) throw new Error("CLUSTER_LB is not set: run this suite through scripts/check-cluster.sh");

export default defineConfig({
  ...base,
  testDir: "./cluster",
  globalSetup: undefined,
  // No JSON report and no retry: scripts/check-cluster.sh runs this once, its list is the account.
  reporter: [["list"]],
  retries: 0,
  use: { ...base.use, baseURL: lb },
});
