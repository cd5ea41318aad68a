// The dependency check `.ci/run` runs (npm run deps): imports between src/ files (static, type-only, dynamic and
// re-exports; TypeScript 7 has no JS compiler API, so they are read by pattern) must not form a cycle, and must point down
// the layers below (docs/design.md, "Layers"). Imports that still go up are listed in KNOWN_UPWARD with what
// removes them; the check fails on any other upward import, and on a listed one that no longer exists, so the
// list only shrinks.
import { readFileSync, readdirSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const SRC = resolve(import.meta.dir, "../src");

/** Lowest first. A file may import its own layer and the layers below it. */
export const LAYERS: string[][] = [
  ["gen", "protocol", "version.ts", "bounds.ts"],
  ["config"],
  ["observe", "lifecycle.ts", "reloader.ts", "systemd"],
  ["backend"],
  ["sessions"],
  ["gateway"],
  ["presence"],
  ["discovery"],
  ["cluster"],
  ["engines"],
  ["hub", "admin", "api"],
  ["doctor"],
  ["node.ts"],
  ["cli", "cli.ts"],
];

/** Upward imports that exist today, each with what removes it (none left; keep the mechanism for the next one). */
const KNOWN_UPWARD: Record<string, string> = {};

function layerOf(file: string): number {
  const top = file.split("/")[0]!;
  const i = LAYERS.findIndex((l) => l.includes(top));
  if (i < 0) throw new Error(`${file}: its folder "${top}" has no layer in scripts/deps-check.ts`);
  return i;
}

function sources(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) sources(p, out);
    else if (p.endsWith(".ts")) out.push(p);
  }
  return out;
}

/** file (relative to src/) → the src/ files it imports. */
export function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const abs of sources(SRC)) {
    const text = readFileSync(abs, "utf8");
    const specs = [
      ...text.matchAll(/^\s*(?:import|export)\b[^;]*?\bfrom\s*["']([^"']+)["']/gms), // import … from, export … from
      ...text.matchAll(/^\s*import\s*["']([^"']+)["']/gm), // import "x" (side effect)
      ...text.matchAll(/\bimport\(\s*["']([^"']+)["']\s*\)/g), // import("x")
    ].map((m) => m[1]!);
    const targets = specs
      .filter((spec) => spec.startsWith("."))
      .map((spec) => relative(SRC, resolve(dirname(abs), spec.replace(/\.js$/, ".ts"))));
    graph.set(relative(SRC, abs), [...new Set(targets)]);
  }
  return graph;
}

/** Strongly connected components of more than one file (Tarjan). */
export function cycles(graph: Map<string, string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>(), low = new Map<string, number>(), stack: string[] = [], onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1) found.push(scc.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

export function check(graph = importGraph()): string[] {
  const problems: string[] = [];
  for (const c of cycles(graph)) problems.push(`import cycle: ${c.join(" ⇄ ")}`);
  const upward = new Set<string>();
  for (const [from, targets] of graph)
    for (const to of targets) {
      if (to.startsWith("gen/") || !graph.has(to)) continue;
      if (layerOf(to) <= layerOf(from)) continue;
      const edge = `${from} -> ${to}`;
      upward.add(edge);
      if (!(edge in KNOWN_UPWARD)) problems.push(`upward import: ${edge} (${LAYERS[layerOf(from)]!.join("/")} may not import ${LAYERS[layerOf(to)]!.join("/")})`);
    }
  for (const edge of Object.keys(KNOWN_UPWARD))
    if (!upward.has(edge)) problems.push(`KNOWN_UPWARD lists "${edge}", which no longer exists: remove it from scripts/deps-check.ts`);
  return problems;
}

if (import.meta.main) {
  const problems = check();
  for (const p of problems) console.error(p);
  if (problems.length) process.exit(1);
  const left = Object.keys(KNOWN_UPWARD).length;
  console.log(`dependencies: no cycles; every import points down the layers${left ? ` (${left} known upward imports left)` : ""}`);
}
