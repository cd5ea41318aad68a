// A rolling restart of `serve --workers 2` under a steady 1:1 chat load (`imgate reload --workers`): each worker is
// replaced by a new one that is ready before the old one drains; no acknowledged message is lost, every client is
// back within the window, and at every moment a worker accepts connections on the shared port.
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { signToken } from "../src/backend/embedded/jwt.js";
import { GetMaxSeqReqSchema, GetMaxSeqRespSchema, PullMessageBySeqsReqSchema, PullMessageBySeqsRespSchema } from "../src/gen/openim/sdkws/sdkws_pb.js";
import { connect, until } from "./support/client.js";
import { BUN, CLI, descendants, freePort, freePortRun, killAll, runCliAsync, waitHttp } from "./support/proc.js";
import { startRedis } from "./support/redis.js";
import { steadyClient } from "./support/steady.js";

const dir = mkdtempSync(join(tmpdir(), "imgate-rolling-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const SECRET = "rolling-secret";
const si = (a: string, b: string) => `si_${[a, b].sort().join("_")}`;

test("rolling restart of --workers 2 under 1:1 chat: nothing acknowledged lost, everyone back, always a listener", async () => {
  const redis = await startRedis();
  // Worker i uses admin + i, its replacement admin + 2 + i: four free ports in a row.
  const admin = await freePortRun(4);
  let [ws, rpc] = [await freePort(), await freePort()];
  while (ws >= admin && ws < admin + 4) ws = await freePort();
  while ((rpc >= admin && rpc < admin + 4) || rpc === ws) rpc = await freePort();
  let out = "";
  const sup = Bun.spawn([BUN, CLI, "serve", "--workers", "2", "--redis", redis.url, "--node-id", "roll", "--host", "127.0.0.1", "--ws-port", String(ws),
    "--rpc-port", String(rpc), "--admin-port", String(admin), "--secret", SECRET, "--log-level", "info", "--log-format", "json"], {
    cwd: dir, env: { ...process.env, IMGATE_CONFIG: "", IMGATE_SHUTDOWN_DRAIN_SECONDS: "2" }, stdout: "pipe", stderr: "pipe",
  });
  void (async () => {
    for await (const c of sup.stdout as ReadableStream<Uint8Array>) out += new TextDecoder().decode(c);
  })();
  const clients: ReturnType<typeof steadyClient>[] = [];
  let probing = true;
  const probeFailures: number[] = [];
  try {
    await waitHttp(`http://127.0.0.1:${admin}/readyz`);
    await waitHttp(`http://127.0.0.1:${admin + 1}/readyz`);
    // 10 pairs, each side sending every 100 ms: 200 messages/s in all.
    for (let i = 0; i < 10; i++) {
      clients.push(steadyClient({ port: ws, secret: SECRET, userID: `ra${i}`, to: `rb${i}`, everyMs: 100 }));
      clients.push(steadyClient({ port: ws, secret: SECRET, userID: `rb${i}`, to: `ra${i}`, everyMs: 100 }));
    }
    // Someone always accepts: a WebSocket handshake every 50 ms (one immediate retry: a connection queued on a
    // listener at the instant it closes is reset by the kernel, and the SDKs retry at once).
    const probe = (async () => {
      let k = 0;
      while (probing) {
        const attempt = () => {
          const u = `probe${k++}`;
          return connect({ port: ws, userID: u, platformID: 5, token: signToken(SECRET, u, 5, 60), sdkType: "js" }).then((c) => (c.close(), true), () => false);
        };
        if (!(await attempt()) && !(await attempt())) probeFailures.push(Date.now());
        await Bun.sleep(50);
      }
    })();
    const ackedNow = () => clients.reduce((a, c) => a + c.acked.length, 0);
    await until(() => ackedNow() > 100, 15_000, "traffic before the restart");
    const before = ackedNow();

    const r = await runCliAsync(["reload", "--workers", "--rpc", `127.0.0.1:${rpc}`, "--data-dir", join(dir, "imgate-data")]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("rolling restart requested");
    await until(() => out.includes("rolling restart done"), 40_000, "the rolling restart");
    // Traffic goes on through the new workers.
    const afterRestart = ackedNow();
    await until(() => ackedNow() >= afterRestart + 100, 15_000, "traffic after the restart");
    probing = false;
    await probe;
    await Promise.all(clients.map((c) => c.stop()));

    // Both workers were replaced (the replacements answer on the other admin ports) and the old ones are gone.
    expect((await fetch(`http://127.0.0.1:${admin + 2}/readyz`)).status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${admin + 3}/readyz`)).status).toBe(200);
    expect(out.match(/"msg":"worker replaced; draining the old one"/g)?.length).toBe(2);
    expect(probeFailures).toEqual([]);
    // Every client that was sent away came back, within the drain window and a little.
    const gaps = clients.flatMap((c) => c.gaps);
    // Both workers were drained, so every client was sent away (1012) at least once, and came back.
    expect(clients.every((c) => c.closeCodes.length >= 1)).toBe(true);
    expect(clients.flatMap((c) => c.closeCodes).every((code) => code === 1012)).toBe(true);
    expect(gaps.length).toBe(clients.reduce((a, c) => a + c.closeCodes.length, 0));
    expect(Math.max(...gaps)).toBeLessThan(3000);

    // No acknowledged message lost: every acked clientMsgID is stored in its conversation.
    let total = 0;
    for (let i = 0; i < 10; i++) {
      const c = await connect({ port: ws, userID: `ra${i}`, platformID: 3, token: signToken(SECRET, `ra${i}`, 3, 60), sdkType: "js" });
      const conv = si(`ra${i}`, `rb${i}`);
      const max = fromBinary(GetMaxSeqRespSchema, (await c.request(1001, toBinary(GetMaxSeqReqSchema, create(GetMaxSeqReqSchema, { userID: `ra${i}` })))).data!).maxSeqs[conv]!;
      const pulled = fromBinary(PullMessageBySeqsRespSchema, (await c.request(1002, toBinary(PullMessageBySeqsReqSchema, create(PullMessageBySeqsReqSchema, {
        userID: `ra${i}`, seqRanges: [{ conversationID: conv, begin: 1n, end: max, num: 10_000n }],
      })))).data!).msgs[conv]!.Msgs;
      const stored = new Set(pulled.map((m) => m.clientMsgID));
      const acked = [...clients[2 * i]!.acked, ...clients[2 * i + 1]!.acked];
      expect(acked.filter((id) => !stored.has(id))).toEqual([]);
      // Seqs without gaps or duplicates.
      expect(pulled.map((m) => Number(m.seq))).toEqual(Array.from({ length: Number(max) }, (_, k) => k + 1));
      total += acked.length;
      c.close();
    }
    expect(total).toBeGreaterThan(before);
  } finally {
    probing = false;
    for (const c of clients) void c.stop();
    // The workers this test started, found below the supervisor before it goes (never by name).
    const workers = descendants(sup.pid);
    sup.kill("SIGTERM");
    await Promise.race([sup.exited, Bun.sleep(15_000)]);
    sup.kill("SIGKILL");
    killAll(workers);
    await redis.stop();
  }
}, 90_000);
