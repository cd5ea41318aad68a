// Scenario "history": where messages live and what keeping them costs. (1) The cluster shape with its history in
// PostgreSQL beside the history in Redis: two nodes, 1:1 chat on one node and across nodes (push latency at a fixed
// rate, closed-loop messages/s, CPU of the state's processes per message). (2) Bytes on disk per stored message and
// per login: the embedded SQLite file, and PostgreSQL's tables with their indexes. (3) 1:1 latency on an embedded
// node while `imgate backup` copies its database of a million messages.
import { SQL } from "bun";
import { Database } from "bun:sqlite";
import { create, toBinary } from "@bufbuild/protobuf";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MsgDataSchema } from "../src/gen/openim/sdkws/sdkws_pb.js";
import { clientKey } from "../src/backend/conversations.js";
import { openDatabase } from "../src/backend/embedded/db.js";
import { createTestDatabase } from "../test/support/postgres.js";
import { imgateNodes, twoNodeChat } from "./cluster.js";
import { latencySeries, percentile, progress, round, startImgate, startRedis, startWorker, users, writeResult } from "./lib/harness.js";

const ROOT = new URL("..", import.meta.url).pathname;

/** PIDs of the PostgreSQL backends serving `database` now. */
async function backendPids(admin: SQL, database: string): Promise<number[]> {
  return (await admin`SELECT pid FROM pg_stat_activity WHERE datname = ${database}`).map((r: { pid: number }) => r.pid);
}

async function clusterWithPostgres(quick: boolean) {
  const pairs = quick ? 100 : 250;
  const stageMs = quick ? 3000 : 8000;
  const out: Record<string, unknown> = {};
  for (const withPostgres of [false, true]) {
    const redis = await startRedis();
    const db = withPostgres ? await createTestDatabase() : undefined;
    const name = withPostgres ? "imgate, history in PostgreSQL" : "imgate, history in Redis";
    const nodes = await imgateNodes({ args: ["--redis", redis.url, ...(db ? ["--postgres", db.url] : [])] }, name);
    const admin = new SQL({ url: "postgres://postgres@127.0.0.1:5432/postgres", max: 1 });
    // The state's processes: Redis, and PostgreSQL's backends of the nodes' pools (read when the loop starts).
    const pids = async () => [redis.pid, ...(db ? await backendPids(admin, db.name) : [])];
    const sameNode = await twoNodeChat(nodes, { pairs, stageMs, pids }, `${withPostgres ? "pg" : "r"}same`, 0);
    const crossNode = await twoNodeChat(nodes, { pairs, stageMs, pids }, `${withPostgres ? "pg" : "r"}cross`, 1);
    let bytesPerMessage: number | undefined;
    if (db) {
      const [r] = await db.sql`SELECT (SELECT count(*) FROM messages)::bigint AS n,
        (pg_total_relation_size('messages') + pg_total_relation_size('conversations') + pg_total_relation_size('user_conversations'))::bigint AS bytes`;
      bytesPerMessage = round(Number(r.bytes) / Math.max(1, Number(r.n)), 0);
    }
    await nodes.stop();
    await admin.close();
    await db?.drop();
    await redis.stop();
    out[withPostgres ? "postgres" : "redis"] = { sameNode, crossNode, bytesPerMessage };
  }
  return out;
}

/** The SQLite file's bytes per stored 1:1 message and per login (token state), from a node's own data dir. */
async function embeddedBytes(quick: boolean) {
  const messages = quick ? 20_000 : 100_000, logins = quick ? 5_000 : 20_000;
  const node = await startImgate();
  // Bytes the database's live pages take (page_count - freelist), as a reader sees it (WAL included): the files'
  // sizes would count a WAL that is reused rather than shrunk, and pages already free.
  const size = () => {
    const db = new Database(join(node.dataDir, "imgate.db"), { readonly: true });
    try {
      const one = (pragma: string) => Number(Object.values(db.query(`PRAGMA ${pragma}`).get() as object)[0]);
      return (one("page_count") - one("freelist_count")) * one("page_size");
    } finally {
      db.close();
    }
  };
  const w = await startWorker();
  const all = users("eb", 200);
  await w.call({ cmd: "connect", url: `ws://127.0.0.1:${node.ws}/`, users: all, concurrency: 50, chat: true });
  const pairs = all.slice(0, 100).map((u, i) => [u.userID, all[100 + i]!.userID] as [string, string]);
  const before = size();
  progress(`history/embedded bytes: ${messages} messages`);
  let sent = 0;
  while (sent < messages) {
    await w.call({ cmd: "chatClosed", pairs, window: 4, durationMs: 1000 });
    sent += ((await w.call({ cmd: "count" })).latencies as number[]).length;
  }
  await w.call({ cmd: "close" });
  const afterMessages = size();
  progress(`history/embedded bytes: ${logins} logins`);
  const fresh = users("el", logins);
  // A worker's "close" ends it: the logins get one of their own.
  const w2 = await startWorker();
  await w2.call({ cmd: "connect", url: `ws://127.0.0.1:${node.ws}/`, users: fresh, concurrency: 100, chat: true });
  await w2.call({ cmd: "close" });
  const afterLogins = size();
  await node.stop();
  return {
    messages: sent, logins,
    bytesPerMessage: round((afterMessages - before) / sent, 0),
    bytesPerLogin: round((afterLogins - afterMessages) / logins, 0),
  };
}

/** A data dir with `count` messages over 1,000 conversations, written straight through the schema. */
function bigDataDir(count: number): string {
  const dir = mkdtempSync(join(tmpdir(), "imgate-bench-history-"));
  const db = openDatabase(dir);
  const insert = db.query("INSERT INTO messages (conversation_id, seq, send_id, client_msg_id, client_key, send_time, data) VALUES (?, ?, ?, ?, ?, ?, ?)");
  const conv = db.query("INSERT OR REPLACE INTO conversations (conversation_id, max_seq, min_seq, max_seq_time) VALUES (?, ?, 1, ?)");
  const member = db.query("INSERT OR IGNORE INTO user_conversations (user_id, conversation_id) VALUES (?, ?)");
  const perConv = Math.ceil(count / 1000);
  const now = Date.now();
  for (let c = 0; c < 1000; c++) {
    const a = `hb${c}a`, b = `hb${c}b`, id = `si_${a}_${b}`;
    db.transaction(() => {
      for (let s = 1; s <= perConv; s++) {
        const m = create(MsgDataSchema, {
          sendID: a, recvID: b, sessionType: 1, contentType: 101, seq: BigInt(s), sendTime: BigInt(now), createTime: BigInt(now),
          clientMsgID: `${id}-${s}`, serverMsgID: `${c.toString(16).padStart(16, "0")}${s.toString(16).padStart(16, "0")}`,
          content: new TextEncoder().encode(JSON.stringify({ content: `message ${s} of a conversation kept for a year` })),
        });
        insert.run(id, s, a, m.clientMsgID, clientKey(a, m.clientMsgID), now, toBinary(MsgDataSchema, m));
      }
      conv.run(id, perConv, now);
      member.run(a, id);
      member.run(b, id);
    })();
  }
  db.close();
  return dir;
}

/** 1:1 push latency at 1,000 msg/s on an embedded node, before and while `imgate backup` copies its database. */
async function latencyDuringBackup(quick: boolean) {
  const count = quick ? 200_000 : 1_000_000;
  progress(`history/backup: writing a data dir of ${count} messages`);
  const dir = bigDataDir(count);
  const dbBytes = statSync(join(dir, "imgate.db")).size;
  const node = await startImgate(["--data-dir", dir]);
  const w = await startWorker();
  const all = users("bk", 200);
  await w.call({ cmd: "connect", url: `ws://127.0.0.1:${node.ws}/`, users: all, concurrency: 50, chat: true });
  const pairs = all.slice(0, 100).map((u, i) => [u.userID, all[100 + i]!.userID] as [string, string]);
  await w.call({ cmd: "chat", pairs, ratePerSec: 1000, durationMs: 2000 });
  await w.call({ cmd: "count" });
  progress("history/backup: 1000 msg/s without a backup");
  await w.call({ cmd: "chat", pairs, ratePerSec: 1000, durationMs: 5000 });
  const quiet = (await w.call({ cmd: "count" })).latencies as number[];
  progress("history/backup: 1000 msg/s while imgate backup runs");
  const file = join(dir, "..", `${Date.now()}.imgate-backup`);
  const chat = w.call({ cmd: "chat", pairs, ratePerSec: 1000, durationMs: 20_000 });
  await Bun.sleep(2000);
  const t0 = Date.now();
  const backup = Bun.spawn([process.execPath, join(ROOT, "src/cli.ts"), "backup", "--data-dir", dir, file, "--json"], { stdout: "pipe", stderr: "inherit", env: { ...process.env, IMGATE_CONFIG: "" } });
  const summary = JSON.parse(await new Response(backup.stdout).text());
  const t1 = Date.now();
  await chat;
  const s = await w.call({ cmd: "count" });
  await w.call({ cmd: "close" });
  await node.stop();
  const backupBytes = statSync(file).size;
  rmSync(file, { force: true });
  rmSync(dir, { recursive: true, force: true });
  const lat = s.latencies as number[], sentAt = s.latencySentAt as number[];
  const during = lat.filter((_, i) => sentAt[i]! >= t0 && sentAt[i]! <= t1);
  return {
    messages: count, databaseMB: round(dbBytes / 1048576, 1), backupMB: round(backupBytes / 1048576, 1), backupSeconds: round((t1 - t0) / 1000, 1),
    backupMessages: summary.messages,
    withoutBackup: { p50: round(percentile(quiet, 50)), p99: round(percentile(quiet, 99)), delivered: quiet.length },
    duringBackup: { p50: round(percentile(during, 50)), p99: round(percentile(during, 99)), max: round(Math.max(...during)), delivered: during.length },
    series: latencySeries(sentAt, lat, 500),
  };
}

export async function history(quick: boolean) {
  const cluster = await clusterWithPostgres(quick);
  const embedded = await embeddedBytes(quick);
  const backup = await latencyDuringBackup(quick);
  writeResult("history", { quick, cluster, embedded, backup });
}
