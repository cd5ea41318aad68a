// A bare WebSocket client over a TCP socket: it sees every frame the server sends (pings included), can
// stop reading to play a slow consumer, and can send frames no well-behaved client library would.
import { type Socket, connect as tcpConnect } from "node:net";
import { randomBytes } from "node:crypto";

export interface RawFrame {
  opcode: number;
  payload: Buffer;
}

export interface RawWs {
  socket: Socket;
  frames: RawFrame[];
  status: number;
  /** Sends a masked frame (client frames must be masked). */
  send(opcode: number, payload: Uint8Array): void;
  closed: Promise<void>;
  /** Stop reading from the socket: the kernel buffers fill and the server sees backpressure. */
  pause(): void;
}

export function rawConnect(port: number, pathAndQuery: string): Promise<RawWs> {
  return new Promise((resolve, reject) => {
    const socket = tcpConnect(port, "127.0.0.1");
    const key = randomBytes(16).toString("base64");
    let buf = Buffer.alloc(0);
    let upgraded = false;
    const frames: RawFrame[] = [];
    let resolveClosed!: () => void;
    const closed = new Promise<void>((r) => (resolveClosed = r));
    const ws: RawWs = {
      socket, frames, status: 0, closed,
      send(opcode, payload) {
        const len = payload.length;
        const head = len < 126 ? Buffer.from([0x80 | opcode, 0x80 | len])
          : len < 65536 ? Buffer.from([0x80 | opcode, 0x80 | 126, len >> 8, len & 255])
          : Buffer.concat([Buffer.from([0x80 | opcode, 0x80 | 127]), bigLen(len)]);
        const mask = randomBytes(4);
        const body = Buffer.from(payload);
        for (let i = 0; i < body.length; i++) body[i]! ^= mask[i & 3]!;
        socket.write(Buffer.concat([head, mask, body]));
      },
      pause() {
        socket.pause();
      },
    };
    socket.on("connect", () => {
      socket.write(`GET ${pathAndQuery} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    });
    socket.on("data", (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (!upgraded) {
        const end = buf.indexOf("\r\n\r\n");
        if (end < 0) return;
        ws.status = Number(buf.subarray(0, end).toString().split(" ")[1]);
        buf = buf.subarray(end + 4);
        upgraded = true;
        if (ws.status !== 101) {
          reject(new Error(`upgrade failed: ${ws.status}`));
          return;
        }
        resolve(ws);
      }
      for (;;) {
        if (buf.length < 2) return;
        const opcode = buf[0]! & 0x0f;
        let len = buf[1]! & 0x7f;
        let off = 2;
        if (len === 126) {
          if (buf.length < 4) return;
          len = buf.readUInt16BE(2);
          off = 4;
        } else if (len === 127) {
          if (buf.length < 10) return;
          len = Number(buf.readBigUInt64BE(2));
          off = 10;
        }
        if (buf.length < off + len) return;
        frames.push({ opcode, payload: buf.subarray(off, off + len) });
        buf = buf.subarray(off + len);
      }
    });
    socket.on("close", () => resolveClosed());
    socket.on("error", (e) => {
      if (!upgraded) reject(e);
    });
  });
}

function bigLen(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n));
  return b;
}

export const Op = { Text: 1, Binary: 2, Close: 8, Ping: 9, Pong: 10 } as const;
