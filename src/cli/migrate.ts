// `imgate migrate`: an embedded data dir into the cluster shape (backend/cluster/migrate-embedded.ts). Run it with
// the embedded node stopped; start the cluster nodes (with the data dir's secret) once it reports every count.
import { join } from "node:path";
import { existsSync } from "node:fs";
import { SQL } from "bun";
import { openDatabase, DB_FILE } from "../backend/embedded/db.js";
import { migrateEmbedded } from "../backend/cluster/migrate-embedded.js";
import { createRedis, waitReady } from "../cluster/redis.js";
import { redactedUrl } from "../config/url.js";
import { redisConfigured } from "../config/redis.js";
import { configFrom } from "./common.js";
import { CliError } from "./exit.js";

export async function migrate(opts: Record<string, unknown>): Promise<void> {
  const config = configFrom({ ...opts, shape: "cluster" });
  if (!config.postgres.url) throw new CliError("--postgres URL (or postgres.url) names where the history goes", 2);
  if (!redisConfigured(config)) throw new CliError("--redis URL (or the redis keys) names where the token states go", 2);
  const path = join(config.dataDir, DB_FILE);
  if (!existsSync(path)) throw new CliError(`no database in ${config.dataDir} (${DB_FILE}): nothing to migrate`, 1);
  const json = Boolean(opts.json);
  const db = openDatabase(config.dataDir);
  const sql = new SQL({ url: config.postgres.url, max: 4, connectionTimeout: 10 });
  const redis = createRedis(config, "migrate");
  try {
    if (!(await waitReady(redis, 10_000))) throw new CliError("Redis is not reachable: nothing was changed", 1);
    let shown = 0;
    const report = await migrateEmbedded({
      db, sql, redis,
      progress: (what, done, total) => {
        if (json || done - shown < 50_000) return;
        shown = done;
        process.stderr.write(`  ${what}: ${done} of ${total}\n`);
      },
    });
    if (json) process.stdout.write(JSON.stringify(report) + "\n");
    else {
      process.stdout.write(`migrated ${config.dataDir} into ${redactedUrl(config.postgres.url)} and Redis:\n`);
      for (const s of report.steps)
        process.stdout.write(`  ${s.what.padEnd(28)} ${String(s.source).padStart(9)} in the data dir, ${String(s.written).padStart(9)} written now, ${String(s.verified).padStart(9)} verified\n`);
      process.stdout.write(report.ok
        ? `every count verified. Start the cluster nodes with --postgres and --redis, and with this data dir's secret (secret: the content of ${join(config.dataDir, "secret")}, or copy that file into each node's data dir) so its tokens stay valid.\n`
        : "some counts do not match: run the same command again (it writes only what is missing) and read the lines above.\n");
    }
    if (!report.ok) throw new CliError("the counts were not all verified", 1);
  } finally {
    db.close();
    redis.disconnect();
    await sql.close({ timeout: 5 }).catch(() => {});
  }
}
