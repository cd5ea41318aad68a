export {};
// npm run test:stress: the README's test command N times in a row (default 5) while stress-ng keeps a core busy,
// no retries: a test that only passes on an idle machine fails here. Stops at the first failing run.
const runs = Number(process.argv[2] ?? 5);
const load = Bun.which("stress-ng")
  ? Bun.spawn(["stress-ng", "--cpu", "1", "--cpu-load", "80", "--timeout", `${runs * 600}s`], { stdout: "ignore", stderr: "ignore" })
  : undefined;
if (!load) console.warn("stress-ng not installed (apt-get install stress-ng): running without extra load");
let code = 0;
for (let i = 1; i <= runs && code === 0; i++) {
  const p = Bun.spawn([process.execPath, "scripts/test.ts"], { stdout: "pipe", stderr: "inherit" });
  const out = await new Response(p.stdout).text();
  code = await p.exited;
  console.log(`run ${i} of ${runs}: ${out.trim().split("\n").at(-1)} (exit ${code})`);
}
load?.kill();
process.exit(code);
