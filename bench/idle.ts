// Scenarios "idle" and "storm": N authenticated idle connections (memory per connection, connect rate,
// handshake p99) on imgate, next to the bare Bun.serve ceiling, node + ws and Socket.IO holding the same N sockets; then a
// login storm: all N clients of imgate reconnect at once (JWT, registry, presence) → time until all are back.
import { percentile, progress, round, startImgate, startRedis, startWorker, treeCpuMs, users, writeResult, type Worker } from "./lib/harness.js";
import { startNchan } from "./lib/nchan.js";
import { handshakeQuery } from "./lib/query.js";
import { startNodeWs, startRawBun, startRawBunGroup, startSocketIO } from "./lib/peers.js";

const PER_WORKER = 9_500; // under the 20,000 open-file limit per process, with room
/**
 * How long every server idles before its RSS is read: the steady state an operator sees, not the peak of the
 * connect burst. imgate's RSS keeps falling for ~20 s after a 19k burst (GC and the allocator's scavenger
 * returning handshake garbage); the same wait applies to every server.
 */
let settleMs = 30_000;

/** `pid`: the server's, whose CPU (all threads and child processes) over the connects is read from /proc. */
async function connectAll(url: string, list: ReturnType<typeof users>, raw: boolean, pid: number, socketio = false) {
  const ws: Worker[] = await Promise.all(Array.from({ length: Math.ceil(list.length / PER_WORKER) }, startWorker));
  const cpu0 = treeCpuMs(pid);
  const t0 = performance.now();
  const rs = await Promise.all(ws.map((w, i) => w.call({ cmd: "connect", url, users: list.slice(i * PER_WORKER, (i + 1) * PER_WORKER), concurrency: 200, raw, socketio })));
  const ms = performance.now() - t0;
  const cpuMs = treeCpuMs(pid) - cpu0;
  const handshakes = rs.flatMap((r) => r.handshakes as number[]);
  const connected = rs.reduce((a, r) => a + r.connected, 0);
  return { ws, ms, connected, failed: rs.reduce((a, r) => a + r.failed, 0), handshakes, cpuUsPerHandshake: round((cpuMs * 1000) / Math.max(1, connected), 1) };
}

/** One server's idle figures: connects, handshake times, and RSS growth per connection. */
function connectResult(c: { ms: number; connected: number; failed: number; handshakes: number[]; cpuUsPerHandshake?: number }, rssBeforeKB: number, rssAfterKB: number) {
  return {
    connected: c.connected, failed: c.failed,
    connectsPerSec: round(c.connected / (c.ms / 1000), 0),
    serverCpuUsPerHandshake: c.cpuUsPerHandshake,
    handshakeMs: { p50: round(percentile(c.handshakes, 50)), p99: round(percentile(c.handshakes, 99)) },
    rssBeforeMB: round(rssBeforeKB / 1024, 1), rssAfterMB: round(rssAfterKB / 1024, 1),
    kbPerConnection: round((rssAfterKB - rssBeforeKB) / c.connected, 2),
  };
}

async function measure(name: string, url: string, raw: boolean, server: { pid: number; rssKB(): number }, list: ReturnType<typeof users>, socketio = false) {
  const rss = () => server.rssKB();
  await Bun.sleep(500);
  const before = rss();
  progress(`idle/${name}: connecting ${list.length}`);
  const c = await connectAll(url, list, raw, server.pid, socketio);
  await Bun.sleep(settleMs);
  const after = rss();
  const result = connectResult(c, before, after);
  return { result, workers: c.ws };
}

/**
 * Past one process's 20,000 open files: `processes` server processes share the port (SO_REUSEPORT) and the
 * clients come from Node.js processes each bound to its own 127.0.0.x, so the loopback's ~28k ephemeral ports per
 * source and destination pair are not the limit either.
 */
async function atScale(name: string, baseURL: string, list: ReturnType<typeof users>, query: boolean, rss: () => number, stopServer: () => Promise<void>) {
  await Bun.sleep(500);
  const before = rss();
  const parts = Math.ceil(list.length / PER_WORKER);
  // A different 127.0.0.x each run: bind() before connect cannot reuse a source port still in TIME_WAIT from an
  // earlier run on the same address, and searching for a free one slows connects tenfold.
  const base = 2 + Math.floor(Math.random() * (250 - parts));
  progress(`idle-at-scale/${name}: connecting ${list.length} from ${parts} processes on 127.0.0.${base}–${base + parts - 1}`);
  const ws = await Promise.all(Array.from({ length: parts }, () => startWorker({ node: true })));
  const t0 = performance.now();
  const rs = await Promise.all(ws.map((w, i) => w.call({
    cmd: "connect", localAddress: `127.0.0.${base + i}`, concurrency: 200,
    urls: list.slice(i * PER_WORKER, (i + 1) * PER_WORKER).map((u) => (query ? baseURL + handshakeQuery(u) : baseURL)),
  })));
  const ms = performance.now() - t0;
  await Bun.sleep(settleMs);
  const after = rss();
  // The server closes first, so TIME_WAIT stays on its port: source ports bound by bind() and left in TIME_WAIT
  // would keep connect() from using them for a minute, failing the next run's 127.0.0.1 clients.
  await stopServer();
  await Promise.all(ws.map((w) => w.call({ cmd: "close" })));
  return connectResult({
    ms, connected: rs.reduce((a, r) => a + r.connected, 0), failed: rs.reduce((a, r) => a + r.failed, 0),
    handshakes: rs.flatMap((r) => r.handshakes as number[]),
  }, before, after);
}

export async function idle(quick: boolean) {
  const n = quick ? 3000 : 19_000;
  if (quick) settleMs = 4000;
  const list = users("i", n);

  const raw = await startRawBun();
  const r1 = await measure("raw-bun", `ws://127.0.0.1:${raw.port}/`, true, raw, list);
  await Promise.all(r1.workers.map((w) => w.call({ cmd: "close" })));
  await raw.stop();

  const nodeWs = await startNodeWs();
  const r2 = await measure("node-ws", `ws://127.0.0.1:${nodeWs.port}/`, true, nodeWs, list);
  await Promise.all(r2.workers.map((w) => w.call({ cmd: "close" })));
  await nodeWs.stop();

  const sio = await startSocketIO();
  const r4 = await measure("socket.io", `ws://127.0.0.1:${sio.port}/`, true, sio, list, true);
  await Promise.all(r4.workers.map((w) => w.call({ cmd: "close" })));
  await sio.stop();

  const nchan = Bun.which("nginx") ? await startNchan().catch((e) => (progress(`nchan unavailable: ${e.message}`), undefined)) : undefined;
  const r5 = nchan && await measure("nginx-nchan", `ws://127.0.0.1:${nchan.port}/sub`, true, nchan, list);
  if (r5) await Promise.all(r5.workers.map((w) => w.call({ cmd: "close" })));
  await nchan?.stop();

  const server = await startImgate(["--multi-login-policy", "0"]);
  const r3 = await measure("imgate", `ws://127.0.0.1:${server.ws}/`, false, server, list);
  // Login storm: everyone drops and comes back at once.
  progress(`storm: ${n} clients reconnect at once`);
  await Promise.all(r3.workers.map((w) => w.call({ cmd: "close" })));
  await Bun.sleep(1000);
  const storm = await connectAll(`ws://127.0.0.1:${server.ws}/`, list, false, server.pid);
  await Promise.all(storm.ws.map((w) => w.call({ cmd: "close" })));
  await server.stop();

  // Two server processes each, twice as many connections as one process can hold.
  const scaleN = quick ? 6000 : 36_000;
  const scaleList = users("s", scaleN);
  const rawGroup = await startRawBunGroup(2);
  const rawScale = await atScale("raw-bun x2", `ws://127.0.0.1:${rawGroup.port}/`, scaleList, false, rawGroup.rssKB, rawGroup.stop);
  const redis = await startRedis();
  const group = await startImgate(["--workers", "2", "--redis", redis.url, "--multi-login-policy", "0"]);
  const imgateScale = await atScale("imgate --workers 2", `ws://127.0.0.1:${group.ws}/`, scaleList, true, group.rssKB, group.stop);
  await redis.stop();

  writeResult("idle", {
    quick, connections: n, settleSeconds: settleMs / 1000,
    rawBun: r1.result, nodeWs: r2.result, socketIO: r4.result, ...(r5 ? { nginxNchan: r5.result } : {}), imgate: r3.result,
    ...(r5 ? { ratioToNginxNchan: round(r3.result.kbPerConnection / r5.result.kbPerConnection, 2) } : {}),
    atScale: {
      connections: scaleN, serverProcesses: 2, clientSourceAddresses: Math.ceil(scaleN / PER_WORKER),
      rawBun: rawScale, imgate: { ...imgateScale, shape: "cluster (--workers 2, Redis)" },
      ratioToRawBun: round(imgateScale.kbPerConnection / rawScale.kbPerConnection, 2),
    },
    ratioToRawBun: round(r3.result.kbPerConnection / r1.result.kbPerConnection, 2),
    ratioToNodeWs: round(r3.result.kbPerConnection / r2.result.kbPerConnection, 2),
    ratioToSocketIO: round(r3.result.kbPerConnection / r4.result.kbPerConnection, 2),
    handshakeCpuRatioToRawBun: round(r3.result.serverCpuUsPerHandshake! / r1.result.serverCpuUsPerHandshake!, 2),
    loginStorm: {
      clients: n, ready: storm.connected, failed: storm.failed, secondsToAllReady: round(storm.ms / 1000, 2), serverCpuUsPerHandshake: storm.cpuUsPerHandshake,
      handshakeMs: { p50: round(percentile(storm.handshakes, 50)), p99: round(percentile(storm.handshakes, 99)) },
    },
  });
}
