// Comparison servers started by the benchmarks: the bare Bun.serve ceiling, a Node.js + ws server and Socket.IO.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, rssKB, waitHttp } from "./harness.js";

export interface PeerServer {
  name: string;
  port: number;
  pid: number;
  rssKB(): number;
  publish(rounds: number, size: number): Promise<void>;
  stop(): Promise<void>;
}

let relayBundle: Promise<string> | undefined;
/** chat-relay.ts bundled for node, once per run: the node peers relay chat with imgate's own codec. */
function relayModule(): Promise<string> {
  relayBundle ??= (async () => {
    const outdir = mkdtempSync(join(tmpdir(), "imgate-relay-"));
    const r = await Bun.build({ entrypoints: [join(import.meta.dir, "chat-relay.ts")], target: "node", format: "esm", outdir });
    if (!r.success) throw new Error(`bundling chat-relay failed: ${r.logs.join("\n")}`);
    return r.outputs[0]!.path;
  })();
  return relayBundle;
}

async function start(name: string, cmd: string[], env: Record<string, string> = {}, fixedPort?: number): Promise<PeerServer> {
  const port = fixedPort ?? (await freePort());
  const proc = Bun.spawn([...cmd, String(port)], { stdout: "inherit", stderr: "inherit", env: { ...process.env, RELAY_MODULE: await relayModule(), ...env } });
  await waitHttp(`http://127.0.0.1:${port}/healthz`);
  return {
    name, port, pid: proc.pid,
    rssKB: () => rssKB(proc.pid),
    async publish(rounds, size) {
      await fetch(`http://127.0.0.1:${port}/publish?rounds=${rounds}&size=${size}`, { method: "POST" });
    },
    async stop() {
      proc.kill("SIGTERM");
      await proc.exited;
    },
  };
}

export const startRawBun = () => start("raw Bun.serve", [process.execPath, join(import.meta.dir, "raw-server.ts")]);
/** `processes` bare Bun.serve processes sharing one port with SO_REUSEPORT. */
export async function startRawBunGroup(processes: number) {
  const port = await freePort();
  const group: PeerServer[] = [];
  for (let i = 0; i < processes; i++) group.push(await start("raw Bun.serve", [process.execPath, join(import.meta.dir, "raw-server.ts")], { RAW_REUSE_PORT: "1" }, port));
  return { port, rssKB: () => group.reduce((a, p) => a + p.rssKB(), 0), stop: () => Promise.all(group.map((p) => p.stop())).then(() => {}) };
}
export const startNodeWs = () => start("node + ws", ["node", join(import.meta.dir, "ws-server.mjs")]);
/** Socket.IO; with a Redis URL, one node of a cluster joined by @socket.io/redis-adapter. */
export const startSocketIO = (redisURL?: string) =>
  start("Socket.IO", ["node", join(import.meta.dir, "socketio-server.mjs")], redisURL ? { REDIS_URL: redisURL } : {});
