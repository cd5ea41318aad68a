export {};
// Runs `bun test`, passes its output through, and ends with the closing line CI reads:
// "N passed, N failed[, N skipped]", computed from bun's own summary. Exits with bun's exit code.
// Integration tests start servers and child processes: 30 s per test unless the caller says otherwise.
const args = process.argv.slice(2);
if (!args.some((a) => a.startsWith("--timeout"))) args.push("--timeout", "30000");
const proc = Bun.spawn([process.execPath, "test", ...args], { stdout: "inherit", stderr: "pipe", stdin: "ignore" });
let tail = "";
const decoder = new TextDecoder();
for await (const chunk of proc.stderr) {
  process.stderr.write(chunk);
  tail = (tail + decoder.decode(chunk, { stream: true })).slice(-8192);
}
const code = await proc.exited;
const count = (word: string) => Number(tail.match(new RegExp(`^\\s*(\\d+) ${word}$`, "m"))?.[1] ?? 0);
const passed = count("pass"), failed = count("fail"), skipped = count("skip") + count("todo");
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`);
process.exit(code);
