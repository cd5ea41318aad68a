// The short soak that CI runs: a mixed load for a few seconds must end with no errors and every chat message
// delivered. Throughput and memory are measured by the long run (`npm run bench -- soak`, docs/BENCHMARKS.md),
// not asserted here: a floor in a test fails on a slow machine without anything being wrong.
import { expect, test } from "bun:test";
import { runSoak } from "../bench/soak.js";

test("short soak: no errors, every message delivered, connections churned throughout", async () => {
  const r = await runSoak(10, { write: false });
  expect(r.errors).toBe(0);
  expect(r.pushFailures).toBe(0);
  expect(r.sent).toBeGreaterThan(0);
  expect(r.delivered).toBe(r.sent);
  expect(r.churnCycles).toBeGreaterThan(0);
}, 60_000);
