// The admin HTTP listener: health and readiness now; metrics and the dashboard land here too.
import type { Config } from "../config/schema.js";
import type { Logger } from "../observe/log.js";

export interface AdminHttp {
  port: number;
  stop(): void;
}

export function startAdminHttp(opts: { config: Config; log: Logger; ready: () => boolean; routes?: Record<string, (req: Request) => Response | Promise<Response>> }): AdminHttp {
  const server = Bun.serve({
    hostname: opts.config.admin.host,
    port: opts.config.admin.port,
    fetch(req) {
      const path = new URL(req.url).pathname;
      if (path === "/healthz") return new Response("ok\n");
      if (path === "/readyz") return opts.ready() ? new Response("ready\n") : new Response("not ready\n", { status: 503 });
      const route = opts.routes?.[path];
      if (route) return route(req);
      return new Response("not found\n", { status: 404 });
    },
  });
  return { port: server.port ?? opts.config.admin.port, stop: () => server.stop(true) };
}
