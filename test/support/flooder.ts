// A hostile client in a process of its own (so its decoding does not steal the server's event loop, which a client
// in the test's process would): FLOOD = {port, userID, token, conns, inFlight, ms, reqIdentifier, dataB64}. It opens
// `conns` sockets, keeps `inFlight` copies of the request in flight on each for `ms`, never decodes a reply, and
// prints {"replies": N} when done.
import { encodeJsonReq } from "../../src/gateway/codec/json.js";

const o = JSON.parse(process.env.FLOOD!) as {
  port: number; userID: string; token: string; conns: number; inFlight: number; ms: number; reqIdentifier: number; dataB64: string;
};
const data = Buffer.from(o.dataB64, "base64");
let replies = 0, seq = 0;
const end = Date.now() + o.ms;
const q = new URLSearchParams({ sendID: o.userID, token: o.token, platformID: "5", operationID: "flood", isBackground: "false", sdkType: "js", isMsgResp: "true" });
const sockets = await Promise.all(Array.from({ length: o.conns }, () => new Promise<WebSocket>((resolve, reject) => {
  const ws = new WebSocket(`ws://127.0.0.1:${o.port}/?${q}`);
  ws.binaryType = "arraybuffer";
  const send = () => ws.send(encodeJsonReq({ reqIdentifier: o.reqIdentifier, token: "", sendID: o.userID, operationID: "flood", msgIncr: `f${++seq}`, data }));
  ws.onmessage = (ev) => {
    if (typeof ev.data === "string") {
      // The handshake's answer (isMsgResp): start the flood.
      if (ev.data.includes('"errCode":0')) {
        for (let i = 0; i < o.inFlight; i++) send();
        resolve(ws);
      } else reject(new Error(ev.data));
      return;
    }
    replies++;
    if (Date.now() < end) send();
  };
  ws.onerror = () => reject(new Error("websocket error"));
})));
await Bun.sleep(Math.max(0, end - Date.now()));
for (const ws of sockets) ws.close();
console.log(JSON.stringify({ replies }));
