// OpenIM's HTTP conventions (openimsdk/tools apiresp, a2r): every answer is HTTP 200 with {errCode, errMsg, errDlt, data},
// data left out when there is none; bodies are read as Go's encoding/json reads them into the request struct: unknown
// keys ignored, null as the zero value, a known key of the wrong type an ArgsError (1001) naming the field.
import { CodeError, ErrCode, codeError, toCodeError } from "../protocol/errors.js";

export type FieldKind = "string" | "int32" | "int64" | "bool" | "string[]" | "object" | "any";

const GO_TYPE: Record<FieldKind, string> = {
  string: "string", int32: "int32", int64: "int64", bool: "bool", "string[]": "[]string", object: "struct", any: "interface {}",
};
const ZERO: Record<FieldKind, () => unknown> = {
  string: () => "", int32: () => 0, int64: () => 0, bool: () => false, "string[]": () => [], object: () => undefined, any: () => undefined,
};

function jsonType(v: unknown): string {
  if (Array.isArray(v)) return "array";
  if (v === null) return "null";
  return typeof v === "object" ? "object" : typeof v;
}

function fits(kind: FieldKind, v: unknown): boolean {
  switch (kind) {
    case "string": return typeof v === "string";
    case "bool": return typeof v === "boolean";
    case "int32": return typeof v === "number" && Number.isInteger(v) && v >= -(2 ** 31) && v < 2 ** 31;
    case "int64": return typeof v === "number" && Number.isSafeInteger(v);
    case "string[]": return Array.isArray(v) && v.every((x) => typeof x === "string" || x === null);
    case "object": return typeof v === "object" && !Array.isArray(v);
    case "any": return true;
  }
}

/** Parses a request body into the fields of `spec` (Go struct `struct` for messages), as encoding/json would. */
export function decodeBody<S extends Record<string, FieldKind>>(text: string, struct: string, spec: S): { [K in keyof S]: any } & { present: Set<string> } {
  let raw: unknown;
  try {
    raw = text.trim() === "" ? {} : JSON.parse(text);
  } catch (e) {
    throw codeError(ErrCode.Args, `the body is not valid JSON: ${(e as Error).message}`);
  }
  if (raw === null) raw = {};
  if (typeof raw !== "object" || Array.isArray(raw)) throw codeError(ErrCode.Args, `json: cannot unmarshal ${jsonType(raw)} into Go value of type ${struct}`);
  const out: Record<string, unknown> = {};
  const present = new Set<string>();
  for (const [name, kind] of Object.entries(spec)) {
    const v = (raw as Record<string, unknown>)[name];
    if (v === undefined || v === null) {
      out[name] = ZERO[kind]();
      continue;
    }
    if (!fits(kind, v))
      throw codeError(ErrCode.Args, `json: cannot unmarshal ${jsonType(v)} into Go struct field ${struct}.${name} of type ${GO_TYPE[kind]}`);
    out[name] = kind === "string[]" ? (v as unknown[]).map((x) => x ?? "") : v;
    present.add(name);
  }
  return Object.assign(out, { present }) as any;
}

/** Go's omitempty: zero values and empty lists left out. */
export function omitEmpty(o: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) {
    if (v === undefined || v === null || v === "" || v === 0 || v === false) continue;
    if (Array.isArray(v) && v.length === 0) continue;
    out[k] = v;
  }
  return out;
}

export function success(data?: unknown): Response {
  return Response.json(data === undefined ? { errCode: 0, errMsg: "", errDlt: "" } : { errCode: 0, errMsg: "", errDlt: "", data });
}

export function failure(err: unknown, status = 200): Response {
  const e: CodeError = toCodeError(err);
  return Response.json({ errCode: e.code, errMsg: e.msg, errDlt: e.detail }, { status });
}
