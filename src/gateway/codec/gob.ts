// Go encoding/gob for OpenIM's two flat envelope structs (§2.2, §2.4). Every frame is a complete gob
// stream: type definition(s), then one value. Decoding follows Go's decoder: fields are mapped by name from the
// definition, type ids are whatever the sender chose (≥ 64, Go's firstUserId; OpenIM's wasm Go core uses 64),
// unknown fields of any type are skipped. Encoding emits a fixed Resp definition then the value.
import type { WireReq, WireResp } from "../../protocol/wire.js";

export class GobError extends Error {
  override name = "GobError";
}

const T_BOOL = 1, T_INT = 2, T_UINT = 3, T_FLOAT = 4, T_BYTES = 5, T_STRING = 6, T_COMPLEX = 7, T_INTERFACE = 8;

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

/** The Resp type id we emit; Go SDKs decode by field name so any id ≥ 64 works. */
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
}

/** A type defined in the stream: what a value of it looks like, enough to read or skip one (Go's wireType). */
type WireType =
  | { kind: "struct"; name: string; fields: { name: string; typeId: number }[] }
  | { kind: "slice"; elem: number }
  | { kind: "array"; elem: number; len: number }
  | { kind: "map"; key: number; elem: number }
  /** GobEncoder, BinaryMarshaler, TextMarshaler: a byte slice on the wire. */
  | { kind: "opaque" };
type StructDef = Extract<WireType, { kind: "struct" }>;

/** Go's firstUserId: ids below it are built in; the decoder accepts any id from it up that the stream has not defined. */
const FIRST_USER_ID = 64;
/** How deeply nested types may go before a frame is refused (a stack guard; the envelope is flat). */
const MAX_DEPTH = 16;

/**
 * Walks a struct value: calls `each` with every present field's index (deltas summed) up to the final 0.
 * Like Go's decodeStruct, the end of the message also ends the struct.
 */
function walkStruct(r: Reader, each: (index: number) => void): void {
  let index = -1;
  while (r.pos < r.end) {
    const delta = r.uint();
    if (delta === 0) return;
    index += delta;
    each(index);
  }
}

/** A CommonType {Name, Id}: the name (ids inside definitions are not used by Go's decoder either). */
function readCommonType(r: Reader): string {
  let name = "";
  walkStruct(r, (f) => {
    if (f === 0) name = r.string();
    else if (f === 1) r.int();
    else throw new GobError("gob: bad CommonType");
  });
  return name;
}

/** Reads a {CommonType, int, …} definition (arrayType, sliceType, mapType, gobEncoderType): its `count` ints. */
function readIdsAfterCommon(r: Reader, what: string, count: number): number[] {
  const ints: number[] = new Array(count).fill(0);
  walkStruct(r, (f) => {
    if (f === 0) readCommonType(r);
    else if (f <= count) ints[f - 1] = r.int();
    else throw new GobError(`gob: bad ${what}`);
  });
  return ints;
}

/** Reads a wireType struct: exactly one of ArrayT, SliceT, StructT, MapT, GobEncoderT, BinaryMarshalerT, TextMarshalerT. */
function readWireType(r: Reader): WireType {
  let wire: WireType | undefined;
  walkStruct(r, (wireField) => {
    if (wire) throw new GobError("gob: type definition with more than one kind");
    switch (wireField) {
      case 0: { // ArrayT {CommonType, Elem, Len}
        const [elem, len] = readIdsAfterCommon(r, "arrayType", 2);
        wire = { kind: "array", elem: elem!, len: len! };
        return;
      }
      case 1: { // SliceT {CommonType, Elem}
        const [elem] = readIdsAfterCommon(r, "sliceType", 1);
        wire = { kind: "slice", elem: elem! };
        return;
      }
      case 2: { // StructT {CommonType, Field []fieldType{Name, Id}}
        const d: StructDef = { kind: "struct", name: "", fields: [] };
        walkStruct(r, (f) => {
          if (f === 0) d.name = readCommonType(r);
          else if (f === 1) {
            const n = r.uint();
            if (n > 64) throw new GobError("gob: too many fields");
            for (let i = 0; i < n; i++) {
              const field = { name: "", typeId: 0 };
              walkStruct(r, (ff) => {
                if (ff === 0) field.name = r.string();
                else if (ff === 1) field.typeId = r.int();
                else throw new GobError("gob: bad fieldType");
              });
              d.fields.push(field);
            }
          } else throw new GobError("gob: bad structType");
        });
        wire = d;
        return;
      }
      case 3: { // MapT {CommonType, Key, Elem}
        const [key, elem] = readIdsAfterCommon(r, "mapType", 2);
        wire = { kind: "map", key: key!, elem: elem! };
        return;
      }
      case 4: case 5: case 6: // GobEncoderT, BinaryMarshalerT, TextMarshalerT {CommonType}
        readIdsAfterCommon(r, "gobEncoderType", 0);
        wire = { kind: "opaque" };
        return;
      default:
        throw new GobError(`gob: unknown wire type field ${wireField}`);
    }
  });
  if (!wire) throw new GobError("gob: empty type definition");
  return wire;
}

/** The type definitions seen so far in one stream (each frame is a stream of its own). */
type Types = Map<number, WireType>;

/** Skips one value of `typeId` (an unknown field), as Go's decoder ignores fields the local type lacks. */
function skipValue(r: Reader, types: Types, typeId: number, depth = 0): void {
  if (depth > MAX_DEPTH) throw new GobError("gob: types nested too deeply");
  switch (typeId) {
    case T_BOOL: case T_INT: case T_UINT: case T_FLOAT: r.uint(); return;
    case T_BYTES: case T_STRING: r.bytes(); return;
    case T_COMPLEX: r.uint(); r.uint(); return;
    case T_INTERFACE: throw new GobError("gob: interface values are not supported");
  }
  const t = types.get(typeId);
  if (!t) throw new GobError(`gob: unknown type id ${typeId}`);
  switch (t.kind) {
    case "opaque": r.bytes(); return;
    case "struct":
      walkStruct(r, (i) => {
        const f = t.fields[i];
        if (!f) throw new GobError("gob: field number out of range");
        skipValue(r, types, f.typeId, depth + 1);
      });
      return;
    case "slice": case "array": {
      const n = elementCount(r);
      if (t.kind === "array" && n !== t.len) throw new GobError(`gob: array length ${n}, type says ${t.len}`);
      for (let i = 0; i < n; i++) skipValue(r, types, t.elem, depth + 1);
      return;
    }
    case "map": {
      const n = elementCount(r);
      for (let i = 0; i < n; i++) {
        skipValue(r, types, t.key, depth + 1);
        skipValue(r, types, t.elem, depth + 1);
      }
      return;
    }
  }
}

/** A slice, array or map count; every element takes at least a byte, so a larger count is corrupt (Go: "slice too big"). */
function elementCount(r: Reader): number {
  const n = r.uint();
  if (n > r.end - r.pos) throw new GobError("gob: element count exceeds data");
  return n;
}

/**
 * Reads a gob stream up to its first value, the way Go's Decoder.Decode does: definitions (id < 0) are collected,
 * each must be a new id ≥ 64 and fill its message exactly; the first value (id > 0) is read with `read`.
 */
function firstValue<T>(buf: Uint8Array, read: (r: Reader, def: StructDef, types: Types) => T): T {
  const r = new Reader(buf);
  const types: Types = new Map();
  for (;;) {
    const len = r.uint();
    if (len === 0 || len > buf.length - r.pos) throw new GobError("gob: bad message length");
    const msg = new Reader(buf, r.pos + len);
    msg.pos = r.pos;
    r.pos += len;
    const id = msg.int();
    if (id < 0) {
      if (-id < FIRST_USER_ID || types.has(-id)) throw new GobError(`gob: duplicate type received (id ${-id})`);
      types.set(-id, readWireType(msg));
      if (msg.pos !== msg.end) throw new GobError("gob: extra data in buffer");
      continue;
    }
    const def = types.get(id);
    if (!def) throw new GobError("gob: unknown type id or corrupted data");
    if (def.kind !== "struct") throw new GobError(`gob: type id ${id} is not a struct`);
    return read(msg, def, types);
  }
}

const REQ_FIELDS: Record<string, { key: keyof WireReq; typeId: number }> = {
  ReqIdentifier: { key: "reqIdentifier", typeId: T_INT },
  Token: { key: "token", typeId: T_STRING },
  SendID: { key: "sendID", typeId: T_STRING },
  OperationID: { key: "operationID", typeId: T_STRING },
  MsgIncr: { key: "msgIncr", typeId: T_STRING },
  Data: { key: "data", typeId: T_BYTES },
};

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

function readReqValue(r: Reader, def: StructDef, types: Types): WireReq {
  const out: WireReq = { reqIdentifier: 0, token: "", sendID: "", operationID: "", msgIncr: "", data: undefined };
  eachField(r, def, (f) => {
    const target = REQ_FIELDS[f.name];
    if (!target) return skipValue(r, types, f.typeId);
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
  return firstValue(buf, (msg, def, types) => {
    const out: WireResp = { reqIdentifier: 0, msgIncr: "", operationID: "", errCode: 0, errMsg: "", data: undefined };
    eachField(msg, def, (f) => {
      switch (f.name) {
        case "ReqIdentifier": out.reqIdentifier = msg.int(); break;
        case "ErrCode": out.errCode = msg.int(); break;
        case "MsgIncr": out.msgIncr = msg.string(); break;
        case "OperationID": out.operationID = msg.string(); break;
        case "ErrMsg": out.errMsg = msg.string(); break;
        case "Data": out.data = msg.bytes().slice(); break;
        default: skipValue(msg, types, f.typeId);
      }
    });
    return out;
  });
}
