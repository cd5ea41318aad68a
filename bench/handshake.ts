// Scenario "handshake": the server's CPU per WebSocket handshake, by thread, in about a minute. N clients connect
// (imgate: first logins with tokens it has not seen), all close, and all reconnect at once (a login storm) three
// times; the bare Bun.serve upgrade the same way. The idle scenario measures the same ratio among its memory figures;
// this one is the quick A/B for the handshake path, with the split between the event loop and the store thread.
import { cpuPerEvent, progress, round, startImgate, startWorker, threadCpuMs, users, writeResult, type Worker } from "./lib/harness.js";
import { startRawBun } from "./lib/peers.js";

const STORMS = 3;
const CLIENT_PROCESSES = 2;

/** Connects `list` from fresh client processes (a client process ends with its connections). */
async function connectAll(url: string, list: ReturnType<typeof users>, raw: boolean, pid: number) {
  const ws: Worker[] = await Promise.all(Array.from({ length: CLIENT_PROCESSES }, () => startWorker()));
  const per = Math.ceil(list.length / ws.length);
  const before = threadCpuMs(pid);
  const rs = await Promise.all(ws.map((w, i) => w.call({ cmd: "connect", url, users: list.slice(i * per, (i + 1) * per), concurrency: 200, raw })));
  const connected = rs.reduce((a, r) => a + r.connected, 0);
  const failed = rs.reduce((a, r) => a + r.failed, 0);
  const cpu = cpuPerEvent(before, threadCpuMs(pid), connected);
  return { result: { connected, failed, cpu }, close: () => Promise.all(ws.map((w) => w.call({ cmd: "close" }))) };
}

async function rounds(name: string, url: string, raw: boolean, pid: number, list: ReturnType<typeof users>) {
  progress(`handshake/${name}: ${list.length} first connects`);
  let run = await connectAll(url, list, raw, pid);
  const first = run.result;
  const storms = [];
  for (let i = 0; i < STORMS; i++) {
    await run.close();
    // The closes settle (registry, presence, kept tokens) before the storm's CPU is counted.
    await Bun.sleep(1000);
    progress(`handshake/${name}: storm ${i + 1} of ${STORMS}`);
    run = await connectAll(url, list, raw, pid);
    storms.push(run.result);
  }
  await run.close();
  return { first, storms };
}

export async function handshake(quick: boolean) {
  const n = quick ? 2000 : 8000;
  const raw = await startRawBun();
  const rawBun = await rounds("raw-bun", `ws://127.0.0.1:${raw.port}/`, true, raw.pid, users("hr", n)).finally(() => raw.stop());
  const server = await startImgate(["--multi-login-policy", "0"]);
  const imgate = await rounds("imgate", `ws://127.0.0.1:${server.ws}/`, false, server.pid, users("hi", n)).finally(() => server.stop());
  // The last storm: the first ones still carry JIT compilation.
  const last = (r: typeof imgate) => r.storms.at(-1)!.cpu.totalUs;
  writeResult("handshake", {
    quick, connections: n, clientProcesses: CLIENT_PROCESSES, storms: STORMS, rawBun, imgate,
    firstRatioToRawBun: round(imgate.first.cpu.totalUs / rawBun.first.cpu.totalUs, 2),
    stormRatioToRawBun: round(last(imgate) / last(rawBun), 2),
  });
}
