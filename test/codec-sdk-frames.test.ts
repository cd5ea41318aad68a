// The frames OpenIM's real SDKs sent (test/fixtures/sdk, recorded from the Go core and the JS SDK in Chromium)
// decode with our codecs: the formats our clients really produce are the ones we test.
import { describe, expect, test } from "bun:test";
import { decodeReq } from "../src/gateway/codec/envelope.js";
import { plainFrame, sdkFixtures } from "./support/sdk-fixtures.js";

const fixtures = sdkFixtures();

test("fixtures exist for the Go core (gob, Web and native) and the JS SDK (JSON)", () => {
  expect(fixtures.map((f) => f.name)).toEqual(["gob-platform2", "gob-platform5", "json-platform5"]);
});

for (const fx of fixtures) {
  describe(`recorded ${fx.name} frames`, () => {
    const q = new URL(fx.path, "ws://x").searchParams;
    test("the handshake carried what OpenIM's gateway reads", () => {
      for (const key of ["sendID", "token", "platformID", "operationID", "isBackground", "isMsgResp"]) expect(q.has(key)).toBe(true);
      expect(q.get("sdkType") ?? "go").toBe(fx.codec === "json" ? "js" : "go");
      // The Go core compresses (gzip), the JS SDK does not.
      expect(q.get("compression")).toBe(fx.codec === "gob" ? "gzip" : null);
    });
    test("every frame decodes to its request id, from the connection's user", () => {
      expect(fx.frames.length).toBeGreaterThan(1);
      for (const f of fx.frames) {
        expect(f.gzip).toBe(fx.codec === "gob");
        const req = decodeReq(fx.codec, plainFrame(f));
        expect(req.reqIdentifier).toBe(f.reqIdentifier);
        expect(req.sendID).toBe(q.get("sendID")!);
        expect(req.msgIncr.length).toBeGreaterThan(0);
      }
    });
  });
}
