// Verified tokens remembered on the event loop (embedded shape): when a connection closes its token is kept, so a
// reconnect with it skips the signature and the state read, and no kick is missed, however it races the handshake.
// Real store thread and SQLite; the last test over real sockets.
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createEmbeddedAuth, tokenIssuer, type TokenStates } from "../src/backend/embedded/auth.js";
import { signToken } from "../src/backend/embedded/jwt.js";
import { knownTokens, logKicks } from "../src/backend/embedded/known-tokens.js";
import { remoteTokenStates } from "../src/backend/embedded/remote-store.js";
import { type StoreClient, startStoreClient } from "../src/backend/embedded/store-client.js";
import { connect, until } from "./support/client.js";
import { startTestNode } from "./support/node.js";

const SECRET = "known-tokens-secret";
const meta = { operationID: "op", opUserID: "", platform: "Web", connID: "" };
const dirs: string[] = [];
const clients: StoreClient[] = [];
afterAll(async () => {
  for (const c of clients) await c.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** The node's wiring over a real store thread, with every state read counted. */
async function setup(opts: { maxKnown?: number; maxKickLog?: number; checkIn?: (inner: TokenStates["checkIn"]) => TokenStates["checkIn"] } = {}) {
  const dir = mkdtempSync(join(tmpdir(), "imgate-known-"));
  dirs.push(dir);
  const client = await startStoreClient({ dataDir: dir, maxQueue: 1000 });
  clients.push(client);
  const real = remoteTokenStates(client);
  const reads: string[] = [];
  const counted: TokenStates = {
    ...real,
    checkIn: (token, userID, platformID) => (reads.push(userID), real.checkIn(token, userID, platformID)),
  };
  if (opts.checkIn) counted.checkIn = opts.checkIn(counted.checkIn);
  const logged = logKicks(counted, opts.maxKickLog);
  const auth = createEmbeddedAuth(logged, SECRET, knownTokens(logged, opts.maxKnown));
  /** A connection's life: the handshake's check, then its close hands the token back. 0, or the refusal's code. */
  const visit = (token: string) =>
    auth.parseToken(token, meta).then((r) => (auth.released!(token, r.verifiedAt!), 0), (e: { code?: number }) => e.code ?? -1);
  return { auth, visit, issuer: tokenIssuer(logged, SECRET), reads, logged };
}
const codeOf = (p: Promise<unknown>) => p.then(() => 0, (e: { code?: number }) => e.code ?? -1);

test("a token whose connection closed is not read again; a kick of its user on its platform makes it read (and refused)", async () => {
  const { auth, visit, issuer, reads } = await setup();
  const [web, ios, other] = [signToken(SECRET, "k1", 5, 3600), signToken(SECRET, "k1", 1, 3600), signToken(SECRET, "k2", 5, 3600)];
  for (const t of [web, ios, other]) expect(await visit(t)).toBe(0);
  expect(reads).toEqual(["k1", "k1", "k2"]);
  for (const t of [web, ios, other]) expect(await visit(t)).toBe(0);
  expect(reads).toHaveLength(3);
  // A token in use is not kept: a second connection with it, while the first is open, checks it.
  await auth.parseToken(other, meta);
  await auth.parseToken(other, meta);
  expect(reads).toEqual(["k1", "k1", "k2", "k2"]);
  await issuer.kickAll("k1", 5);
  expect(await visit(web)).toBe(1506);
  // Another platform of the user and another user are still the ones verified.
  expect(await visit(ios)).toBe(0);
  expect(reads).toEqual(["k1", "k1", "k2", "k2", "k1"]);
});

test("kicks by token and invalidateToken count too; a token whose claims cannot be read drops everything remembered", async () => {
  const { auth, visit, reads } = await setup();
  const [a, b, keep] = [signToken(SECRET, "k3", 5, 3600), signToken(SECRET, "k3", 5, 3601), signToken(SECRET, "k3", 5, 3602)];
  const elsewhere = signToken(SECRET, "k4", 2, 3600);
  for (const t of [a, b, keep, elsewhere]) await visit(t);
  await auth.kickTokens([a], meta);
  expect(await visit(a)).toBe(1506);
  await auth.invalidateToken({ preservedToken: keep, userID: "k3", platformID: 5 }, meta);
  expect(await visit(b)).toBe(1506);
  expect(await visit(keep)).toBe(0);
  const before = reads.length;
  expect(await visit(elsewhere)).toBe(0);
  expect(reads.length).toBe(before);
  await auth.kickTokens(["not-a-jwt"], meta);
  expect(await visit(elsewhere)).toBe(0);
  expect(reads.length).toBe(before + 1);
});

test("a kick that completes while a handshake reads the token's state: that handshake passes, the next one is refused", async () => {
  let racing: (() => Promise<void>) | undefined;
  const { visit, reads, logged } = await setup({
    // The read sees the state before the kick; the kick then commits and completes before the read returns.
    checkIn: (inner) => async (token, userID, platformID) => {
      const state = await inner(token, userID, platformID);
      if (racing) await racing();
      return state;
    },
  });
  const t = signToken(SECRET, "k5", 5, 3600);
  racing = () => logged.kickAll("k5", 5);
  expect(await visit(t)).toBe(0);
  racing = undefined;
  expect(await visit(t)).toBe(1506);
  expect(reads).toEqual(["k5", "k5"]);
});

test("an expired token is refused even when kept; what is kept and the kick log are bounded", async () => {
  const { visit, reads } = await setup({ maxKnown: 2 });
  const nowSec = Math.floor(Date.now() / 1000);
  const short = signToken(SECRET, "k6", 5, 1, nowSec);
  expect(await visit(short)).toBe(0);
  while (Math.floor(Date.now() / 1000) < nowSec + 1) await Bun.sleep(50);
  expect(await visit(short)).toBe(1501);

  const [t1, t2, t3] = ["k7", "k8", "k9"].map((u) => signToken(SECRET, u, 5, 3600)) as [string, string, string];
  for (const t of [t1, t2, t3]) await visit(t);
  const n = reads.length;
  await visit(t3);
  expect(reads.length).toBe(n);
  // At most 2 kept: t1 went first.
  await visit(t1);
  expect(reads.length).toBe(n + 1);
  // Three kicks of other users overflow a log of 2: what was kept before them is read again.
  const other = await setup({ maxKickLog: 2 });
  await other.visit(t2);
  for (const u of ["x1", "x2", "x3"]) await other.issuer.kickAll(u, 5);
  await other.visit(t2);
  expect(other.reads).toEqual(["k8", "k8"]);
});

test("over real sockets: a client that reconnects after a kick of its user is refused", async () => {
  const n = await startTestNode();
  try {
    const token = n.token("rk", 5);
    const first = await connect({ port: n.wsPort, userID: "rk", platformID: 5, token, sdkType: "js", isMsgResp: true });
    expect((await first.request(1001)).errCode).toBe(0);
    first.close();
    await until(() => n.node.registry.connections === 0, 2000, "the first connection gone");
    const again = await connect({ port: n.wsPort, userID: "rk", platformID: 5, token, sdkType: "js", isMsgResp: true });
    again.close();
    await until(() => n.node.registry.connections === 0, 2000, "the second connection gone");
    await n.node.backend.tokens!.kickAll("rk", 5);
    await expect(connect({ port: n.wsPort, userID: "rk", platformID: 5, token, sdkType: "js", isMsgResp: true })).rejects.toThrow(/1506|kicked/);
  } finally {
    await n.stop();
  }
});
