// Handshake parameters (§1.2) and their checks in the reference's order (§1.3). Pure: URL and headers in,
// parameters or an OpenIM CodeError out.
import { isValidPlatform } from "../protocol/constants.js";
import { CodeError, ErrCode, codeError } from "../protocol/errors.js";
import { goString } from "./codec/json.js";

export interface HandshakeParams {
  userID: string;
  token: string;
  platformID: number;
  operationID: string;
  gzip: boolean;
  sdkType: "go" | "js";
  sdkVersion: string;
  isMsgResp: boolean;
  isBackground: boolean;
}

/** Go's strconv.ParseBool. */
export function parseGoBool(s: string): boolean | undefined {
  switch (s) {
    case "1": case "t": case "T": case "TRUE": case "true": case "True": return true;
    case "0": case "f": case "F": case "FALSE": case "false": case "False": return false;
    default: return undefined;
  }
}

/** Go's strconv.Atoi (64-bit): optional sign, decimal digits. */
function goAtoi(s: string): number | undefined {
  if (!/^[+-]?\d+$/.test(s)) return undefined;
  const n = Number(s);
  return Number.isSafeInteger(n) ? n : undefined;
}

const argsErr = (detail: string) => codeError(ErrCode.ConnArgs, detail);

export function parseHandshake(url: URL, header: (name: string) => string | null): HandshakeParams {
  const q = url.searchParams;
  const blob = q.get("v");
  const p = blob ? parseBlob(blob) : parseQuery(q, header);
  if (!p.operationID) throw argsErr("operationID is empty");
  if (!p.token) throw argsErr("token is empty");
  if (!p.userID) throw argsErr("sendID is empty");
  if (!isValidPlatform(p.platformID)) throw argsErr("platformID is invalid");
  if (p.sdkType !== "go" && p.sdkType !== "js") throw argsErr("sdkType is invalid");
  return p;
}

function parseQuery(q: URLSearchParams, header: (name: string) => string | null): HandshakeParams {
  const platformID = goAtoi(q.get("platformID") ?? "");
  if (platformID === undefined) throw argsErr("platformID is not int");
  let isMsgResp = false;
  if (q.has("isMsgResp")) {
    const b = parseGoBool(q.get("isMsgResp")!);
    if (b === undefined) throw argsErr("isMsgResp is not bool");
    isMsgResp = b;
  }
  // The reference fails a missing isBackground with a raw Go error, i.e. 500 (§9.1.1).
  const isBackground = parseGoBool(q.get("isBackground") ?? "");
  if (isBackground === undefined) throw new CodeError(ErrCode.ServerInternal, "ServerInternalError", "invalid syntax");
  const compression = q.get("compression") || header("compression") || "";
  return {
    userID: q.get("sendID") ?? "",
    token: q.get("token") ?? "",
    platformID,
    operationID: q.get("operationID") ?? "",
    gzip: compression === "gzip",
    sdkType: sdkTypeOf(q.get("sdkType") ?? ""),
    sdkVersion: q.get("sdkVersion") ?? "",
    isMsgResp,
    isBackground,
  };
}

function sdkTypeOf(s: string): "go" | "js" {
  return (s === "" ? "go" : s) as "go" | "js";
}

const base64url = /^[A-Za-z0-9_-]*$/;

function parseBlob(v: string): HandshakeParams {
  // Unpadded URL-safe base64 (RFC 4648 §5); Go's RawURLEncoding also rejects a length of 1 mod 4.
  if (!base64url.test(v) || v.length % 4 === 1) throw argsErr("data is not base64");
  let obj: unknown;
  try {
    obj = JSON.parse(Buffer.from(v, "base64url").toString("utf8"));
  } catch (e) {
    throw argsErr(`data is not json, info=${(e as Error).message}`);
  }
  if (obj === null) obj = {};
  if (typeof obj !== "object" || Array.isArray(obj)) throw argsErr("data is not json, info=cannot unmarshal into args");
  const out = {
    token: "", userid: "", platformid: 0, operationid: "", compression: "", sdktype: "", sendresponse: false, background: false, sdkversion: "",
  };
  const kinds: Record<string, "string" | "int" | "bool"> = {
    token: "string", userid: "string", platformid: "int", operationid: "string", compression: "string",
    sdktype: "string", sendresponse: "bool", background: "bool", sdkversion: "string",
  };
  for (const [k, val] of Object.entries(obj as Record<string, unknown>)) {
    const key = k.toLowerCase() as keyof typeof out;
    const kind = kinds[key];
    if (!kind || val === null) continue;
    const ok = kind === "string" ? typeof val === "string" : kind === "bool" ? typeof val === "boolean" : Number.isSafeInteger(val);
    if (!ok) throw argsErr(`data is not json, info=json: cannot unmarshal ${typeof val} into field ${k}`);
    (out as any)[key] = val;
  }
  return {
    userID: out.userid, token: out.token, platformID: out.platformid, operationID: out.operationid,
    gzip: out.compression === "gzip", sdkType: sdkTypeOf(out.sdktype), sdkVersion: out.sdkversion,
    isMsgResp: out.sendresponse, isBackground: out.background,
  };
}

/** The JSON body of an HTTP handshake failure and of the isMsgResp text frame (no `data` key). */
export function handshakeErrorBody(e: { code: number; msg: string; detail: string }): string {
  return `{"errCode":${e.code},"errMsg":${goString(e.msg)},"errDlt":${goString(e.detail)}}`;
}

export const HANDSHAKE_OK_FRAME = `{"errCode":0,"errMsg":"","errDlt":""}`;
