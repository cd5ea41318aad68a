// Application-level gzip (§2.3). Output mirrors Go's compress/gzip header (mtime 0, OS byte 255); input
// is inflated with a hard output bound so a gzip bomb costs at most `maxBytes` of memory.
import { gunzipSync } from "node:zlib";

export class InflateError extends Error {
  override name = "InflateError";
  constructor(message: string, readonly tooLarge: boolean) {
    super(message);
  }
}

export function gzipFrame(data: Uint8Array): Uint8Array {
  const out = Bun.gzipSync(data as Uint8Array<ArrayBuffer>, { level: 6 });
  out[9] = 255; // OS = unknown, as Go writes it
  return out;
}

export function gunzipBounded(data: Uint8Array, maxBytes: number): Uint8Array {
  try {
    return gunzipSync(data, { maxOutputLength: maxBytes });
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === "ERR_BUFFER_TOO_LARGE" || err instanceof RangeError)
      throw new InflateError(`inflated frame exceeds ${maxBytes} bytes`, true);
    throw new InflateError(`gzip: ${err.message}`, false);
  }
}
