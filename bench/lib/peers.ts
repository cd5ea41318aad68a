// Comparison servers started by the benchmarks: the bare Bun.serve ceiling and a Node.js + ws server.
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

async function start(name: string, cmd: string[]): Promise<PeerServer> {
  const port = await freePort();
  const proc = Bun.spawn([...cmd, String(port)], { stdout: "inherit", stderr: "inherit" });
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
export const startNodeWs = () => start("node + ws", ["node", join(import.meta.dir, "ws-server.mjs")]);
export const startSocketIO = () => start("Socket.IO", ["node", join(import.meta.dir, "socketio-server.mjs")]);
