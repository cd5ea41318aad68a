// The two envelope structs of OpenIM's WebSocket protocol (§2.2), as every codec reads and writes them, and the codec
// variants a connection can speak (json or gob, each optionally gzip-compressed).

export interface WireReq {
  reqIdentifier: number;
  token: string;
  sendID: string;
  operationID: string;
  msgIncr: string;
  data: Uint8Array | undefined;
}

export interface WireResp {
  reqIdentifier: number;
  msgIncr: string;
  operationID: string;
  errCode: number;
  errMsg: string;
  /** undefined is Go's nil (JSON null); an empty array is non-nil empty (JSON ""). */
  data: Uint8Array | undefined;
}

export type CodecName = "json" | "gob";
export type Variant = "json" | "json+gzip" | "gob" | "gob+gzip";
export const VARIANTS: readonly Variant[] = ["json", "json+gzip", "gob", "gob+gzip"];

export function variantOf(codec: CodecName, gzip: boolean): Variant {
  return (gzip ? `${codec}+gzip` : codec) as Variant;
}

/** A response envelope with OpenIM's zero values for what is not given. */
export function resp(reqIdentifier: number, fields: Partial<WireResp> = {}): WireResp {
  return { reqIdentifier, msgIncr: "", operationID: "", errCode: 0, errMsg: "", data: undefined, ...fields };
}
