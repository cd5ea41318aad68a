// A real etcd (Debian's etcd-server) for one test file: its own ports and data dir, stopped by PID.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, waitHttp } from "./proc.js";

/** `clientPort`: listen there (a test that starts imgate before etcd picks the port first). */
export async function startEtcd(opts: { clientPort?: number } = {}) {
  const [client, peer] = [opts.clientPort ?? await freePort(), await freePort()];
  const dir = mkdtempSync(join(tmpdir(), "imgate-etcd-"));
  const url = `http://127.0.0.1:${client}`;
  const proc = Bun.spawn(["etcd", "--data-dir", join(dir, "d"), "--listen-client-urls", url, "--advertise-client-urls", url,
    "--listen-peer-urls", `http://127.0.0.1:${peer}`, "--initial-advertise-peer-urls", `http://127.0.0.1:${peer}`,
    "--initial-cluster", `default=http://127.0.0.1:${peer}`], { stdout: "ignore", stderr: "ignore" });
  await waitHttp(`${url}/health`);
  return {
    address: `127.0.0.1:${client}`,
    async stop() {
      proc.kill("SIGTERM");
      await proc.exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
