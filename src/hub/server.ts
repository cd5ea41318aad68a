// The hub listener: gRPC (h2c), and Connect and gRPC-web over HTTP/2 or HTTP/1.1, all on one port (listener.ts tells
// them apart; Bun.serve cannot send gRPC trailers, so node:http2 and node:http serve). With TLS, ALPN decides.
// An interceptor applies OpenIM's conventions to msgGateway calls and the bearer token where set.
import { Code, ConnectError, type Interceptor, createContextValues } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { createSecureServer, createServer } from "node:http2";
import { createServer as createHttp1Server } from "node:http";
import { readFileSync } from "node:fs";
import type { Server } from "node:net";
import { timingSafeEqual } from "node:crypto";
import { Admin } from "../gen/imgate/admin/v1/admin_pb.js";
import { msgGateway } from "../gen/openim/msggateway/msggateway_pb.js";
import type { HubDeps } from "./deps.js";
import { adminService } from "./admin.js";
import { callerKey, peerKey } from "./context.js";
import { cidrMatcher, hostAllowed } from "../config/cidr.js";
import { toConnectError } from "../protocol/grpc-errors.js";
import { ErrCode } from "../protocol/errors.js";
import { msgGatewayService } from "./msggateway.js";
import { listenHost } from "../discovery/address.js";
import { sniffingServer } from "./listener.js";

export interface Hub {
  port: number;
  /** The address bound: "::" (dual-stack) for a wildcard when this machine has IPv6, as Go's 0.0.0.0 is. */
  host: string;
  /** Re-reads rpc.tlsCert/tlsKey: new handshakes get the new certificate, open connections keep theirs. */
  reloadTls(): void;
  close(): Promise<void>;
}

function tokenMatches(header: string | null, token: string): boolean {
  if (!header?.startsWith("Bearer ")) return false;
  const a = Buffer.from(header.slice(7)), b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

export function hubInterceptor(node: HubDeps): Interceptor {
  const { config } = node;
  const admins = new Set(config.imAdminUser.userIDs);
  let allowFrom = { list: config.rpc.allowFrom, match: cidrMatcher(config.rpc.allowFrom) };
  /** Whether this caller may use the msgGateway methods without the token (OpenIM's own services). */
  const tokenless = (address: string) => {
    if (!config.rpc.allowOpenIMWithoutToken) return false;
    // rpc.allowFrom is live: parsed again only when a reload changed it.
    if (allowFrom.list !== config.rpc.allowFrom) allowFrom = { list: config.rpc.allowFrom, match: cidrMatcher(config.rpc.allowFrom) };
    return allowFrom.match(address);
  };
  return (next) => async (req) => {
    const grpc = (req.header.get("content-type") ?? "").startsWith("application/grpc") && !req.header.get("content-type")!.startsWith("application/grpc-web");
    const path = req.url.replace(/^https?:\/\/[^/]+/, "");
    const openim = req.service.typeName === msgGateway.typeName;
    const peer = req.contextValues.get(peerKey);
    try {
      // Connect and gRPC-web callers (people, app servers) get a hint and the business code; gRPC keeps the reference's text.
      const refuse = (grpcText: string, hint: string, code: Code, errcode: number) =>
        new ConnectError(grpc ? grpcText : `${grpcText}: ${hint}`, code, grpc ? undefined : { "openim-errcode": String(errcode) });
      // DNS rebinding: a loopback hub answers loopback names only.
      if (!hostAllowed(config.rpc.host, peer.host ?? new URL(req.url).host))
        throw refuse("misdirected request", "this port answers loopback names only (localhost, 127.0.0.1, [::1])", Code.PermissionDenied, ErrCode.NoPermission);
      if (!(openim && tokenless(peer.address)) && !tokenMatches(req.header.get("authorization"), node.adminToken()))
        throw refuse("a valid bearer token is required", "send Authorization: Bearer <admin token> (rpc.token, or dataDir/admin-token)", Code.Unauthenticated, ErrCode.TokenInvalid);
      if (openim) {
        const opid = req.header.get("operationid");
        if (opid === null) throw refuse("missing metadata", "send an operationID header, as OpenIM's services do", Code.InvalidArgument, ErrCode.Args);
        if (!opid || opid.includes(",")) throw refuse("operationID error", "the operationID header must be non-empty and hold one value", Code.InvalidArgument, ErrCode.Args);
        const opUserID = req.header.get("opuserid") ?? "";
        const custom = (req.header.get("customheader") ?? "").split(",").map((s) => s.trim());
        const tempAdmin = custom.includes("ctxImTempAdminKey") && req.header.get("ctximtempadminkey") === "1";
        req.contextValues.set(callerKey, { operationID: opid, opUserID, admin: admins.has(opUserID) || tempAdmin });
      }
      const res = await next(req);
      node.metrics?.countRpc(path, 0);
      return res;
    } catch (e) {
      const err = toConnectError(e, grpc);
      node.metrics?.countRpc(path, err.code);
      throw err;
    }
  };
}

export async function startHub(node: HubDeps): Promise<Hub> {
  const handler = connectNodeAdapter({
    routes(router) {
      router.service(msgGateway, msgGatewayService(node));
      router.service(Admin, adminService(node));
    },
    interceptors: [hubInterceptor(node)],
    // The socket's peer and Host, for rpc.allowFrom and the loopback Host check.
    contextValues: (req) => createContextValues().set(peerKey, { address: req.socket?.remoteAddress ?? "", host: req.headers.host ?? (req.headers as Record<string, string | undefined>)[":authority"] }),
    // share.yml rpcMaxBodySize (8 MiB) as the reference applies it.
    readMaxBytes: 8 << 20,
    writeMaxBytes: 8 << 20,
  });
  const { tlsCert, tlsKey } = node.config.rpc;
  let server: Server, closeServer: (graceMs: number) => Promise<void>;
  let reloadTls = () => {
    if (node.config.rpc.tlsCert) throw new Error("rpc TLS was off at start: turning it on takes a restart");
  };
  if (tlsCert) {
    const tls = createSecureServer({ cert: readFileSync(tlsCert), key: readFileSync(tlsKey), allowHTTP1: true }, handler);
    server = tls;
    reloadTls = () => {
      const { tlsCert: cert, tlsKey: key } = node.config.rpc;
      if (!cert) throw new Error("rpc TLS was on at start: turning it off takes a restart");
      tls.setSecureContext({ cert: readFileSync(cert), key: readFileSync(key) });
    };
    closeServer = (graceMs) =>
      new Promise<void>((resolve) => {
        tls.close(() => resolve());
        setTimeout(resolve, graceMs);
      });
  } else {
    const sniffing = sniffingServer(createHttp1Server(handler), createServer(handler));
    server = sniffing.server;
    closeServer = sniffing.close;
  }
  const host = listenHost(node.config.rpc.host);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ port: node.config.rpc.port, host, reusePort: process.env.IMGATE_WORKER !== undefined } as any, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const addr = server.address();
  return {
    host,
    port: typeof addr === "object" && addr ? addr.port : node.config.rpc.port,
    reloadTls: () => reloadTls(),
    close: () => closeServer(1000),
  };
}
