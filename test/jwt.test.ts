// Tokens against a vector computed outside this code (openssl HMAC-SHA256 over the OpenIM claim layout).
import { describe, expect, test } from "bun:test";
import { signToken, verifyToken } from "../src/backend/embedded/jwt.js";
import { CodeError } from "../src/protocol/errors.js";

// header {"alg":"HS256","typ":"JWT"}, claims {"UserID":"user1","PlatformID":2,"exp":1900000000,"iat":1700000000}, secret openIM123
const VECTOR =
  "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJVc2VySUQiOiJ1c2VyMSIsIlBsYXRmb3JtSUQiOjIsImV4cCI6MTkwMDAwMDAwMCwiaWF0IjoxNzAwMDAwMDAwfQ.7CXHgzAEtRe9VoxiVwlYq4uzD8k8FXiA292msdqOg4I";

const codeOf = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    return (e as CodeError).code;
  }
  return 0;
};

describe("OpenIM tokens", () => {
  test("minting reproduces the vector byte for byte", () => {
    // iat is issued 5 s in the past: now = iat + 5, ttl = exp - now.
    expect(signToken("openIM123", "user1", 2, 1900000000 - 1700000005, 1700000005)).toBe(VECTOR);
  });

  test("the vector verifies and yields its claims", () => {
    expect(verifyToken("openIM123", VECTOR, 1800000000)).toMatchObject({ UserID: "user1", PlatformID: 2, exp: 1900000000 });
  });

  test("errors map to OpenIM codes", () => {
    expect(codeOf(() => verifyToken("openIM123", VECTOR, 1900000000))).toBe(1501); // expired at exp
    expect(codeOf(() => verifyToken("wrong", VECTOR, 1800000000))).toBe(1505);
    expect(codeOf(() => verifyToken("openIM123", "abc", 1800000000))).toBe(1503);
    expect(codeOf(() => verifyToken("openIM123", "a.b.c", 1800000000))).toBe(1503);
    const [h, p] = VECTOR.split(".");
    expect(codeOf(() => verifyToken("openIM123", `${h}.${p}.`, 1800000000))).toBe(1505);
    const none = Buffer.from('{"alg":"none","typ":"JWT"}').toString("base64url");
    expect(codeOf(() => verifyToken("openIM123", `${none}.${p}.`, 1800000000))).toBe(1505);
    const nbf = signWith({ UserID: "u", PlatformID: 1, exp: 2e9, iat: 1, nbf: 1900000000 });
    expect(codeOf(() => verifyToken("k", nbf, 1800000000))).toBe(1504);
  });

  test("a tampered payload fails the signature", () => {
    const [h, , s] = VECTOR.split(".");
    const p = Buffer.from('{"UserID":"admin","PlatformID":2,"exp":1900000000,"iat":1700000000}').toString("base64url");
    expect(codeOf(() => verifyToken("openIM123", `${h}.${p}.${s}`, 1800000000))).toBe(1505);
  });
});

function signWith(claims: object): string {
  const { createHmac } = require("node:crypto");
  const body = `${Buffer.from('{"alg":"HS256","typ":"JWT"}').toString("base64url")}.${Buffer.from(JSON.stringify(claims)).toString("base64url")}`;
  return `${body}.${createHmac("sha256", "k").update(body).digest("base64url")}`;
}
