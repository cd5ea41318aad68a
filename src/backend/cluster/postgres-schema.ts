// The cluster shape's history in PostgreSQL: its schema, as ordered migrations like the SQLite file's. The version
// lives in a one-row table; migrations run in one transaction under an advisory lock, so nodes starting together
// migrate once; a database newer than this binary is refused before anything is written.
import type { SQL } from "bun";

export interface PgMigration {
  version: number;
  what: string;
  sql: string;
}

// Plain tables, b-tree indexes, INSERT … ON CONFLICT … RETURNING in data-modifying CTEs, unnest() arrays: what the store uses
// (docs/cluster.md lists it for PostgreSQL-compatible engines).
export const PG_MIGRATIONS: PgMigration[] = [
  {
    version: 1,
    what: "conversations, messages, memberships with read marks, group members",
    sql: `
      CREATE TABLE conversations (
        conversation_id text PRIMARY KEY,
        max_seq bigint NOT NULL,
        min_seq bigint NOT NULL,
        max_seq_time bigint NOT NULL
      );
      -- The stored bytes are the MsgData replies carry as is (seq included). Idempotency looks up a 53-bit hash of
      -- (sendID, clientMsgID), as the SQLite store does, and re-checks the two on the row; the index is unique on all
      -- three, so two nodes storing one resend at the same moment cannot both succeed.
      CREATE TABLE messages (
        conversation_id text NOT NULL,
        seq bigint NOT NULL,
        send_id text NOT NULL,
        client_msg_id text NOT NULL,
        client_key bigint NOT NULL,
        send_time bigint NOT NULL,
        data bytea NOT NULL,
        PRIMARY KEY (conversation_id, seq)
      );
      CREATE UNIQUE INDEX messages_client ON messages (client_key, send_id, client_msg_id);
      CREATE TABLE user_conversations (
        user_id text NOT NULL,
        conversation_id text NOT NULL,
        has_read_seq bigint NOT NULL DEFAULT 0,
        PRIMARY KEY (user_id, conversation_id)
      );
      CREATE TABLE group_members (
        group_id text NOT NULL,
        user_id text NOT NULL,
        PRIMARY KEY (group_id, user_id)
      );
    `,
  },
];

export const PG_SCHEMA_VERSION = PG_MIGRATIONS[PG_MIGRATIONS.length - 1]!.version;

/** The version the database holds now (0: none of our tables yet). */
export async function pgSchemaVersion(sql: SQL): Promise<number> {
  const [t] = await sql`SELECT to_regclass('imgate_schema') IS NOT NULL AS present`;
  if (!t.present) return 0;
  const [row] = await sql`SELECT version FROM imgate_schema WHERE id = 1`;
  return row ? Number(row.version) : 0;
}

/** Refuses a newer database; otherwise brings it to PG_SCHEMA_VERSION in one transaction. */
export async function ensurePostgresSchema(sql: SQL): Promise<{ from: number; to: number }> {
  return sql.begin(async (tx) => {
    // One node migrates; the others wait here, then find the version current.
    await tx`SELECT pg_advisory_xact_lock(7302158201)`;
    await tx`CREATE TABLE IF NOT EXISTS imgate_schema (id int PRIMARY KEY CHECK (id = 1), version int NOT NULL)`;
    const [row] = await tx`SELECT version FROM imgate_schema WHERE id = 1`;
    const from = row ? Number(row.version) : 0;
    if (from > PG_SCHEMA_VERSION)
      throw new Error(`PostgreSQL holds imgate schema version ${from}, newer than this imgate knows (${PG_SCHEMA_VERSION}): run the imgate that wrote it; nothing was changed`);
    for (const m of PG_MIGRATIONS) if (m.version > from) await tx.unsafe(m.sql);
    await tx`INSERT INTO imgate_schema (id, version) VALUES (1, ${PG_SCHEMA_VERSION}) ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version`;
    return { from, to: PG_SCHEMA_VERSION };
  });
}
