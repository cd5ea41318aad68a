// Token states at rest, in both shapes: never a bearer token on disk or in Redis, a user's expired states gone at
// their next login (and by the sweep), the Redis hash living as long as its longest token, and the Redis layout
// version: an older layout brought forward (a kicked token stays kicked), a newer one refused.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import Redis from "ioredis";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { tokenStatesOn } from "../src/backend/embedded/auth.js";
import { openDatabase } from "../src/backend/embedded/db.js";
import { signToken } from "../src/backend/embedded/jwt.js";
import { createRedisAuth, createRedisTokenIssuer, tokenStateKey } from "../src/backend/cluster/auth.js";
import { LAYOUT_KEY, REDIS_LAYOUT, ensureRedisLayout } from "../src/backend/cluster/layout.js";
import { tokenHashHex } from "../src/backend/token-hash.js";
import { type TestRedis, startRedis } from "./support/redis.js";

const SECRET = "token-states-secret";
const now = () => Math.floor(Date.now() / 1000);
/** A token that expired an hour ago (its state may go). */
const expired = (u: string, p: number, jti: string) => signToken(SECRET, u, p, 60, now() - 3600, jti);
const meta = { operationID: "t", opUserID: "", platform: "Web", connID: "" };
const codeOf = (p: Promise<unknown>) => p.then(() => 0, (e: { code: number }) => e.code);

describe("embedded token states", () => {
  test("hashed at rest; a user's expired states go at their next login, the rest at the sweep", () => {
    const dir = mkdtempSync(join(tmpdir(), "imgate-tokens-"));
    try {
      const db = openDatabase(dir);
      const states = tokenStatesOn(db);
      const old1 = expired("u1", 5, "a"), old2 = expired("u2", 5, "b"), live = signToken(SECRET, "u1", 5, 3600, now(), "c");
      states.checkIn(old1, "u1", 5);
      states.checkIn(old2, "u2", 5);
      const count = () => db.query<{ n: number }, []>("SELECT COUNT(*) AS n FROM token_state").get()!.n;
      expect(count()).toBe(2);
      // u1 logs in with a new token: u1's expired state goes, u2's stays until the sweep.
      expect(states.checkIn(live, "u1", 5)).toBeUndefined();
      expect(count()).toBe(2);
      expect(states.checkIn(live, "u1", 5)).toBe(0);
      expect(states.sweepExpired()).toBe(1);
      expect(count()).toBe(1);
      db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
      db.close();
      const raw = readFileSync(join(dir, "imgate.db"));
      for (const t of [old1, old2, live]) expect(raw.includes(Buffer.from(t))).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("Redis token states and layout", () => {
  let r: TestRedis;
  let redis: Redis;
  beforeAll(async () => {
    r = await startRedis();
    redis = new Redis(r.port, "127.0.0.1");
  });
  afterAll(async () => {
    redis.disconnect();
    await r.stop();
  });

  test("fields are hashes; expired ones go when the user's next token is recorded; the key lives as long as its longest token", async () => {
    const auth = createRedisAuth(redis, SECRET);
    const issuer = createRedisTokenIssuer(redis, SECRET);
    const old = expired("r1", 5, "x");
    await auth.kickTokens([old], meta);
    const k = tokenStateKey("r1", 5);
    expect(Object.keys(await redis.hgetall(k))).toEqual([tokenHashHex(old)]);
    const long = await issuer.issue("r1", 5, 200 * 86400);
    const fields = await redis.hgetall(k);
    expect(Object.keys(fields)).toEqual([tokenHashHex(long)]);
    for (const f of Object.keys(fields)) expect(f).toMatch(/^[0-9a-f]{64}$/);
    const ttl = await redis.ttl(k);
    expect(ttl).toBeGreaterThan(199 * 86400);
    expect(ttl).toBeLessThanOrEqual(200 * 86400);
    // A shorter token later does not shorten the key's life.
    await issuer.issue("r1", 5, 3600);
    expect(await redis.ttl(k)).toBeGreaterThan(199 * 86400);
    expect(await codeOf(auth.parseToken(long, meta))).toBe(0);
    await issuer.kickAll("r1", 5);
    expect(await codeOf(auth.parseToken(long, meta))).toBe(1506);
  });

  test("a layout-1 Redis (tokens as fields) is brought forward, states kept; a newer layout is refused, nothing changed", async () => {
    await redis.flushall();
    const kicked = signToken(SECRET, "l1", 5, 3600, now(), "k"), normal = signToken(SECRET, "l1", 5, 3600, now(), "n");
    // What 0.1.0 wrote: the token itself as the field, a bare state as the value, no layout key.
    await redis.hset(tokenStateKey("l1", 5), kicked, "2", normal, "0");
    const up = await ensureRedisLayout(redis);
    expect(up).toEqual({ from: 1, to: REDIS_LAYOUT, rewritten: 2 });
    expect(await redis.get(LAYOUT_KEY)).toBe(String(REDIS_LAYOUT));
    const fields = Object.keys(await redis.hgetall(tokenStateKey("l1", 5))).sort();
    expect(fields).toEqual([tokenHashHex(kicked), tokenHashHex(normal)].sort());
    const auth = createRedisAuth(redis, SECRET);
    expect(await codeOf(auth.parseToken(kicked, meta))).toBe(1506);
    expect(await codeOf(auth.parseToken(normal, meta))).toBe(0);
    expect((await ensureRedisLayout(redis)).rewritten).toBe(0);

    await redis.set(LAYOUT_KEY, String(REDIS_LAYOUT + 1));
    const before = await redis.hgetall(tokenStateKey("l1", 5));
    const err = await ensureRedisLayout(redis).then(() => undefined, (e: Error) => e);
    expect(err?.message).toContain(`layout ${REDIS_LAYOUT + 1}`);
    expect(err?.message).toContain(`(${REDIS_LAYOUT})`);
    expect(await redis.hgetall(tokenStateKey("l1", 5))).toEqual(before);
  });
});
