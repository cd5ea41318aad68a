// `imgate backup` and `imgate restore` on real data dirs: a backup taken from a node under 1:1 traffic (another
// process, as an operator's cron job would run it) restores every message acknowledged before it began, with seqs
// without holes, the secret with it (old tokens still open sessions), and new messages at max seq + 1; a 0.1.0 data
// dir backs up and restores to a file the current code migrates; and each refusal changes nothing.
import { afterAll, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GetMaxSeqReqSchema, GetMaxSeqRespSchema, PullMessageBySeqsReqSchema, PullMessageBySeqsRespSchema } from "../src/gen/openim/sdkws/sdkws_pb.js";
import { signToken } from "../src/backend/embedded/jwt.js";
import { openDatabase } from "../src/backend/embedded/db.js";
import { SCHEMA_VERSION } from "../src/backend/embedded/schema.js";
import { connect, type TestClient, until } from "./support/client.js";
import { textMsg } from "./support/pb.js";
import { runCliAsync, serveProcess } from "./support/proc.js";
import { steadyClient } from "./support/steady.js";

const FIXTURE = new URL("./fixtures/data-0.1.0/", import.meta.url).pathname;
const dirs: string[] = [];
const tempDir = (what: string) => {
  const d = mkdtempSync(join(tmpdir(), `imgate-backup-${what}-`));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const conversationOf = (a: string, b: string) => `si_${[a, b].sort().join("_")}`;

async function maxSeq(c: TestClient, userID: string, conv: string): Promise<bigint> {
  const r = await c.request(1001, toBinary(GetMaxSeqReqSchema, create(GetMaxSeqReqSchema, { userID })));
  return fromBinary(GetMaxSeqRespSchema, r.data!).maxSeqs[conv] ?? 0n;
}

/** Every message of a conversation as the user pulls it: seq and clientMsgID (empty for a hole's placeholder). */
async function pullAll(c: TestClient, userID: string, conv: string): Promise<{ seq: bigint; clientMsgID: string }[]> {
  const max = await maxSeq(c, userID, conv);
  if (max === 0n) return [];
  const r = await c.request(1002, toBinary(PullMessageBySeqsReqSchema, create(PullMessageBySeqsReqSchema, {
    userID, seqRanges: [{ conversationID: conv, begin: 1n, end: max, num: 10_000n }],
  })));
  return (fromBinary(PullMessageBySeqsRespSchema, r.data!).msgs[conv]?.Msgs ?? []).map((m) => ({ seq: m.seq, clientMsgID: m.clientMsgID }));
}

describe("a backup of a node under traffic", () => {
  test("restores every message acknowledged before it, seqs without holes, the secret with it; the node kept serving", async () => {
    const a = tempDir("live");
    const node = await serveProcess(join(a, "data"), ["--log-level", "error"]);
    const secret = readFileSync(join(a, "data", "secret"), "utf8").trim();
    const pairs = Array.from({ length: 4 }, (_, i) => [
      steadyClient({ port: node.ws, secret, userID: `bk-a${i}`, to: `bk-b${i}`, everyMs: 10 }),
      steadyClient({ port: node.ws, secret, userID: `bk-b${i}`, to: `bk-a${i}`, everyMs: 10 }),
    ] as const);
    const acked = () => pairs.flatMap(([x, y]) => [...x.acked, ...y.acked]);
    const file = join(a, "imgate.backup");
    let before: string[];
    let during: number;
    try {
      await until(() => acked().length >= 300, 30_000, "traffic before the backup");
      before = acked();
      const r = await runCliAsync(["backup", "--data-dir", join(a, "data"), file, "--json"]);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      const summary = JSON.parse(r.stdout);
      // Sends kept being acknowledged while the copy was taken and after it: the node was not stopped.
      during = acked().length;
      await until(() => acked().length >= during + 100, 30_000, "traffic after the backup");
      expect(summary.messages).toBeGreaterThanOrEqual(before.length);
      expect(summary.conversations).toBe(pairs.length);
      expect(summary.schemaVersion).toBe(SCHEMA_VERSION);
      expect(summary.files.sort()).toEqual(["admin-token", "secret"]);
      expect(statSync(file).mode & 0o777).toBe(0o600);
    } finally {
      for (const [x, y] of pairs) await Promise.all([x.stop(), y.stop()]);
      node.proc.kill("SIGTERM");
      await node.proc.exited;
    }

    const b = join(a, "restored");
    const r = await runCliAsync(["restore", file, "--data-dir", b]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`restored ${file}`);
    expect(readFileSync(join(b, "secret"), "utf8").trim()).toBe(secret);
    expect(readFileSync(join(b, "admin-token"), "utf8")).toBe(readFileSync(join(a, "data", "admin-token"), "utf8"));
    expect(statSync(b).mode & 0o777).toBe(0o700);
    for (const f of ["imgate.db", "secret", "admin-token"]) expect(statSync(join(b, f)).mode & 0o777).toBe(0o600);

    const restored = await serveProcess(b, ["--log-level", "error"]);
    try {
      const stored = new Set<string>();
      for (const [x, y] of pairs) {
        const conv = conversationOf(x.userID, y.userID);
        // A token signed before the backup opens a session on the restored node: the secret came with it.
        const c = await connect({ port: restored.ws, userID: x.userID, platformID: 3, token: signToken(secret, x.userID, 3, 600), sdkType: "js" });
        const msgs = await pullAll(c, x.userID, conv);
        expect(msgs.length).toBeGreaterThan(0);
        // Seqs 1..max, each a real message (a hole would come back missing or as an empty placeholder).
        expect(msgs.map((m) => m.seq)).toEqual(msgs.map((_, i) => BigInt(i + 1)));
        for (const m of msgs) expect(m.clientMsgID).not.toBe("");
        for (const m of msgs) stored.add(m.clientMsgID);
        // New messages go on at max seq + 1.
        const max = BigInt(msgs.length);
        expect((await c.request(1003, textMsg(x.userID, y.userID, "after the restore", { clientMsgID: `${x.userID}-after` }))).errCode).toBe(0);
        expect(await maxSeq(c, x.userID, conv)).toBe(max + 1n);
        c.close();
      }
      const missing = before!.filter((id) => !stored.has(id));
      expect(missing).toEqual([]);
      console.log(`[backup] ${before!.length} acknowledged before the backup, all restored; ${during! - before!.length} more acknowledged while it ran`);
    } finally {
      restored.proc.kill("SIGTERM");
      await restored.proc.exited;
    }
  }, 120_000);
});

describe("backup and restore of a 0.1.0 data dir, and what each refuses", () => {
  const fixtureCopy = () => {
    const d = tempDir("fixture");
    cpSync(FIXTURE, d, { recursive: true });
    rmSync(join(d, "expect.json"));
    rmSync(join(d, "README.md"), { force: true });
    return d;
  };
  const fixtureCount = () => {
    const db = new Database(join(fixtureCopy(), "imgate.db"));
    try {
      return db.query<{ n: number }, []>("SELECT count(*) AS n FROM messages").get()!.n;
    } finally {
      db.close();
    }
  };

  test("a 0.1.0 dir backs up; the restore is a data dir the current code opens and migrates, with every message", async () => {
    const src = fixtureCopy();
    const file = join(tempDir("out"), "old.backup");
    const r = await runCliAsync(["backup", file, "--data-dir", src, "--json"]);
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s.schemaVersion).toBe(0);
    expect(s.messages).toBe(fixtureCount());
    expect(s.files).toEqual(["secret"]);

    const dst = join(tempDir("in"), "data");
    const back = await runCliAsync(["restore", file, "--data-dir", dst, "--json"]);
    expect(back.code).toBe(0);
    expect(JSON.parse(back.stdout)).toMatchObject({ messages: s.messages, schemaVersion: 0, takenBy: expect.any(String) });
    expect(readFileSync(join(dst, "secret"), "utf8")).toBe(readFileSync(join(FIXTURE, "secret"), "utf8"));
    const db = openDatabase(dst);
    try {
      expect(db.query<{ user_version: number }, []>("PRAGMA user_version").get()!.user_version).toBe(SCHEMA_VERSION);
      expect(db.query<{ n: number }, []>("SELECT count(*) AS n FROM messages").get()!.n).toBe(s.messages);
      // The backup's own table (which held the secret) is not left in the restored database.
      expect(db.query("SELECT name FROM sqlite_master WHERE name = 'imgate_backup'").all()).toEqual([]);
    } finally {
      db.close();
    }
  });

  test("refusals name their reason and change nothing", async () => {
    const src = fixtureCopy();
    const out = tempDir("refuse");
    const file = join(out, "b.backup");
    expect((await runCliAsync(["backup", file, "--data-dir", src])).code).toBe(0);
    const first = readFileSync(file);

    // A second backup to the same file needs --force, and replaces it whole with it.
    const again = await runCliAsync(["backup", file, "--data-dir", src]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("pass --force");
    expect(readFileSync(file).equals(first)).toBe(true);
    expect((await runCliAsync(["backup", file, "--data-dir", src, "--force"])).code).toBe(0);

    // No database to back up.
    const empty = tempDir("empty");
    const none = await runCliAsync(["backup", join(out, "none.backup"), "--data-dir", empty]);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain("no database in");
    expect(existsSync(join(out, "none.backup"))).toBe(false);

    // A data dir that holds a database.
    const full = await runCliAsync(["restore", file, "--data-dir", src]);
    expect(full.code).toBe(1);
    expect(full.stderr).toContain("holds a database");

    // A data dir with another secret.
    const other = tempDir("other");
    writeFileSync(join(other, "secret"), "another-secret\n");
    const differs = await runCliAsync(["restore", file, "--data-dir", other]);
    expect(differs.code).toBe(1);
    expect(differs.stderr).toContain("differs from the backup's secret");
    expect(existsSync(join(other, "imgate.db"))).toBe(false);

    // Not a backup: a bare database, and bytes that are no database at all.
    for (const [name, bytes] of [["bare.db", readFileSync(join(FIXTURE, "imgate.db"))], ["junk", Buffer.from("not sqlite at all".repeat(100))]] as const) {
      writeFileSync(join(out, name), bytes);
      const dst = join(tempDir("dst"), "data");
      const r = await runCliAsync(["restore", join(out, name), "--data-dir", dst]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain("is not an imgate backup");
      expect(existsSync(join(dst, "imgate.db"))).toBe(false);
    }

    // A crafted backup that would write outside the data dir.
    const crafted = join(out, "crafted.backup");
    writeFileSync(crafted, first);
    const cdb = new Database(crafted);
    cdb.query("INSERT INTO imgate_backup (key, value) VALUES ('file:../escaped', 'x')").run();
    cdb.close();
    const target = join(tempDir("dst"), "data");
    const escaped = await runCliAsync(["restore", crafted, "--data-dir", target]);
    expect(escaped.code).toBe(1);
    expect(escaped.stderr).toContain('names a file "../escaped"');
    expect(existsSync(join(target, "..", "escaped"))).toBe(false);
    expect(existsSync(join(target, "imgate.db"))).toBe(false);

    // A backup from a newer imgate (its schema version above this one's).
    const newer = join(out, "newer.backup");
    writeFileSync(newer, first);
    chmodSync(newer, 0o600);
    const db = new Database(newer);
    db.query("UPDATE imgate_backup SET value = ? WHERE key = 'schema_version'").run(String(SCHEMA_VERSION + 1));
    db.close();
    const dst = join(tempDir("dst"), "data");
    mkdirSync(dst, { recursive: true });
    const r = await runCliAsync(["restore", newer, "--data-dir", dst]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`schema version ${SCHEMA_VERSION + 1}`);
    expect(r.stderr).toContain(`(${SCHEMA_VERSION})`);
    expect(existsSync(join(dst, "imgate.db"))).toBe(false);
  });
});
