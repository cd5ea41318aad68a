// Decoding requests and encoding responses in each codec variant (the envelope types live in protocol/wire.ts).
import { decodeGobReq, encodeGobResp } from "./gob.js";
import { decodeJsonReq, encodeJsonResp } from "./json.js";
import { gzipFrame } from "./gzip.js";
import type { CodecName, Variant, WireReq, WireResp } from "../../protocol/wire.js";

export { type CodecName, type Variant, VARIANTS, type WireReq, type WireResp, resp, variantOf } from "../../protocol/wire.js";

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

