// The gob vectors of openim-protocol.md §2.4, encode and decode.
import { describe, expect, test } from "bun:test";
import { decodeGobReq, decodeGobResp, encodeGobReq, encodeGobResp, encodeStructDefinition } from "../src/gateway/codec/gob.js";
import { resp } from "../src/gateway/codec/envelope.js";

const hex = (s: string) => new Uint8Array(Buffer.from(s.replace(/[\s\[\]]/g, ""), "hex"));
const ascii = (s: string) => Buffer.from(s).toString("hex");
const toHex = (b: Uint8Array) => Buffer.from(b).toString("hex");

const RESP_DEF =
  "60 ff81 03 01 01 04 52657370 01 ff82 00 01 06 01 0d 5265714964656e746966696572 01 04 00 01 07 4d7367496e6372 01 0c 00 01 0b 4f7065726174696f6e4944 01 0c 00 01 07 457272436f6465 01 04 00 01 06 4572724d7367 01 0c 00 01 04 44617461 01 0a 00 00 00";

describe("gob Resp encoding (§2.4)", () => {
  test("the type definition is the 97-byte vector", () => {
    const frame = encodeGobResp(resp(2002));
    expect(toHex(frame.subarray(0, 97))).toBe(toHex(hex(RESP_DEF)));
  });

  test("kick frame value", () => {
    expect(toHex(encodeGobResp(resp(2002)).subarray(97))).toBe("07ff8201fe0fa400");
  });

  test("empty Resp value", () => {
    expect(toHex(encodeGobResp(resp(0)).subarray(97))).toBe("03ff8200");
  });

  test("full Resp value", () => {
    const frame = encodeGobResp(
      resp(1003, { msgIncr: "u1_abc", operationID: "op1", errCode: 1602, errMsg: "x", data: new Uint8Array([1, 2, 3]) }),
    );
    expect(toHex(frame.subarray(97))).toBe(toHex(hex("20 ff82 01 fe07d6 01 06 75315f616263 01 03 6f7031 01 fe0c84 01 01 78 01 03 010203 00")));
  });

  test("ErrCode -1 is encoded as 01", () => {
    const value = encodeGobResp(resp(0, { errCode: -1 })).subarray(97);
    // length, id 65, delta 4 (to field 3), value 01, end
    expect(toHex(value)).toBe("05ff82040100");
  });

  test("a 300-byte Data field and a two-byte message length", () => {
    const data = new Uint8Array(300).fill(7);
    // With a three-byte ReqIdentifier before it, Data's delta is 05 (field 0 → 5), as in the spec's vector.
    const value = encodeGobResp(resp(2001, { data })).subarray(97);
    expect(toHex(value.subarray(0, 3))).toBe("fe0137");
    expect(toHex(value.subarray(3, 13))).toBe("ff8201fe0fa205fe012c");
    expect(value.length).toBe(3 + 0x137);
    expect(decodeGobResp(encodeGobResp(resp(2001, { data }))).data).toEqual(data);
  });

  test("empty data is omitted like nil (gob has no nil/empty distinction)", () => {
    expect(toHex(encodeGobResp(resp(2003, { data: new Uint8Array(0) })).subarray(97))).toBe(toHex(encodeGobResp(resp(2003)).subarray(97)));
  });
});

const GO_REQ_DEF =
  "66 ff83 03 01 01 0c 47656e6572616c5773526571 01 ff84 00 01 06" +
  ` 01 0d ${ascii("ReqIdentifier")} 01 04 00 01 05 ${ascii("Token")} 01 0c 00 01 06 ${ascii("SendID")} 01 0c 00` +
  ` 01 0b ${ascii("OperationID")} 01 0c 00 01 07 ${ascii("MsgIncr")} 01 0c 00 01 04 ${ascii("Data")} 01 0a 00 00 00`;
const GO_REQ_VALUE = "1b ff84 01 fe07d2 02 02 7531 01 02 6f70 01 04 75315f31 01 04 0a027531 00";

describe("gob Req decoding (§2.4)", () => {
  test("the Go SDK's GeneralWsReq vector", () => {
    const r = decodeGobReq(hex(GO_REQ_DEF + GO_REQ_VALUE));
    expect(r).toEqual({
      reqIdentifier: 1001, token: "", sendID: "u1", operationID: "op", msgIncr: "u1_1", data: new Uint8Array([0x0a, 0x02, 0x75, 0x31]),
    });
  });

  test("our Req encoder reproduces the Go SDK's bytes", () => {
    const bytes = encodeGobReq({ reqIdentifier: 1001, token: "", sendID: "u1", operationID: "op", msgIncr: "u1_1", data: hex("0a027531") });
    expect(toHex(bytes)).toBe(toHex(hex(GO_REQ_DEF + GO_REQ_VALUE)));
  });

  test("type ids are taken from the definition, not hard-coded", () => {
    for (const id of [65, 67, 200]) {
      const r = decodeGobReq(encodeGobReq({ reqIdentifier: 1003, token: "t", sendID: "a", operationID: "o", msgIncr: "m", data: hex("01") }, id));
      expect(r.reqIdentifier).toBe(1003);
      expect(r.token).toBe("t");
    }
  });

  test("fields are matched by name, in any order, unknown ones skipped", () => {
    const def = encodeStructDefinition("Other", 70, [["Extra", 6], ["MsgIncr", 6], ["SendID", 6], ["ReqIdentifier", 2], ["Flag", 1]]);
    // value: id 70 → int 140 = 0xff8c; Extra="zz", MsgIncr="m1", SendID="u", ReqIdentifier=2004, Flag=true
    const value = hex(`ff8c 01 02 7a7a 01 02 6d31 01 01 75 01 fe0fa8 01 01 00`);
    const frame = new Uint8Array([...def, value.length, ...value]);
    expect(decodeGobReq(frame)).toMatchObject({ reqIdentifier: 2004, msgIncr: "m1", sendID: "u" });
  });

  test("bytes after the first value are ignored", () => {
    const frame = hex(GO_REQ_DEF + GO_REQ_VALUE + "ffffff");
    expect(decodeGobReq(frame).msgIncr).toBe("u1_1");
  });

  test("a value without a definition fails", () => {
    expect(() => decodeGobReq(hex(GO_REQ_VALUE))).toThrow("unknown type id");
  });

  test("truncated, mistyped and out-of-range input fails cleanly", () => {
    const full = hex(GO_REQ_DEF + GO_REQ_VALUE);
    for (let cut = 1; cut < full.length; cut += 7) expect(() => decodeGobReq(full.subarray(0, cut))).toThrow();
    const wrongType = encodeStructDefinition("R", 65, [["ReqIdentifier", 6]]);
    expect(() => decodeGobReq(new Uint8Array([...wrongType, 5, 0xff, 0x82, 1, 1, 0x41]))).toThrow("type mismatch");
    const big = encodeStructDefinition("R", 65, [["ReqIdentifier", 2]]);
    // 2^31 as gob int: uint 2^32 → fc 01 00 00 00 00
    expect(() => decodeGobReq(new Uint8Array([...big, 9, 0xff, 0x82, 1, 0xfb, 1, 0, 0, 0, 0, 0]))).toThrow("out of range");
    expect(() => decodeGobReq(new Uint8Array(0))).toThrow();
  });

  test("Resp round trip through the decoder", () => {
    const r = resp(2001, { operationID: "op", errCode: 0, data: new Uint8Array([9, 9]) });
    expect(decodeGobResp(encodeGobResp(r))).toEqual({ ...r, msgIncr: "", errMsg: "" });
  });
});

// Go's decoder rules (encoding/gob decoder.go, decode.go), each with a hand-built stream.
describe("gob decoding follows Go's decoder", () => {
  // A tiny gob writer for building streams the Go encoder could produce (and some it could not).
  const uint = (v: number): number[] => {
    if (v < 128) return [v];
    const b: number[] = [];
    for (; v > 0; v = Math.floor(v / 256)) b.unshift(v % 256);
    return [256 - b.length, ...b];
  };
  const int = (v: number) => uint(v < 0 ? (-v - 1) * 2 + 1 : v * 2);
  const str = (s: string) => [...uint(Buffer.byteLength(s)), ...Buffer.from(s)];
  const message = (body: number[]) => [...uint(body.length), ...body];
  const common = (name: string, id: number) => [1, ...str(name), 1, ...int(id), 0];
  /** wireType with one kind set: field `kind` (0 ArrayT, 1 SliceT, 2 StructT, 3 MapT, 4 GobEncoderT), body as given. */
  const definition = (id: number, kind: number, body: number[]) => message([...int(-id), ...uint(kind + 1), ...body, 0]);
  const sliceDef = (id: number, elem: number) => definition(id, 1, [1, ...common("", id), 1, ...int(elem), 0]);
  const mapDef = (id: number, key: number, elem: number) => definition(id, 3, [1, ...common("", id), 1, ...int(key), 1, ...int(elem), 0]);
  const arrayDef = (id: number, elem: number, len: number) => definition(id, 0, [1, ...common("", id), 1, ...int(elem), 1, ...int(len), 0]);
  const structDef = (id: number, name: string, fields: [string, number][]) =>
    definition(id, 2, [1, ...common(name, id), 1, ...uint(fields.length), ...fields.flatMap(([n, t]) => [1, ...str(n), 1, ...int(t), 0]), 0]);
  const req = (id: number, extra: [string, number][] = []) =>
    structDef(id, "GeneralWsReq", [["ReqIdentifier", 2], ...extra, ["SendID", 6], ["MsgIncr", 6]]);
  /** A value of req(id): ReqIdentifier 1001, SendID "u1", MsgIncr "m". */
  const reqValue = (id: number) => message([...int(id), 1, ...int(1001), 1, ...str("u1"), 1, ...str("m"), 0]);
  const decode = (...parts: number[][]) => decodeGobReq(new Uint8Array(parts.flat()));

  test("type id 64 (firstUserId) is a user type: OpenIM's wasm Go core sends GeneralWsReq as 64", () => {
    const r = decode(req(64), reqValue(64));
    expect(r).toMatchObject({ reqIdentifier: 1001, sendID: "u1", msgIncr: "m" });
    // The definition's id byte is int −64 = 7f and the value's is int 64 = ff80: no longer refused.
    expect(toHex(new Uint8Array(req(64))).slice(2, 4)).toBe("7f");
  });

  test("ids below 64 are built in: defining one is refused as Go does", () => {
    for (const id of [1, 6, 16, 63]) expect(() => decode(req(id), reqValue(id))).toThrow("duplicate type received");
  });

  test("an id defined twice in one stream is refused", () => {
    expect(() => decode(req(70), req(70), reqValue(70))).toThrow("duplicate type received");
  });

  test("a definition message with bytes left over is refused (Go: extra data in buffer)", () => {
    const body = req(65).slice(1); // the definition without its one-byte length
    expect(() => decode(message([...body, 0]), reqValue(65))).toThrow("extra data");
  });

  test("a struct value ends at the end of its message even without the 0 terminator (Go's decodeStruct)", () => {
    const value = message([...int(65), 1, ...int(1001), 2, ...str("u1"), 1, ...str("m")]);
    expect(decode(structDef(65, "GeneralWsReq", [["ReqIdentifier", 2], ["Token", 6], ["SendID", 6], ["MsgIncr", 6]]), value))
      .toMatchObject({ reqIdentifier: 1001, sendID: "u1", msgIncr: "m" });
  });

  test("unknown fields of user-defined types (slice, map, array, struct, GobEncoder) are skipped", () => {
    const defs = [
      sliceDef(70, 6), // []string
      mapDef(71, 6, 2), // map[string]int
      arrayDef(72, 2, 3), // [3]int
      structDef(73, "Inner", [["A", 6], ["B", 70]]), // struct{A string; B []string}
      definition(74, 4, [1, ...common("T", 74), 0]), // a GobEncoder
    ];
    const def = structDef(65, "GeneralWsReq", [
      ["ReqIdentifier", 2], ["Tags", 70], ["Counts", 71], ["Triple", 72], ["Inner", 73], ["Blob", 74], ["SendID", 6], ["MsgIncr", 6],
    ]);
    const value = message([
      ...int(65), 1, ...int(1001),
      1, ...uint(2), ...str("x"), ...str("yz"), // Tags
      1, ...uint(1), ...str("k"), ...int(-5), // Counts
      1, ...uint(3), ...int(1), ...int(2), ...int(3), // Triple
      1, 1, ...str("a"), 1, ...uint(1), ...str("b"), 0, // Inner
      1, ...uint(2), 0xde, 0xad, // Blob
      1, ...str("u1"), 1, ...str("m"), 0,
    ]);
    expect(decode(...defs, def, value)).toMatchObject({ reqIdentifier: 1001, sendID: "u1", msgIncr: "m" });
  });

  test("corrupt nested input is refused: counts past the data, wrong array length, undefined element type, deep nesting", () => {
    const withField = (fieldType: number, defs: number[][], field: number[]) =>
      decode(...defs, structDef(65, "R", [["ReqIdentifier", 2], ["X", fieldType]]), message([...int(65), 1, ...int(1001), 1, ...field, 0]));
    expect(() => withField(70, [sliceDef(70, 6)], [...uint(1_000_000), ...str("a")])).toThrow("exceeds data");
    expect(() => withField(72, [arrayDef(72, 2, 3)], [...uint(2), 2, 4])).toThrow("array length");
    expect(() => withField(70, [sliceDef(70, 99)], [...uint(1), 0])).toThrow("unknown type id 99");
    // 20 slices of slices: refused before the stack is at risk.
    const nested = Array.from({ length: 20 }, (_, i) => sliceDef(70 + i, i === 19 ? 6 : 71 + i));
    expect(() => withField(70, nested, Array(20).fill(1).concat(str("deep")))).toThrow("nested too deeply");
    // interface{} fields carry type names and nested definitions: refused with a clear error.
    expect(() => withField(8, [], str("x"))).toThrow("interface");
  });

  test("a value of a non-struct type is refused", () => {
    expect(() => decode(sliceDef(65, 6), message([...int(65), ...uint(1), ...str("a")]))).toThrow("not a struct");
  });
});
