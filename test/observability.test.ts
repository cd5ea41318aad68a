// The Grafana dashboard and the Prometheus rules under deploy/ against running gateways: every metric a PromQL
// expression names is exported by the embedded or the cluster shape (with PostgreSQL), so a renamed metric fails
// here, not on an operator's dashboard; the rules pass `promtool check rules` where Debian's prometheus is installed.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { type TestNode, startTestNode } from "./support/node.js";
import { type TestRedis, startRedis } from "./support/redis.js";
import { type TestDatabase, createTestDatabase } from "./support/postgres.js";

const ROOT = new URL("..", import.meta.url).pathname;
const dashboard = JSON.parse(readFileSync(`${ROOT}deploy/grafana/imgate.json`, "utf8"));
const rules = parseYaml(readFileSync(`${ROOT}deploy/prometheus/imgate-rules.yml`, "utf8"));
/** Metrics Prometheus itself makes (not a gateway's). */
const PROMETHEUS_OWN = new Set(["up"]);

const dashboardExprs: string[] = dashboard.panels.flatMap((p: any) => p.targets.map((t: any) => t.expr));
const ruleExprs: string[] = rules.groups.flatMap((g: any) => g.rules.map((r: any) => String(r.expr)));

/** Metric names in a PromQL expression: identifiers that select series (imgate_*, and `up`). */
function metricNames(expr: string): string[] {
  return [...new Set([...expr.matchAll(/\b(imgate_[a-z0-9_]+|up)\b(?=\s*[{[)\s]|$)/g)].map((m) => m[1]!))];
}

/** Names with their type from a /metrics exposition (`# TYPE name type`). */
async function exported(n: TestNode): Promise<Map<string, string>> {
  const text = await (await fetch(`http://127.0.0.1:${n.adminPort}/metrics`, { headers: n.adminHeaders })).text();
  return new Map([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1]!, m[2]!]));
}

let embedded: TestNode, cluster: TestNode, redis: TestRedis, db: TestDatabase;
const types = new Map<string, string>();
beforeAll(async () => {
  [redis, db] = await Promise.all([startRedis(), createTestDatabase()]);
  embedded = await startTestNode();
  cluster = await startTestNode({ shape: "cluster", "redis.url": redis.url, "postgres.url": db.url, nodeID: "obs" });
  for (const n of [embedded, cluster]) for (const [k, v] of await exported(n)) types.set(k, v);
}, 30_000);
afterAll(async () => {
  await embedded?.node.stop();
  await cluster?.node.stop();
  await redis?.stop();
  await db?.drop();
});

/** A name as PromQL uses it: a histogram's series carry _bucket, _sum and _count. */
function isExported(name: string): boolean {
  if (types.has(name)) return true;
  const base = name.replace(/_(bucket|sum|count)$/, "");
  return base !== name && types.get(base) === "histogram";
}

describe("deploy/grafana/imgate.json and deploy/prometheus/imgate-rules.yml", () => {
  test("both name metrics at all (the extraction finds what they use)", () => {
    expect(dashboardExprs.length).toBeGreaterThanOrEqual(15);
    expect(ruleExprs.length).toBeGreaterThanOrEqual(8);
    expect(metricNames(dashboardExprs.join("\n"))).toContain("imgate_request_duration_seconds_bucket");
    expect(metricNames(ruleExprs.join("\n"))).toContain("imgate_store_queue_limit");
  });

  test("every metric a dashboard panel or an alert names is exported by a running gateway", () => {
    const missing: string[] = [];
    for (const [where, exprs] of [["dashboard", dashboardExprs], ["rules", ruleExprs]] as const)
      for (const e of exprs) for (const m of metricNames(e)) if (!PROMETHEUS_OWN.has(m) && !isExported(m)) missing.push(`${where}: ${m} in ${e}`);
    expect(missing).toEqual([]);
    // The check can fail: a name no gateway exports is caught.
    expect(isExported("imgate_connection")).toBe(false);
  });

  test("the dashboard imports as is: a Prometheus datasource variable, a node variable, every panel on it", () => {
    const vars = dashboard.templating.list.map((v: any) => `${v.name}:${v.type}`);
    expect(vars).toEqual(expect.arrayContaining(["datasource:datasource", "instance:query"]));
    for (const p of dashboard.panels) {
      expect(p.datasource.uid).toBe("${datasource}");
      for (const t of p.targets) expect(t.expr).toContain('instance=~"$instance"');
    }
    expect(new Set(dashboard.panels.map((p: any) => p.id)).size).toBe(dashboard.panels.length);
  });

  test("the rules pass promtool (Debian's prometheus package), where it is installed", () => {
    const promtool = Bun.which("promtool");
    if (!promtool) {
      console.warn("promtool not installed (apt-get install prometheus): rules checked by the metric test only");
      return;
    }
    const r = Bun.spawnSync([promtool, "check", "rules", `${ROOT}deploy/prometheus/imgate-rules.yml`]);
    expect(r.stderr.toString()).toBe("");
    expect(r.exitCode).toBe(0);
    expect(r.stdout.toString()).toContain(`SUCCESS: ${ruleExprs.length} rules found`);
  });
});
