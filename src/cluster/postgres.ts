// The cluster shape's PostgreSQL connection pool (Bun's built-in SQL client: no driver to ship), its schema brought
// to this binary's version before anything is served, and a probe that tells readiness whether it answers.
import { SQL } from "bun";
import { ensurePostgresSchema } from "../backend/cluster/postgres-schema.js";
import type { Config } from "../config/schema.js";
import { redactedUrl } from "../config/url.js";

export interface Postgres {
  sql: SQL;
  /** Why PostgreSQL cannot serve now (the last probe failed), or undefined. */
  notReady(): string | undefined;
  /** The schema versions of the start: from → to (equal when nothing was migrated). */
  schema: { from: number; to: number };
  close(): Promise<void>;
}


export async function openPostgres(cfg: Config, probeEveryMs = 2000): Promise<Postgres> {
  const sql = new SQL({ url: cfg.postgres.url, max: cfg.postgres.maxConnections, connectionTimeout: 5, idleTimeout: 60 });
  let schema: { from: number; to: number };
  try {
    schema = await ensurePostgresSchema(sql);
  } catch (e) {
    await sql.close().catch(() => {});
    throw new Error(`PostgreSQL at ${redactedUrl(cfg.postgres.url)}: ${(e as Error).message}`);
  }
  let failure: string | undefined;
  let probing = false;
  const probe = setInterval(() => {
    if (probing) return;
    probing = true;
    const deadline = setTimeout(() => (failure = "PostgreSQL did not answer a probe within 5 s"), 5000);
    sql`SELECT 1`.then(() => (failure = undefined), (e: Error) => (failure = `PostgreSQL: ${e.message}`))
      .finally(() => {
        clearTimeout(deadline);
        probing = false;
      });
  }, probeEveryMs);
  probe.unref();
  return {
    sql,
    schema,
    notReady: () => failure,
    async close() {
      clearInterval(probe);
      await sql.close({ timeout: 5 });
    },
  };
}
