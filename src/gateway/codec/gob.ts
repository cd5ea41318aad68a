// Go encoding/gob for OpenIM's two flat envelope structs (§2.2, §2.4). Every frame is a complete gob
// stream: type definition(s), then one value. Decoding maps fields by name from the definition (type
// ids are whatever the sender chose, ≥ 65); encoding emits a fixed Resp definition then the value.
import type { WireReq, WireResp } from "./envelope.js";

export class GobError extends Error {
  override name = "GobError";
}

const T_BOOL = 1, T_INT = 2, T_UINT = 3, T_FLOAT = 4, T_BYTES = 5, T_STRING = 6;

// ---- encoding ------------------------------------------------------------------------------------

class Writer {
  buf = new Uint8Array(256);
  len = 0;
  private ensure(n: number) {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const b = new Uint8Array(size);
    b.set(this.buf.subarray(0, this.len));
    this.buf = b;
  }
  byte(b: number) {
    this.ensure(1);
    this.buf[this.len++] = b;
  }
  uint(v: number) {
    if (v < 128) return this.byte(v);
    const bytes: number[] = [];
    while (v > 0) {
      bytes.push(v % 256);
      v = Math.floor(v / 256);
    }
    this.byte(256 - bytes.length);
    for (let i = bytes.length - 1; i >= 0; i--) this.byte(bytes[i]!);
  }
  int(v: number) {
    this.uint(v < 0 ? (-v - 1) * 2 + 1 : v * 2);
  }
  bytes(b: Uint8Array) {
    this.uint(b.length);
    this.ensure(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }
  string(s: string) {
    this.bytes(textEncoder.encode(s));
  }
  result(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder("utf-8", { fatal: false });

/** The Resp type id we emit; Go SDKs decode by field name so any id ≥ 65 works. */
const RESP_ID = 65;

type FieldDef = [name: string, typeId: number];
const RESP_FIELDS: FieldDef[] = [
  ["ReqIdentifier", T_INT],
  ["MsgIncr", T_STRING],
  ["OperationID", T_STRING],
  ["ErrCode", T_INT],
  ["ErrMsg", T_STRING],
  ["Data", T_BYTES],
];

/** A gob type-definition message (length-prefixed) for a flat struct. */
export function encodeStructDefinition(name: string, id: number, fields: FieldDef[]): Uint8Array {
  const body = new Writer();
  body.int(-id);
  body.uint(3); // wireType field 2: StructT
  body.uint(1); // structType field 0: CommonType
  body.uint(1); body.string(name);
  body.uint(1); body.int(id);
  body.uint(0);
  body.uint(1); // structType field 1: Field
  body.uint(fields.length);
  for (const [fname, ftype] of fields) {
    body.uint(1); body.string(fname);
    body.uint(1); body.int(ftype);
    body.uint(0);
  }
  body.uint(0); // end structType
  body.uint(0); // end wireType
  const out = new Writer();
  out.bytes(body.result());
  return out.result();
}

const RESP_DEFINITION = encodeStructDefinition("Resp", RESP_ID, RESP_FIELDS);

/** Encodes a Resp as a full gob stream: definition + value, zero fields omitted. */
export function encodeGobResp(r: WireResp): Uint8Array {
  const v = new Writer();
  v.int(RESP_ID);
  let last = -1;
  const field = (i: number) => {
    v.uint(i - last);
    last = i;
  };
  if (r.reqIdentifier !== 0) { field(0); v.int(r.reqIdentifier); }
  if (r.msgIncr) { field(1); v.string(r.msgIncr); }
  if (r.operationID) { field(2); v.string(r.operationID); }
  if (r.errCode !== 0) { field(3); v.int(r.errCode); }
  if (r.errMsg) { field(4); v.string(r.errMsg); }
  if (r.data && r.data.length > 0) { field(5); v.bytes(r.data); }
  v.uint(0);
  const value = v.result();
  const out = new Writer();
  out.uint(value.length);
  const head = out.result();
  const frame = new Uint8Array(RESP_DEFINITION.length + head.length + value.length);
  frame.set(RESP_DEFINITION, 0);
  frame.set(head, RESP_DEFINITION.length);
  frame.set(value, RESP_DEFINITION.length + head.length);
  return frame;
}

/** Encodes a Req the way the Go SDK does (GeneralWsReq); used by test clients and the load generator. */
export function encodeGobReq(r: WireReq, typeId = 66): Uint8Array {
  const def = encodeStructDefinition("GeneralWsReq", typeId, [
    ["ReqIdentifier", T_INT], ["Token", T_STRING], ["SendID", T_STRING],
    ["OperationID", T_STRING], ["MsgIncr", T_STRING], ["Data", T_BYTES],
  ]);
  const v = new Writer();
  v.int(typeId);
  let last = -1;
  const field = (i: number) => { v.uint(i - last); last = i; };
  if (r.reqIdentifier !== 0) { field(0); v.int(r.reqIdentifier); }
  if (r.token) { field(1); v.string(r.token); }
  if (r.sendID) { field(2); v.string(r.sendID); }
  if (r.operationID) { field(3); v.string(r.operationID); }
  if (r.msgIncr) { field(4); v.string(r.msgIncr); }
  if (r.data && r.data.length > 0) { field(5); v.bytes(r.data); }
  v.uint(0);
  const value = v.result();
  const out = new Writer();
  for (const b of def) out.byte(b);
  out.bytes(value);
  return out.result();
}

// ---- decoding ------------------------------------------------------------------------------------

class Reader {
  pos = 0;
  constructor(readonly buf: Uint8Array, readonly end = buf.length) {}
  byte(): number {
    if (this.pos >= this.end) throw new GobError("gob: unexpected end of data");
    return this.buf[this.pos++]!;
  }
  uint(): number {
    const b = this.byte();
    if (b < 128) return b;
    const n = 256 - b;
    if (n > 8) throw new GobError("gob: uint too large");
    let v = 0;
    for (let i = 0; i < n; i++) v = v * 256 + this.byte();
    return v;
  }
  int(): number {
    const u = this.uint();
    // Halving with floor keeps precision where >>> would truncate above 2^32.
    return u % 2 === 1 ? -Math.floor(u / 2) - 1 : u / 2;
  }
  bytes(): Uint8Array {
    const n = this.uint();
    if (n > this.end - this.pos) throw new GobError("gob: byte slice length exceeds data");
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  string(): string {
    return textDecoder.decode(this.bytes());
  }
  skip(typeId: number) {
    switch (typeId) {
      case T_BOOL: case T_INT: case T_UINT: case T_FLOAT: this.uint(); return;
      case T_BYTES: case T_STRING: this.bytes(); return;
      default: throw new GobError(`gob: cannot skip field of type id ${typeId}`);
    }
  }
}

interface StructDef {
  name: string;
  fields: { name: string; typeId: number }[];
}

/** Walks a struct value: calls `each` with every present field's index (deltas summed), up to the final 0. */
function walkStruct(r: Reader, each: (index: number) => void): void {
  let index = -1;
  for (;;) {
    const delta = r.uint();
    if (delta === 0) return;
    index += delta;
    each(index);
  }
}

function readStructDefinition(r: Reader): StructDef {
  // wireType: only StructT (field 2) describes a flat struct; anything else is not an envelope.
  let def: StructDef | undefined;
  walkStruct(r, (wireField) => {
    if (wireField !== 2) throw new GobError(`gob: unsupported wire type (field ${wireField})`);
    const d: StructDef = (def = { name: "", fields: [] });
    walkStruct(r, (structField) => {
      if (structField === 0) {
        // CommonType {Name, Id}
        walkStruct(r, (cf) => {
          if (cf === 0) d.name = r.string();
          else if (cf === 1) r.int();
          else throw new GobError("gob: bad CommonType");
        });
      } else if (structField === 1) {
        // Field []fieldType {Name, Id}
        const n = r.uint();
        if (n > 64) throw new GobError("gob: too many fields");
        for (let i = 0; i < n; i++) {
          const f = { name: "", typeId: 0 };
          walkStruct(r, (ff) => {
            if (ff === 0) f.name = r.string();
            else if (ff === 1) f.typeId = r.int();
            else throw new GobError("gob: bad fieldType");
          });
          d.fields.push(f);
        }
      } else {
        throw new GobError("gob: bad structType");
      }
    });
  });
  if (!def) throw new GobError("gob: type definition without a struct");
  return def;
}

const REQ_FIELDS: Record<string, { key: keyof WireReq; typeId: number }> = {
  ReqIdentifier: { key: "reqIdentifier", typeId: T_INT },
  Token: { key: "token", typeId: T_STRING },
  SendID: { key: "sendID", typeId: T_STRING },
  OperationID: { key: "operationID", typeId: T_STRING },
  MsgIncr: { key: "msgIncr", typeId: T_STRING },
  Data: { key: "data", typeId: T_BYTES },
};

/** Reads a gob stream up to its first value: type definitions are collected, the value is read with `read`. */
function firstValue<T>(buf: Uint8Array, read: (r: Reader, def: StructDef) => T): T {
  const r = new Reader(buf);
  const types = new Map<number, StructDef>();
  for (;;) {
    const len = r.uint();
    if (len === 0 || len > buf.length - r.pos) throw new GobError("gob: bad message length");
    const msg = new Reader(buf, r.pos + len);
    msg.pos = r.pos;
    r.pos += len;
    const id = msg.int();
    if (id < 0) {
      if (-id < 65) throw new GobError("gob: redefinition of a built-in type");
      types.set(-id, readStructDefinition(msg));
      continue;
    }
    const def = types.get(id);
    if (!def) throw new GobError("gob: unknown type id or corrupted data");
    return read(msg, def);
  }
}

/** Decodes one Req from a gob stream: definitions first, then the first value; trailing bytes are ignored. */
export function decodeGobReq(buf: Uint8Array): WireReq {
  return firstValue(buf, readReqValue);
}

/** Calls `each` for every field present in a value of `def`, in order. */
function eachField(r: Reader, def: StructDef, each: (f: StructDef["fields"][number]) => void): void {
  walkStruct(r, (index) => {
    const f = def.fields[index];
    if (!f) throw new GobError("gob: field number out of range");
    each(f);
  });
}

function readReqValue(r: Reader, def: StructDef): WireReq {
  const out: WireReq = { reqIdentifier: 0, token: "", sendID: "", operationID: "", msgIncr: "", data: undefined };
  eachField(r, def, (f) => {
    const target = REQ_FIELDS[f.name];
    if (!target) return r.skip(f.typeId);
    if (target.typeId !== f.typeId) throw new GobError(`gob: type mismatch for field ${f.name}`);
    switch (target.typeId) {
      case T_INT: {
        const v = r.int();
        if (v < -2147483648 || v > 2147483647) throw new GobError(`gob: value out of range for ${f.name}`);
        out.reqIdentifier = v;
        break;
      }
      case T_STRING:
        (out as any)[target.key] = r.string();
        break;
      case T_BYTES:
        out.data = r.bytes().slice();
        break;
    }
  });
  return out;
}

/** Decodes a Resp gob stream (for test clients and the load generator). */
export function decodeGobResp(buf: Uint8Array): WireResp {
  return firstValue(buf, (msg, def) => {
    const out: WireResp = { reqIdentifier: 0, msgIncr: "", operationID: "", errCode: 0, errMsg: "", data: undefined };
    eachField(msg, def, (f) => {
      switch (f.name) {
        case "ReqIdentifier": out.reqIdentifier = msg.int(); break;
        case "ErrCode": out.errCode = msg.int(); break;
        case "MsgIncr": out.msgIncr = msg.string(); break;
        case "OperationID": out.operationID = msg.string(); break;
        case "ErrMsg": out.errMsg = msg.string(); break;
        case "Data": out.data = msg.bytes().slice(); break;
        default: msg.skip(f.typeId);
      }
    });
    return out;
  });
}
