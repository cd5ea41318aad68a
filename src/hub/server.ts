// The hub listener: gRPC (h2c), Connect and gRPC-web on one node:http2 server (Bun.serve cannot send gRPC
// trailers). An interceptor applies OpenIM's conventions to msgGateway calls and the bearer token where set.
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { createSecureServer, createServer, type Http2SecureServer, type Http2Server } from "node:http2";
import { readFileSync } from "node:fs";
import { timingSafeEqual } from "node:crypto";
import { Admin } from "../gen/imgate/admin/v1/admin_pb.js";
import { msgGateway } from "../gen/openim/msggateway/msggateway_pb.js";
import type { HubDeps } from "./deps.js";
import { adminService } from "./admin.js";
import { callerKey } from "./context.js";
import { toConnectError } from "../protocol/grpc-errors.js";
import { msgGatewayService } from "./msggateway.js";
import { listenHost } from "../discovery/address.js";

export interface Hub {
  port: number;
  /** The address bound: "::" (dual-stack) for a wildcard when this machine has IPv6, as Go's 0.0.0.0 is. */
  host: string;
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
  return (next) => async (req) => {
    const grpc = (req.header.get("content-type") ?? "").startsWith("application/grpc") && !req.header.get("content-type")!.startsWith("application/grpc-web");
    const path = req.url.replace(/^https?:\/\/[^/]+/, "");
    const openim = req.service.typeName === msgGateway.typeName;
    try {
      if (config.rpc.token && !(openim && config.rpc.allowOpenIMWithoutToken) && !tokenMatches(req.header.get("authorization"), config.rpc.token))
        throw new ConnectError("a valid bearer token is required", Code.Unauthenticated);
      if (openim) {
        const opid = req.header.get("operationid");
        if (opid === null) throw new ConnectError("missing metadata", Code.InvalidArgument);
        if (!opid || opid.includes(",")) throw new ConnectError("operationID error", Code.InvalidArgument);
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
    // share.yml rpcMaxBodySize (8 MiB) as the reference applies it.
    readMaxBytes: 8 << 20,
    writeMaxBytes: 8 << 20,
  });
  const { tlsCert, tlsKey } = node.config.rpc;
  const server: Http2Server | Http2SecureServer = tlsCert
    ? createSecureServer({ cert: readFileSync(tlsCert), key: readFileSync(tlsKey), allowHTTP1: true }, handler)
    : createServer(handler);
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
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Streams of idle HTTP/2 sessions would otherwise hold close() open.
        setTimeout(resolve, 1000);
      }),
  };
}
