// A peer for comparison: nginx with the nchan pub/sub module (Debian's nginx + libnginx-mod-nchan), started on
// its own port with its own config: WebSocket subscribers on /sub, HTTP publish on /pub (one channel, "all").
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, treeRssKB, waitHttp } from "./harness.js";
import type { PeerServer } from "./peers.js";

export async function startNchan(): Promise<PeerServer> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "imgate-nchan-"));
  const conf = `
load_module /usr/lib/nginx/modules/ngx_nchan_module.so;
worker_processes 1;
worker_rlimit_nofile 20000;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
# nchan holds more than one connection slot per subscriber: 20000 slots served ~18,700 subscribers.
events { worker_connections 40000; }
http {
  access_log off;
  client_body_temp_path ${dir};
  proxy_temp_path ${dir};
  fastcgi_temp_path ${dir};
  uwsgi_temp_path ${dir};
  scgi_temp_path ${dir};
  server {
    listen 127.0.0.1:${port} backlog=4096;
    location = /healthz { return 200 "ok"; }
    location = /sub { nchan_subscriber websocket; nchan_channel_id all; nchan_message_buffer_length 0; }
    location = /pub { nchan_publisher; nchan_channel_id all; nchan_message_buffer_length 0; }
  }
}`;
  writeFileSync(join(dir, "nginx.conf"), conf);
  const proc = Bun.spawn(["nginx", "-c", join(dir, "nginx.conf"), "-p", dir], { stdout: "inherit", stderr: "inherit" });
  await waitHttp(`http://127.0.0.1:${port}/healthz`);
  return {
    name: "nginx + nchan", port, pid: proc.pid,
    rssKB: () => treeRssKB(proc.pid),
    async publish(rounds, size) {
      const body = new Uint8Array(size).fill(120);
      for (let i = 0; i < rounds; i++) await fetch(`http://127.0.0.1:${port}/pub`, { method: "POST", body, headers: { "Content-Type": "application/octet-stream" } });
    },
    async stop() {
      proc.kill("SIGTERM");
      await proc.exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
