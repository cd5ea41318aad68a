// The JSON envelope with Go encoding/json semantics (§2.2): case-insensitive keys, last key wins, unknown
// keys ignored, data as padded standard base64 (or null), and Go's HTML-safe string escaping on output.
import type { WireReq, WireResp } from "../../protocol/wire.js";

export class JsonEnvelopeError extends Error {
  override name = "JsonEnvelopeError";
}

const textDecoder = new TextDecoder("utf-8", { fatal: false });
const textEncoder = new TextEncoder();

const REQ_KEYS: Record<string, keyof WireReq> = {
  reqidentifier: "reqIdentifier",
  token: "token",
  sendid: "sendID",
  operationid: "operationID",
  msgincr: "msgIncr",
  data: "data",
};

const stdBase64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Go's base64.StdEncoding.DecodeString as encoding/json uses it: padding required; \r and \n skipped. */
export function decodeStdBase64(s: string): Uint8Array {
  const clean = s.includes("\n") || s.includes("\r") ? s.replace(/[\r\n]/g, "") : s;
  if (!stdBase64.test(clean)) throw new JsonEnvelopeError("illegal base64 data");
  return new Uint8Array(Buffer.from(clean, "base64"));
}

export function decodeJsonReq(buf: Uint8Array): WireReq {
  let v: unknown;
  try {
    v = JSON.parse(textDecoder.decode(buf));
  } catch (e) {
    throw new JsonEnvelopeError(`invalid JSON: ${(e as Error).message}`);
  }
  const out: WireReq = { reqIdentifier: 0, token: "", sendID: "", operationID: "", msgIncr: "", data: undefined };
  if (v === null) return out;
  if (typeof v !== "object" || Array.isArray(v)) throw new JsonEnvelopeError("cannot unmarshal into Req");
  for (const [k, val] of Object.entries(v as Record<string, unknown>)) {
    const key = REQ_KEYS[k.toLowerCase()];
    if (!key || val === null) continue; // Go: unknown keys ignored; null leaves the zero value
    switch (key) {
      case "reqIdentifier":
        if (typeof val !== "number" || !Number.isInteger(val) || val < -2147483648 || val > 2147483647)
          throw new JsonEnvelopeError("reqIdentifier must be an int32 number");
        out.reqIdentifier = val;
        break;
      case "data":
        if (typeof val === "string") out.data = decodeStdBase64(val);
        else if (Array.isArray(val) && val.every((b) => Number.isInteger(b) && b >= 0 && b <= 255)) out.data = new Uint8Array(val);
        else throw new JsonEnvelopeError("data must be base64 text");
        break;
      default:
        if (typeof val !== "string") throw new JsonEnvelopeError(`${key} must be a string`);
        (out as any)[key] = val;
    }
  }
  return out;
}

const needsGoEscape = /[<>&\u2028\u2029]/;
const goEscapes: Record<string, string> = {
  "<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029",
};

/** A JSON string literal as Go's encoder writes it (HTML characters escaped). */
export function goString(s: string): string {
  const q = JSON.stringify(s);
  return needsGoEscape.test(q) ? q.replace(/[<>&\u2028\u2029]/g, (c) => goEscapes[c]!) : q;
}

export function encodeJsonResp(r: WireResp): Uint8Array {
  const data = r.data === undefined ? "null" : `"${Buffer.from(r.data.buffer, r.data.byteOffset, r.data.byteLength).toString("base64")}"`;
  return textEncoder.encode(
    `{"reqIdentifier":${r.reqIdentifier},"msgIncr":${goString(r.msgIncr)},"operationID":${goString(r.operationID)},"errCode":${r.errCode},"errMsg":${goString(r.errMsg)},"data":${data}}`,
  );
}

/** Encodes a Req as JSON (test clients and the load generator). */
export function encodeJsonReq(r: WireReq): Uint8Array {
  const data = r.data === undefined ? "null" : `"${Buffer.from(r.data).toString("base64")}"`;
  return textEncoder.encode(
    `{"reqIdentifier":${r.reqIdentifier},"token":${goString(r.token)},"sendID":${goString(r.sendID)},"operationID":${goString(r.operationID)},"msgIncr":${goString(r.msgIncr)},"data":${data}}`,
  );
}

/** Decodes a Resp (test clients). */
export function decodeJsonResp(buf: Uint8Array): WireResp {
  const v = JSON.parse(textDecoder.decode(buf));
  return {
    reqIdentifier: v.reqIdentifier ?? 0,
    msgIncr: v.msgIncr ?? "",
    operationID: v.operationID ?? "",
    errCode: v.errCode ?? 0,
    errMsg: v.errMsg ?? "",
    data: v.data == null ? undefined : decodeStdBase64(v.data),
  };
}
