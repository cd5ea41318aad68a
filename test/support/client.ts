// A test client written from the protocol spec (not from the server code's encoders, except the
// envelope codecs the spec's vectors pin down). Speaks JSON or gob, optionally gzip.
import { encodeGobReq, decodeGobResp } from "../../src/gateway/codec/gob.js";
import { decodeJsonResp, encodeJsonReq } from "../../src/gateway/codec/json.js";
import type { WireResp } from "../../src/gateway/codec/envelope.js";
import { gunzipSync } from "node:zlib";

export interface ClientOpts {
  port: number;
  userID: string;
  platformID: number;
  token: string;
  sdkType?: "js" | "go";
  gzip?: boolean;
  isMsgResp?: boolean;
  operationID?: string;
  /** Extra or replacement query parameters. */
  query?: Record<string, string>;
  path?: string;
  /** wss:// with this CA (or rejectUnauthorized false). */
  tls?: { ca?: string; rejectUnauthorized?: boolean };
}

export interface TestClient {
  ws: WebSocket;
  opts: ClientOpts;
  /** Sends a request and waits for the reply with the same msgIncr. */
  request(reqIdentifier: number, data?: Uint8Array, o?: { operationID?: string; sendID?: string }): Promise<WireResp>;
  sendRaw(frame: Uint8Array | string): void;
  /** The next server push with this reqIdentifier (pushes have an empty msgIncr). */
  nextPush(reqIdentifier: number, timeoutMs?: number): Promise<WireResp>;
  /** All decoded binary frames received so far, in order. */
  frames: WireResp[];
  texts: string[];
  closed: Promise<{ code: number; reason: string }>;
  close(): void;
}

let seq = 0;

export function url(o: ClientOpts): string {
  const q = new URLSearchParams({
    sendID: o.userID,
    token: o.token,
    platformID: String(o.platformID),
    operationID: o.operationID ?? `op-${o.userID}`,
    isBackground: "false",
  });
  if (o.sdkType) q.set("sdkType", o.sdkType);
  if (o.gzip) q.set("compression", "gzip");
  if (o.isMsgResp) q.set("isMsgResp", "true");
  for (const [k, v] of Object.entries(o.query ?? {})) q.set(k, v);
  return `${o.tls ? "wss" : "ws"}://127.0.0.1:${o.port}${o.path ?? "/"}?${q}`;
}

export function connect(o: ClientOpts): Promise<TestClient> {
  const ws = o.tls ? new WebSocket(url(o), { tls: o.tls } as any) : new WebSocket(url(o));
  ws.binaryType = "arraybuffer";
  const json = (o.sdkType ?? "go") === "js";
  const waiting = new Map<string, (r: WireResp) => void>();
  const pushWaiters: { id: number; resolve: (r: WireResp) => void }[] = [];
  const pushes: WireResp[] = [];
  const frames: WireResp[] = [];
  const texts: string[] = [];
  let resolveClosed!: (v: { code: number; reason: string }) => void;
  const closed = new Promise<{ code: number; reason: string }>((r) => (resolveClosed = r));

  ws.onmessage = (ev) => {
    if (typeof ev.data === "string") {
      texts.push(ev.data);
      return;
    }
    let buf = new Uint8Array(ev.data as ArrayBuffer);
    if (o.gzip) buf = new Uint8Array(gunzipSync(buf));
    const r = json ? decodeJsonResp(buf) : decodeGobResp(buf);
    frames.push(r);
    if (r.msgIncr && waiting.has(r.msgIncr)) {
      waiting.get(r.msgIncr)!(r);
      waiting.delete(r.msgIncr);
      return;
    }
    const i = pushWaiters.findIndex((w) => w.id === r.reqIdentifier);
    if (i >= 0) pushWaiters.splice(i, 1)[0]!.resolve(r);
    else pushes.push(r);
  };
  ws.onclose = (ev) => resolveClosed({ code: ev.code, reason: ev.reason });

  const encode = (r: Parameters<typeof encodeJsonReq>[0]) => {
    const raw = json ? encodeJsonReq(r) : encodeGobReq(r);
    return o.gzip ? Bun.gzipSync(raw as Uint8Array<ArrayBuffer>) : raw;
  };

  const client: TestClient = {
    ws, opts: o, frames, texts, closed,
    request(reqIdentifier, data, ro = {}) {
      const msgIncr = `${o.userID}_${++seq}`;
      const p = new Promise<WireResp>((resolve, reject) => {
        waiting.set(msgIncr, resolve);
        setTimeout(() => reject(new Error(`no reply to ${reqIdentifier} (${msgIncr})`)), 5000);
      });
      ws.send(encode({
        reqIdentifier, token: o.token, sendID: ro.sendID ?? o.userID, operationID: ro.operationID ?? `op-${msgIncr}`, msgIncr, data,
      }));
      return p;
    },
    sendRaw(frame) {
      ws.send(frame);
    },
    nextPush(id, timeoutMs = 5000) {
      const i = pushes.findIndex((r) => r.reqIdentifier === id);
      if (i >= 0) return Promise.resolve(pushes.splice(i, 1)[0]!);
      return new Promise((resolve, reject) => {
        const w = { id, resolve };
        pushWaiters.push(w);
        setTimeout(() => {
          const k = pushWaiters.indexOf(w);
          if (k >= 0) {
            pushWaiters.splice(k, 1);
            reject(new Error(`no push ${id} within ${timeoutMs} ms`));
          }
        }, timeoutMs);
      });
    },
    close() {
      ws.close();
    },
  };

  return new Promise((resolve, reject) => {
    ws.onopen = () => {
      if (!o.isMsgResp) return resolve(client);
      // isMsgResp: the handshake result is the first text frame.
      const check = () => {
        const first = texts[0];
        if (first === undefined) return setTimeout(check, 2);
        const r = JSON.parse(first);
        if (r.errCode === 0) resolve(client);
        else reject(Object.assign(new Error(`handshake failed: ${first}`), { body: r }));
      };
      check();
    };
    ws.onerror = () => reject(new Error("websocket error"));
  });
}

/** Waits until `f` is true, polling; fails after timeoutMs. */
/**
 * A barrier on one socket: a 1001 round trip. Frames on one socket are ordered and deliveries of earlier sends are
 * queued before a later request's reply (the reply needs a store round trip), so once it is back, every push the
 * server meant for this socket before it has arrived: checking that something did NOT arrive is safe after it.
 */
export async function settled(c: TestClient): Promise<void> {
  const r = await c.request(1001);
  if (r.errCode !== 0) throw new Error(`barrier 1001 failed: ${r.errCode} ${r.errMsg}`);
}

/** Polls an async condition until it holds, at most `timeoutMs`. */
export async function eventually(f: () => Promise<boolean>, timeoutMs = 5000, what = "condition"): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await f())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(10);
  }
}

export async function until(f: () => boolean, timeoutMs = 5000, what = "condition"): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!f()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(5);
  }
}
