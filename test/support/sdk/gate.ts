// A TCP gate between the real SDKs and imgate. Closed, it refuses connections (the SDKs back off and retry, as
// when a gateway is down); open, it forwards to the current gateway, so a restarted imgate may listen anywhere.
// It also keeps what clients send on each connection (the upgrade request and their first frames), so the
// tests can record the real SDKs' frames as fixtures.
import { createServer, connect, type Server, type Socket } from "node:net";

export interface CapturedConn {
  /** The upgrade request's path and query, e.g. "/?sendID=…". */
  path: string;
  /** Client frames, unmasked: opcode and payload. */
  frames: { opcode: number; payload: Buffer }[];
}

export interface Gate {
  port: number;
  /** Forward new connections to this gateway port; existing ones stay as they are. */
  open(targetPort: number): void;
  /** Refuse new connections from now on. */
  close(): void;
  /** Everything clients sent, per connection, in connection order. */
  captured(): CapturedConn[];
  stop(): Promise<void>;
}

const CAPTURE_BYTES = 256 * 1024;

export async function startGate(): Promise<Gate> {
  let target: number | undefined;
  const raw: Buffer[][] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    sockets.add(client);
    client.on("close", () => sockets.delete(client));
    client.on("error", () => {});
    if (target === undefined) return void client.destroy();
    const chunks: Buffer[] = [];
    raw.push(chunks);
    let kept = 0;
    const upstream = connect(target, "127.0.0.1");
    sockets.add(upstream);
    upstream.on("close", () => { sockets.delete(upstream); client.destroy(); });
    upstream.on("error", () => client.destroy());
    client.on("close", () => upstream.destroy());
    client.on("data", (d: Buffer) => {
      if (kept < CAPTURE_BYTES) { chunks.push(d); kept += d.length; }
      upstream.write(d);
    });
    upstream.on("data", (d) => client.write(d));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    open: (p) => void (target = p),
    close: () => void (target = undefined),
    captured: () => raw.map((chunks) => parseClientStream(Buffer.concat(chunks))).filter((c): c is CapturedConn => c !== undefined),
    async stop() {
      target = undefined;
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** The upgrade request line and the complete client frames that follow it (RFC 6455 framing, masked). */
function parseClientStream(buf: Buffer): CapturedConn | undefined {
  const headEnd = buf.indexOf("\r\n\r\n");
  if (headEnd < 0) return undefined;
  const path = buf.subarray(0, buf.indexOf("\r\n")).toString().split(" ")[1] ?? "";
  const frames: CapturedConn["frames"] = [];
  let i = headEnd + 4;
  while (i + 2 <= buf.length) {
    const opcode = buf[i]! & 0x0f;
    const masked = (buf[i + 1]! & 0x80) !== 0;
    let len = buf[i + 1]! & 0x7f;
    let p = i + 2;
    if (len === 126) { if (p + 2 > buf.length) break; len = buf.readUInt16BE(p); p += 2; }
    else if (len === 127) { if (p + 8 > buf.length) break; len = Number(buf.readBigUInt64BE(p)); p += 8; }
    const mask = masked ? buf.subarray(p, p + 4) : undefined;
    if (masked) p += 4;
    if (p + len > buf.length) break;
    const payload = Buffer.from(buf.subarray(p, p + len));
    if (mask) for (let k = 0; k < payload.length; k++) payload[k]! ^= mask[k & 3]!;
    frames.push({ opcode, payload });
    i = p + len;
  }
  return { path, frames };
}
