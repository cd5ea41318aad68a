// One plaintext port for every caller of the hub: gRPC over h2c (OpenIM's services, grpc-go, grpc-js) and plain
// HTTP/1.1 (Connect unary with JSON or binary protobuf: curl, PHP, Python, any app server). A client speaking HTTP/2
// without TLS must open with the fixed connection preface (RFC 9113 §3.4); anything else is HTTP/1.x. The first
// bytes decide, then the socket is handed, bytes unread, to node:http2 or node:http.
import { createServer as createNetServer, type Server as NetServer, type Socket } from "node:net";
import type { Server as Http1Server } from "node:http";
import type { Http2Server } from "node:http2";

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

/** "h2" when `head` is the HTTP/2 preface, "h1" when it cannot be, undefined while too short to tell. */
export function classify(head: Buffer): "h1" | "h2" | undefined {
  const n = Math.min(head.length, PREFACE.length);
  if (!head.subarray(0, n).equals(PREFACE.subarray(0, n))) return "h1";
  return head.length >= PREFACE.length ? "h2" : undefined;
}

export interface SniffingServer {
  server: NetServer;
  /** Stops accepting, lets calls in flight finish for up to graceMs, then closes what is left. */
  close(graceMs: number): Promise<void>;
}

export function sniffingServer(h1: Http1Server, h2: Http2Server, firstBytesTimeoutMs = 10_000): SniffingServer {
  const sockets = new Set<Socket>();
  const server = createNetServer((sock) => {
    sockets.add(sock);
    sock.once("close", () => sockets.delete(sock));
    // Until handed over, an error (a reset before the first byte) is this socket's end, not the process's.
    const early = () => sock.destroy();
    sock.on("error", early);
    const silent = setTimeout(() => sock.destroy(), firstBytesTimeoutMs);
    let head: Buffer = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      head = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
      const kind = classify(head);
      if (!kind) return;
      clearTimeout(silent);
      sock.off("data", onData);
      sock.off("error", early);
      sock.pause();
      sock.unshift(head);
      (kind === "h2" ? h2 : h1).emit("connection", sock);
      sock.resume();
    };
    sock.on("data", onData);
  });
  return {
    server,
    close: (graceMs) =>
      new Promise<void>((resolve) => {
        let done = false;
        const finish = () => {
          if (done) return;
          done = true;
          for (const s of sockets) s.destroy();
          resolve();
        };
        server.close(() => finish());
        h1.closeIdleConnections();
        // Idle HTTP/2 sessions and keep-alive sockets would otherwise hold close() open.
        setTimeout(finish, graceMs);
      }),
  };
}
