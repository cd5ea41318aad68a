// The dependency check CI runs: the source tree passes it, and it does catch a cycle and an upward import.
import { expect, test } from "bun:test";
import { check, cycles, importGraph } from "../scripts/deps-check.js";

test("src/ has no import cycle and no upward import beyond the known list", () => {
  const graph = importGraph();
  expect(graph.get("node.ts")).toContain("hub/server.ts"); // the reader sees imports at all
  expect(graph.get("hub/server.ts")).toContain("hub/deps.ts"); // type-only imports included
  expect(check(graph)).toEqual([]);
});

test("a cycle and an upward import are reported", () => {
  const graph = importGraph();
  graph.set("protocol/errors.ts", [...graph.get("protocol/errors.ts")!, "gateway/server.ts"]);
  const problems = check(graph);
  expect(problems.some((p) => p.startsWith("upward import: protocol/errors.ts -> gateway/server.ts"))).toBe(true);
  expect(cycles(new Map([["a.ts", ["b.ts"]], ["b.ts", ["c.ts"]], ["c.ts", ["a.ts"]], ["d.ts", ["a.ts"]]]))).toEqual([["a.ts", "b.ts", "c.ts"]]);
});
