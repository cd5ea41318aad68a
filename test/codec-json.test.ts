// The JSON envelope cases of openim-protocol.md §2.2: Go encoding/json semantics.
import { describe, expect, test } from "bun:test";
import { decodeJsonReq, encodeJsonResp } from "../src/gateway/codec/json.js";
import { resp } from "../src/gateway/codec/envelope.js";

const enc = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array) => new TextDecoder().decode(b);

describe("JSON Resp encoding", () => {
  test("all six keys in order, data as padded standard base64", () => {
    expect(text(encodeJsonResp(resp(2001, { data: new Uint8Array([1, 2, 3]) })))).toBe(
      '{"reqIdentifier":2001,"msgIncr":"","operationID":"","errCode":0,"errMsg":"","data":"AQID"}',
    );
    expect(text(encodeJsonResp(resp(1, { data: new Uint8Array([1, 2]) })))).toContain('"data":"AQI="');
  });

  test("nil data is null, empty data is an empty string", () => {
    expect(text(encodeJsonResp(resp(2004)))).toEndWith('"data":null}');
    expect(text(encodeJsonResp(resp(2003, { data: new Uint8Array(0) })))).toEndWith('"data":""}');
  });

  test("strings are HTML-escaped as Go does", () => {
    const out = text(encodeJsonResp(resp(1003, { msgIncr: "<a&b>", errMsg: "x\u2028y", operationID: 'q"\\' })));
    expect(out).toContain('"msgIncr":"\\u003ca\\u0026b\\u003e"');
    expect(out).toContain('"errMsg":"x\\u2028y"');
    expect(out).toContain('"operationID":"q\\"\\\\"');
  });
});

describe("JSON Req decoding", () => {
  test("a normal request", () => {
    const r = decodeJsonReq(enc('{"reqIdentifier":1003,"token":"t","sendID":"u1","operationID":"op","msgIncr":"u1_1","data":"AQID"}'));
    expect(r).toEqual({ reqIdentifier: 1003, token: "t", sendID: "u1", operationID: "op", msgIncr: "u1_1", data: new Uint8Array([1, 2, 3]) });
  });

  test("keys match case-insensitively; the last one wins; unknown keys are ignored", () => {
    const r = decodeJsonReq(enc('{"REQIDENTIFIER":1001,"SendId":"a","sendid":"b","whatever":[1,{"x":2}],"MSGINCR":"m"}'));
    expect(r.reqIdentifier).toBe(1001);
    expect(r.sendID).toBe("b");
    expect(r.msgIncr).toBe("m");
  });

  test("null data and null fields leave zero values", () => {
    const r = decodeJsonReq(enc('{"reqIdentifier":null,"sendID":null,"data":null}'));
    expect(r.reqIdentifier).toBe(0);
    expect(r.sendID).toBe("");
    expect(r.data).toBeUndefined();
  });

  test("empty string data is non-nil empty", () => {
    expect(decodeJsonReq(enc('{"data":""}')).data).toEqual(new Uint8Array(0));
  });

  test("unpadded base64 is rejected", () => {
    expect(() => decodeJsonReq(enc('{"data":"AQI"}'))).toThrow("base64");
    expect(() => decodeJsonReq(enc('{"data":"AQ-_"}'))).toThrow("base64");
  });

  test("reqIdentifier as a string, a fraction or out of int32 is rejected", () => {
    expect(() => decodeJsonReq(enc('{"reqIdentifier":"1001"}'))).toThrow();
    expect(() => decodeJsonReq(enc('{"reqIdentifier":1001.5}'))).toThrow();
    expect(() => decodeJsonReq(enc('{"reqIdentifier":2147483648}'))).toThrow();
  });

  test("a string field given a number is rejected", () => {
    expect(() => decodeJsonReq(enc('{"sendID":5}'))).toThrow();
  });

  test("invalid JSON, arrays and scalars are rejected", () => {
    for (const s of ["{", "[]", "5", '"x"', '{"a":1} x']) expect(() => decodeJsonReq(enc(s))).toThrow();
  });

  test("data may be a JSON array of bytes, as Go accepts for []byte", () => {
    expect(decodeJsonReq(enc('{"data":[1,2,255]}')).data).toEqual(new Uint8Array([1, 2, 255]));
    expect(() => decodeJsonReq(enc('{"data":[256]}'))).toThrow();
  });
});
