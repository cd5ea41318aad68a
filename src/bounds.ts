// What cannot grow past its bound: a Map for caches and counters keyed by what clients and callers send, and the
// reading of a body someone else sends (an HTTP request, a webhook's reply).

/**
 * A Map with at most `max` entries: setting a new key past that drops the least recently used one (get and set
 * both count as use). For caches keyed by what clients send: their size is a constant, not a client's choice.
 */
export class BoundedMap<K, V> {
  private readonly m = new Map<K, V>();
  constructor(readonly max: number) {}
  get size(): number {
    return this.m.size;
  }
  get(k: K): V | undefined {
    const v = this.m.get(k);
    if (v !== undefined) {
      // Map keeps insertion order: moving the key to the end makes the first key the least recently used.
      this.m.delete(k);
      this.m.set(k, v);
    }
    return v;
  }
  set(k: K, v: V): void {
    this.m.delete(k);
    this.m.set(k, v);
    if (this.m.size > this.max) this.m.delete(this.m.keys().next().value as K);
  }
  delete(k: K): boolean {
    return this.m.delete(k);
  }
  clear(): void {
    this.m.clear();
  }
}


/** A body (request or response) as text; undefined once it passes `limit` bytes (reading stops there, and a
 *  body without a Content-Length is bounded the same way). */
export async function readBounded(r: { body: ReadableStream<Uint8Array> | null }, limit: number): Promise<string | undefined> {
  const bytes = await readBoundedBytes(r, limit);
  return bytes === undefined ? undefined : new TextDecoder().decode(bytes);
}

/** The body's bytes, or undefined once it is larger than `limit` (the rest is not read). */
export async function readBoundedBytes(r: { body: ReadableStream<Uint8Array> | null }, limit: number): Promise<Uint8Array | undefined> {
  if (!r.body) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of r.body as unknown as AsyncIterable<Uint8Array>) {
    size += chunk.length;
    if (size > limit) {
      await r.body.cancel().catch(() => {});
      return undefined;
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}
