export {};
// Runs `bun test`, passes its output through, and ends with the closing line CI reads:
// "N passed, N failed[, N skipped]", computed from bun's own summary. Exits with bun's exit code.
// Before that line: the ten slowest test files (wall time from one file's first line to the next's).
// `--fast` (npm run test:fast) leaves out the files that need a browser, kill processes, build the binary or run
// load, for a development loop under 30 s; CI runs everything.
// Integration tests start servers and child processes: 30 s per test unless the caller says otherwise.
import { readdirSync } from "node:fs";

// Browser: *.browser. Kill or supervise processes: crash, workers, rolling, redis-failover, the cluster suites (their
// Redis Cluster and Sentinel topologies). Build binaries or images: binary, release, image. Load: soak, robustness,
// drain, hostile.
const SLOW = /(\.browser\.test\.ts|\/(crash|soak|robustness|cluster(-\w+)?|openim-dropin|binary|release|image|workers|rolling|redis-failover|drain|hostile)\.test\.ts)$/;
const args = process.argv.slice(2).filter((a) => a !== "--fast");
if (process.argv.includes("--fast")) {
  const files = readdirSync("test").filter((f) => f.endsWith(".test.ts")).map((f) => `test/${f}`).filter((f) => !SLOW.test(f));
  args.push(...files.map((f) => `./${f}`));
}
if (!args.some((a) => a.startsWith("--timeout"))) args.push("--timeout", "30000");
const proc = Bun.spawn([process.execPath, "test", ...args], { stdout: "inherit", stderr: "pipe", stdin: "ignore" });
let tail = "";
let pending = "";
const durations = new Map<string, number>();
let current: { file: string; since: number } | undefined;
const decoder = new TextDecoder();
const closeFile = (now: number) => {
  if (current) durations.set(current.file, (durations.get(current.file) ?? 0) + (now - current.since));
};
for await (const chunk of proc.stderr) {
  process.stderr.write(chunk);
  const text = decoder.decode(chunk, { stream: true });
  tail = (tail + text).slice(-8192);
  pending += text;
  const lines = pending.split("\n");
  pending = lines.pop()!;
  for (const line of lines) {
    const m = /^(\S+\.test\.ts):$/.exec(line.trim());
    if (!m) continue;
    const now = performance.now();
    closeFile(now);
    current = { file: m[1]!, since: now };
  }
}
const code = await proc.exited;
closeFile(performance.now());
const slowest = [...durations].sort((a, b) => b[1] - a[1]).slice(0, 10);
if (slowest.length) {
  console.log("slowest test files:");
  for (const [file, ms] of slowest) console.log(`  ${(ms / 1000).toFixed(1).padStart(6)} s  ${file}`);
}
const count = (word: string) => Number(tail.match(new RegExp(`^\\s*(\\d+) ${word}$`, "m"))?.[1] ?? 0);
const passed = count("pass"), failed = count("fail"), skipped = count("skip") + count("todo");
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`);
process.exit(code);
