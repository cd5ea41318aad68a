// A Map that cannot grow past its bound: for caches and counters keyed by what clients and callers send.

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

