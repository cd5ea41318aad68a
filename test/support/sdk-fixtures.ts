// Frames OpenIM's real SDKs sent to imgate, recorded by the real-SDK test (IMGATE_RECORD_SDK=1 npm test):
// one file per codec and platform, with the handshake path (token masked) and the first frame of each request id.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipBounded } from "../../src/gateway/codec/gzip.js";

export interface SdkFixture {
  name: string;
  path: string;
  codec: "gob" | "json";
  frames: { reqIdentifier: number; gzip: boolean; bytes: Uint8Array }[];
}

const dir = join(import.meta.dir, "../fixtures/sdk");

export function sdkFixtures(): SdkFixture[] {
  return readdirSync(dir).filter((f) => f.endsWith(".json")).sort().map((file) => {
    const raw = JSON.parse(readFileSync(join(dir, file), "utf8")) as { path: string; frames: { reqIdentifier: number; gzip: boolean; hex: string }[] };
    return {
      name: file.replace(/\.json$/, ""), path: raw.path, codec: file.startsWith("gob") ? "gob" : "json",
      frames: raw.frames.map((f) => ({ reqIdentifier: f.reqIdentifier, gzip: f.gzip, bytes: new Uint8Array(Buffer.from(f.hex, "hex")) })),
    };
  });
}

/** A recorded frame as the codec sees it (after the connection's gzip, if any). */
export const plainFrame = (f: SdkFixture["frames"][number]) => (f.gzip ? gunzipBounded(f.bytes, 1 << 20) : f.bytes);
