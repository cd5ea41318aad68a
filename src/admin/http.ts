// The admin HTTP listener: /healthz, /readyz, /metrics (Prometheus), / (the dashboard) and /events (its
// Server-Sent Events feed), and OpenIM's app-server API unless it has a listener of its own. Loopback by default,
// and then it answers only requests whose Host names loopback (DNS rebinding, docs/security.md). The dashboard and
// its feed need the admin token (a bearer header, or ?token= for the browser page and its event stream); /metrics
// needs it only when rpc.token is configured (Prometheus then sends it), so a local scraper works out of the box.
import { timingSafeEqual } from "node:crypto";
import type { Config } from "../config/schema.js";
import type { Logger } from "../observe/log.js";
import type { Metrics } from "../observe/metrics.js";
import type { Sampler } from "../observe/sampler.js";
import { dashboardHtml } from "./dashboard.js";
import { hostAllowed } from "../config/cidr.js";

export interface AdminHttp {
  port: number;
  stop(): void;
}

export interface AdminDeps {
  config: Config;
  log: Logger;
  ready: () => { ready: boolean; reason?: string };
  metrics?: Metrics;
  sampler?: Sampler;
  meta?: () => Record<string, unknown>;
  /** rpc.token, or the generated one (dataDir/admin-token). */
  adminToken: () => string;
  /** OpenIM's app-server API (/auth, /msg, /user), with its own token rules, when it is served on this port. */
  api?: { owns(pathname: string): boolean; fetch(req: Request): Promise<Response> };
}

function authorized(req: Request, url: URL, token: string): boolean {
  if (!token) return true;
  const given = req.headers.get("authorization")?.replace(/^Bearer /, "") ?? url.searchParams.get("token") ?? "";
  const a = Buffer.from(given), b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

export function startAdminHttp(deps: AdminDeps): AdminHttp {
  const enc = new TextEncoder();
  const server = Bun.serve({
    hostname: deps.config.admin.host,
    port: deps.config.admin.port,
    idleTimeout: 0,
    async fetch(req) {
      const url = new URL(req.url);
      if (!hostAllowed(deps.config.admin.host, req.headers.get("host")))
        return new Response("misdirected request: this port answers loopback names only (localhost, 127.0.0.1, [::1])\n", { status: 421 });
      switch (url.pathname) {
        case "/healthz":
          return new Response("ok\n");
        case "/readyz": {
          const r = deps.ready();
          return r.ready ? new Response("ready\n") : new Response(`not ready: ${r.reason ?? "unknown"}\n`, { status: 503 });
        }
      }
      if (deps.api?.owns(url.pathname)) return deps.api.fetch(req);
      if (!["/", "/events", "/metrics"].includes(url.pathname)) return new Response("not found\n", { status: 404 });
      const token = url.pathname === "/metrics" ? deps.config.rpc.token : deps.adminToken();
      if (!authorized(req, url, token)) return new Response("unauthorized: send Authorization: Bearer <admin token> (dataDir/admin-token)\n", { status: 401 });
      switch (url.pathname) {
        case "/metrics":
          if (!deps.metrics) break;
          return new Response(await deps.metrics.render(), { headers: { "Content-Type": deps.metrics.contentType } });
        case "/":
          return new Response(dashboardHtml, { headers: { "Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store" } });
        case "/events": {
          const sampler = deps.sampler;
          if (!sampler) break;
          let unsubscribe = () => {};
          const stream = new ReadableStream<Uint8Array>({
            start(ctrl) {
              const hello = { ...deps.meta?.(), history: sampler.history() };
              ctrl.enqueue(enc.encode(`event: hello\ndata: ${JSON.stringify(hello)}\n\n`));
              const off = sampler.subscribe((s) => {
                try {
                  ctrl.enqueue(enc.encode(`data: ${JSON.stringify(s)}\n\n`));
                } catch {
                  off();
                }
              });
              unsubscribe = () => off();
            },
            cancel() {
              unsubscribe();
            },
          });
          return new Response(stream, { headers: { "Content-Type": "text/event-stream", "Cache-Control": "no-store", Connection: "keep-alive" } });
        }
      }
      return new Response("not found\n", { status: 404 });
    },
  });
  return { port: server.port ?? deps.config.admin.port, stop: () => server.stop(true) };
}
