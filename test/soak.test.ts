// The short soak that CI runs: a mixed load for a few seconds must end with no errors, every chat message
// delivered, and the server's memory within a loose bound (the long run is `npm run bench -- soak`).
import { expect, test } from "bun:test";
import { runSoak } from "../bench/soak.js";

test("short soak: no errors, everything delivered, memory bounded", async () => {
  const r = await runSoak(10, { write: false });
  expect(r.errors).toBe(0);
  expect(r.pushFailures).toBe(0);
  expect(r.sent).toBeGreaterThan(3000);
  expect(r.delivered).toBe(r.sent);
  expect(r.churnCycles).toBeGreaterThan(50);
  expect(r.rssDriftMB).toBeLessThan(128);
}, 60_000);
