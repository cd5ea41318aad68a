// The codec variants a connection can speak (json or gob, each optionally gzip-compressed) over the two envelope
// structs of OpenIM's WebSocket protocol (wire.ts).
import { decodeGobReq, encodeGobResp } from "./gob.js";
import { decodeJsonReq, encodeJsonResp } from "./json.js";
import { gzipFrame } from "./gzip.js";
import type { WireReq, WireResp } from "./wire.js";

export type { WireReq, WireResp };

export type CodecName = "json" | "gob";
export type Variant = "json" | "json+gzip" | "gob" | "gob+gzip";
export const VARIANTS: readonly Variant[] = ["json", "json+gzip", "gob", "gob+gzip"];

export function variantOf(codec: CodecName, gzip: boolean): Variant {
  return (gzip ? `${codec}+gzip` : codec) as Variant;
}

export function decodeReq(codec: CodecName, buf: Uint8Array): WireReq {
  return codec === "gob" ? decodeGobReq(buf) : decodeJsonReq(buf);
}

/** The bytes of one binary frame for this variant. */
export function encodeResp(variant: Variant, resp: WireResp): Uint8Array {
  switch (variant) {
    case "json": return encodeJsonResp(resp);
    case "gob": return encodeGobResp(resp);
    case "json+gzip": return gzipFrame(encodeJsonResp(resp));
    case "gob+gzip": return gzipFrame(encodeGobResp(resp));
  }
}

export function resp(reqIdentifier: number, fields: Partial<WireResp> = {}): WireResp {
  return { reqIdentifier, msgIncr: "", operationID: "", errCode: 0, errMsg: "", data: undefined, ...fields };
}
