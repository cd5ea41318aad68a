// `imgate migrate`: an embedded data dir into the cluster shape (history in PostgreSQL, token states and the SDKs'
// directory in Redis). Every conversation with its seqs and message bytes as stored (serverMsgIDs and send times
// inside them), min/max seqs, memberships with read marks, groups, the states of unexpired tokens (a kicked one
// stays kicked), and what OpenIM's SDKs keep (profiles, group records and roles, each user's groups, conversation
// settings; the version logs start anew, so each SDK's first sync there is a full one). Each
// step writes only what is missing (ON CONFLICT DO NOTHING, GREATEST for seqs and read marks), in chunks of their
// own transactions, so an interrupted run is run again and a second run changes nothing. The counts are verified
// against the source at the end.
import type { Database } from "bun:sqlite";
import type { SQL } from "bun";
import type { Cluster, Redis } from "ioredis";
import { recordTokenState, tokenStateKey } from "./auth.js";
import { ensureRedisLayout } from "./layout.js";
import { ensurePostgresSchema } from "./postgres-schema.js";
import { infoKey, joinedKey, profileKey, roleKey, settingsKey } from "./directory.js";

const CHUNK = 2000;

/** `f` over `rows` in chunks of `size`, one after another; the sum of what each returns. */
async function chunked<T>(rows: T[], size: number, f: (chunk: T[]) => Promise<number>): Promise<number> {
  let total = 0;
  for (let i = 0; i < rows.length; i += size) total += await f(rows.slice(i, i + size));
  return total;
}

export interface MigrateStep {
  what: string;
  /** Rows in the source. */
  source: number;
  /** Rows this run wrote (the rest were there already). */
  written: number;
  /** Rows of the source found in the target at the end. */
  verified: number;
}

export interface MigrateReport {
  steps: MigrateStep[];
  ok: boolean;
}

export async function migrateEmbedded(o: {
  db: Database;
  sql: SQL;
  redis: Redis | Cluster;
  progress?: (what: string, done: number, total: number) => void;
}): Promise<MigrateReport> {
  const { db, sql, redis } = o;
  await ensurePostgresSchema(sql);
  await ensureRedisLayout(redis);
  const count = (q: string) => db.query<{ n: number }, []>(q).get()!.n;
  const steps: MigrateStep[] = [];
  // The rows other than messages are read once: written from these, and verified against them.
  const src = sourceRows(db);

  // Messages, in (conversation, seq) order by keyset pages: resumable, and no read held open across the writes.
  {
    const total = count("SELECT count(*) AS n FROM messages");
    const page = db.query<{ conversation_id: string; seq: number; send_id: string; client_msg_id: string; client_key: number; send_time: number; data: Uint8Array }, [string, number, number]>(
      `SELECT conversation_id, seq, send_id, client_msg_id, client_key, send_time, data FROM messages
       WHERE (conversation_id, seq) > (?, ?) ORDER BY conversation_id, seq LIMIT ?`);
    let after: [string, number] = ["", 0], written = 0, done = 0;
    for (;;) {
      const rows = page.all(after[0], after[1], CHUNK);
      if (rows.length === 0) break;
      const r = await sql`INSERT INTO messages ${sql(rows)} ON CONFLICT DO NOTHING`;
      written += r.count;
      done += rows.length;
      const last = rows[rows.length - 1]!;
      after = [last.conversation_id, last.seq];
      o.progress?.("messages", done, total);
    }
    steps.push({ what: "messages", source: total, written, verified: 0 });
  }

  // Conversations: max/min seq and time; a target that went further (sends after a first run) keeps its own.
  {
    const rows = src.conversations;
    const written = await chunked(rows, CHUNK, async (c) => (await sql`
        INSERT INTO conversations (conversation_id, max_seq, min_seq, max_seq_time)
        SELECT * FROM unnest(${sql.array(c.map((x) => x.conversation_id), "text")}::text[], ${sql.array(c.map((x) => x.max_seq), "int8")}::bigint[],
                             ${sql.array(c.map((x) => x.min_seq), "int8")}::bigint[], ${sql.array(c.map((x) => x.max_seq_time), "int8")}::bigint[])
        ON CONFLICT (conversation_id) DO UPDATE SET max_seq = GREATEST(conversations.max_seq, EXCLUDED.max_seq),
          min_seq = LEAST(conversations.min_seq, EXCLUDED.min_seq), max_seq_time = GREATEST(conversations.max_seq_time, EXCLUDED.max_seq_time)
        WHERE conversations.max_seq < EXCLUDED.max_seq OR conversations.min_seq > EXCLUDED.min_seq`).count);
    steps.push({ what: "conversations", source: rows.length, written, verified: 0 });
  }

  // Memberships with read marks (the higher mark wins), then group members.
  {
    const rows = src.memberships;
    const written = await chunked(rows, CHUNK, async (c) => (await sql`
        INSERT INTO user_conversations (user_id, conversation_id, has_read_seq)
        SELECT * FROM unnest(${sql.array(c.map((x) => x.user_id), "text")}::text[], ${sql.array(c.map((x) => x.conversation_id), "text")}::text[],
                             ${sql.array(c.map((x) => x.has_read_seq), "int8")}::bigint[])
        ON CONFLICT (user_id, conversation_id) DO UPDATE SET has_read_seq = EXCLUDED.has_read_seq
        WHERE user_conversations.has_read_seq < EXCLUDED.has_read_seq`).count);
    steps.push({ what: "memberships and read marks", source: rows.length, written, verified: 0 });
  }
  {
    const rows = src.groups;
    const written = await chunked(rows, CHUNK, async (c) => (await sql`INSERT INTO group_members ${sql(c)} ON CONFLICT DO NOTHING`).count);
    steps.push({ what: "group members", source: rows.length, written, verified: 0 });
  }

  const states = src.states;
  {
    const written = await chunked(states, 200, async (c) => {
      const prev = await Promise.all(c.map((s) => recordTokenState(redis, {
        userID: s.user_id, platformID: s.platform_id, hashHex: Buffer.from(s.token_hash).toString("hex"), kicked: s.state === 2, expiresAt: s.expires_at,
      })));
      // Written: unknown before, or kicked now where it was not.
      return prev.filter((p, k) => p === null || (c[k]!.state === 2 && !String(p).startsWith("2:"))).length;
    });
    steps.push({ what: "token states", source: states.length, written, verified: 0 });
  }

  // The SDKs' directory: each record written where the target has none (a change made there since wins).
  const hsetnx = async (rows: [string, string, string][]) => (await Promise.all(rows.map(([k, f, v]) => redis.hsetnx(k, f, v)))).filter((n) => n === 1).length;
  const directorySteps: [string, () => Promise<number>, number][] = [
    ["profiles", async () => {
      let written = 0;
      // (Each record is one HSET: an interrupted run leaves it whole or absent.)
      for (const u of src.users) {
        if (await redis.hexists(profileKey(u.user_id), "createTime")) continue;
        await redis.hset(profileKey(u.user_id), "nickname", u.nickname, "faceURL", u.face_url, "ex", u.ex, "globalRecvMsgOpt", u.global_recv_msg_opt,
          "createTime", u.create_time);
        written++;
      }
      return written;
    }, src.users.length],
    ["group records", async () => {
      let written = 0;
      for (const g of src.groupRecords) {
        if (await redis.hexists(infoKey(g.group_id), "info")) continue;
        await redis.hset(infoKey(g.group_id), "info", g.info, "owner", g.owner_user_id, "createTime", g.create_time, "status", g.status);
        written++;
      }
      return written;
    }, src.groupRecords.length],
    ["member roles", () => chunked(src.roles, 200, (c) => hsetnx(c.map((r) => [roleKey(r.group_id), r.user_id,
      JSON.stringify({ roleLevel: r.role_level, joinTime: r.join_time, inviter: r.inviter_user_id })]))), src.roles.length],
    ["users' groups", () => chunked(src.groups, 200, async (c) => (await Promise.all(c.map((g) => redis.sadd(joinedKey(g.user_id), g.group_id)))).reduce((a, n) => a + n, 0)), src.groups.length],
    ["conversation settings", () => chunked(src.settings, 200, (c) => hsetnx(c.map((r) => [settingsKey(r.user_id), r.conversation_id, r.settings]))), src.settings.length],
  ];
  for (const [what, write, source] of directorySteps) steps.push({ what, source, written: await write(), verified: 0 });

  await verify(db, sql, redis, steps, src);
  return { steps, ok: steps.every((s) => s.verified === s.source) };
}

/** What the data dir holds besides its messages: conversations, memberships, group members, unexpired token states. */
function sourceRows(db: Database) {
  return {
    conversations: db.query<{ conversation_id: string; max_seq: number; min_seq: number; max_seq_time: number }, []>(
      "SELECT conversation_id, max_seq, min_seq, max_seq_time FROM conversations ORDER BY conversation_id").all(),
    memberships: db.query<{ user_id: string; conversation_id: string; has_read_seq: number }, []>(
      "SELECT user_id, conversation_id, has_read_seq FROM user_conversations ORDER BY user_id, conversation_id").all(),
    groups: db.query<{ group_id: string; user_id: string }, []>("SELECT group_id, user_id FROM group_members ORDER BY group_id, user_id").all(),
    users: db.query<{ user_id: string; nickname: string; face_url: string; ex: string; global_recv_msg_opt: number; create_time: number }, []>(
      "SELECT * FROM users ORDER BY user_id").all(),
    groupRecords: db.query<{ group_id: string; info: string; owner_user_id: string; create_time: number; status: number }, []>(
      "SELECT * FROM groups ORDER BY group_id").all(),
    roles: db.query<{ group_id: string; user_id: string; role_level: number; join_time: number; inviter_user_id: string }, []>(
      "SELECT * FROM group_member_info ORDER BY group_id, user_id").all(),
    settings: db.query<{ user_id: string; conversation_id: string; settings: string }, []>(
      "SELECT user_id, conversation_id, settings FROM user_conversations WHERE settings != '' ORDER BY user_id, conversation_id").all(),
    // Token states of unexpired tokens (the expired ones would be swept at once).
    states: db.query<{ token_hash: Uint8Array; user_id: string; platform_id: number; state: number; expires_at: number }, [number]>(
      "SELECT token_hash, user_id, platform_id, state, expires_at FROM token_state WHERE expires_at > ?").all(Math.floor(Date.now() / 1000)),
  };
}

/** Counts, per step, the source rows found in the target. */
async function verify(db: Database, sql: SQL, redis: Redis | Cluster, steps: MigrateStep[], src: ReturnType<typeof sourceRows>) {
  const step = (what: string) => steps.find((s) => s.what === what)!;
  // Messages: per conversation, the target's rows within the source's seq range (a target may have more after it).
  const convs = db.query<{ conversation_id: string; lo: number; hi: number }, []>(
    "SELECT conversation_id, min(seq) AS lo, max(seq) AS hi FROM messages GROUP BY conversation_id ORDER BY conversation_id").all();
  step("messages").verified += await chunked(convs, CHUNK, async (c) => Number((await sql`SELECT count(*)::bigint AS n FROM messages m
      JOIN unnest(${sql.array(c.map((x) => x.conversation_id), "text")}::text[], ${sql.array(c.map((x) => x.lo), "int8")}::bigint[],
                  ${sql.array(c.map((x) => x.hi), "int8")}::bigint[]) AS v(id, lo, hi)
        ON m.conversation_id = v.id AND m.seq BETWEEN v.lo AND v.hi`)[0].n));
  const rows = src.conversations;
  step("conversations").verified += await chunked(rows, CHUNK, async (c) => Number((await sql`SELECT count(*)::bigint AS n FROM conversations t
      JOIN unnest(${sql.array(c.map((x) => x.conversation_id), "text")}::text[], ${sql.array(c.map((x) => x.max_seq), "int8")}::bigint[]) AS v(id, max_seq)
        ON t.conversation_id = v.id AND t.max_seq >= v.max_seq`)[0].n));
  const members = src.memberships;
  step("memberships and read marks").verified += await chunked(members, CHUNK, async (c) => Number((await sql`SELECT count(*)::bigint AS n FROM user_conversations t
      JOIN unnest(${sql.array(c.map((x) => x.user_id), "text")}::text[], ${sql.array(c.map((x) => x.conversation_id), "text")}::text[],
                  ${sql.array(c.map((x) => x.has_read_seq), "int8")}::bigint[]) AS v(u, c, r)
        ON t.user_id = v.u AND t.conversation_id = v.c AND t.has_read_seq >= v.r`)[0].n));
  const groups = src.groups;
  step("group members").verified += await chunked(groups, CHUNK, async (c) => Number((await sql`SELECT count(*)::bigint AS n FROM group_members t
      JOIN unnest(${sql.array(c.map((x) => x.group_id), "text")}::text[], ${sql.array(c.map((x) => x.user_id), "text")}::text[]) AS v(g, u)
        ON t.group_id = v.g AND t.user_id = v.u`)[0].n));
  const present = async (checks: Promise<number>[]) => (await Promise.all(checks)).filter((n) => n === 1).length;
  step("profiles").verified += await chunked(src.users, 200, (c) => present(c.map((u) => redis.hexists(profileKey(u.user_id), "createTime"))));
  step("group records").verified += await chunked(src.groupRecords, 200, (c) => present(c.map((g) => redis.hexists(infoKey(g.group_id), "info"))));
  step("member roles").verified += await chunked(src.roles, 200, (c) => present(c.map((r) => redis.hexists(roleKey(r.group_id), r.user_id))));
  step("users' groups").verified += await chunked(src.groups, 200, (c) => present(c.map((g) => redis.sismember(joinedKey(g.user_id), g.group_id))));
  step("conversation settings").verified += await chunked(src.settings, 200, (c) => present(c.map((r) => redis.hexists(settingsKey(r.user_id), r.conversation_id))));
  step("token states").verified += await chunked(src.states, 200, async (c) => {
    const got = await Promise.all(c.map((s) => redis.hget(tokenStateKey(s.user_id, s.platform_id), Buffer.from(s.token_hash).toString("hex"))));
    // Present, and a kicked source state kicked in the target too (a normal one may have been kicked there since).
    return got.filter((v, k) => v !== null && (c[k]!.state !== 2 || v.startsWith("2:"))).length;
  });
}
