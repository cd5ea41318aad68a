// `imgate doctor`: the preflight an operator runs before swapping OpenIM's gateway for imgate, and again when
// something is wrong. Same flags as `serve`. Prints the effective mapping from OpenIM's keys, the checks, and
// one line per problem with what to change. Exit 0 all good, 1 a dependency unreachable, 2 a config error.
import { ConfigError } from "../config/errors.js";
import { maskedConfig } from "../config/load.js";
import { type MappingRow, readOpenIMFolder } from "../config/openim.js";
import { secretPaths } from "../config/schema.js";
import { diagnose, exitCode, type Finding } from "../doctor/checks.js";
import { configFrom } from "./common.js";
import { CliError } from "./exit.js";

const MASK = new Set([...secretPaths, "discovery.etcd.password"]);

export async function doctor(opts: Record<string, unknown>): Promise<void> {
  const json = Boolean(opts.json);
  const timeoutMs = opts.timeout === undefined ? 3000 : Number(opts.timeout);
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) throw new CliError(`--timeout must be a whole number of milliseconds, got "${opts.timeout}"`, 2);
  let config;
  let mapping: MappingRow[] | undefined;
  let line: string | undefined;
  try {
    config = configFrom(opts);
    if (opts.openimConfig) {
      const r = readOpenIMFolder(String(opts.openimConfig), opts.index === undefined ? 0 : Number(opts.index), process.env);
      mapping = r.mapping.map((m) => (MASK.has(m.ours) && m.value ? { ...m, value: "***" } : m));
      line = r.line;
    }
  } catch (e) {
    const text = e instanceof CliError || e instanceof ConfigError ? e.message.replace(/^config: /, "") : String(e);
    const f: Finding = { area: "config", status: "fail", kind: "config", text };
    if (json) process.stdout.write(JSON.stringify({ checks: [f], exitCode: 2 }) + "\n");
    else process.stdout.write(`imgate doctor\n\nproblems (1)\n  config: ${text}\n\ndoctor: 1 problem: a config error (exit 2)\n`);
    process.exit(2);
  }
  const findings = await diagnose(config, { timeoutMs });
  const code = exitCode(findings);
  if (json) {
    process.stdout.write(JSON.stringify({ shape: config.shape, openim: mapping && { line, mapping }, config: maskedConfig(config), checks: findings, exitCode: code }) + "\n");
    process.exit(code);
  }
  const w = (s = "") => process.stdout.write(s + "\n");
  w(`imgate doctor: shape ${config.shape}${mapping ? `, OpenIM folder ${opts.openimConfig} (${line === "mixed" ? "keys of both lines" : `${line} layout`}, -i ${opts.index ?? 0})` : ""}`);
  if (mapping) {
    w();
    w("OpenIM key → imgate setting");
    const width = Math.max(...mapping.map((m) => m.openim.length));
    const width2 = Math.max(...mapping.map((m) => m.ours.length));
    for (const m of mapping) w(`  ${m.openim.padEnd(width)}  → ${m.ours.padEnd(width2)}  ${JSON.stringify(m.value)}${m.note ? `  (${m.note})` : ""}`);
  }
  w();
  w("checks");
  const label = { ok: "ok  ", warn: "warn", fail: "FAIL" } as const;
  const areaWidth = Math.max(...findings.map((f) => f.area.length));
  for (const f of findings) w(`  ${label[f.status]}  ${f.area.padEnd(areaWidth)}  ${f.text}`);
  const problems = findings.filter((f) => f.status === "fail");
  if (problems.length) {
    w();
    w(`problems (${problems.length})`);
    for (const p of problems) w(`  ${p.area}: ${p.text}${p.fix ? ` → ${p.fix}` : ""}`);
  }
  w();
  if (code === 0) w(`doctor: all good${findings.some((f) => f.status === "warn") ? " (see the warnings above)" : ""}`);
  else w(`doctor: ${problems.length} problem${problems.length === 1 ? "" : "s"}: ${code === 2 ? "a config error (exit 2)" : "a dependency is unreachable (exit 1)"}`);
  process.exit(code);
}
