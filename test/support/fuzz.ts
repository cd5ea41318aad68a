// Seeded mutation fuzzing: small, reproducible (the seed is printed), bounded by count.
export function rng(seed: number) {
  let s = seed >>> 0 || 1;
  const next = () => {
    // xorshift32
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
  return {
    int: (n: number) => next() % Math.max(1, n),
    pick: <T>(xs: readonly T[]) => xs[next() % xs.length]!,
    bytes: (n: number) => Uint8Array.from({ length: n }, () => next() & 255),
  };
}

export type Rng = ReturnType<typeof rng>;

/** One random mutation of `input`: flip, insert, delete, truncate, duplicate a slice, or splice in junk. */
export function mutate(r: Rng, input: Uint8Array): Uint8Array {
  const b = Array.from(input);
  const rounds = 1 + r.int(4);
  for (let k = 0; k < rounds; k++) {
    const at = r.int(b.length + 1);
    switch (r.int(7)) {
      case 0: if (b.length) b[at % b.length] = r.int(256); break;
      case 1: b.splice(at, 0, ...r.bytes(1 + r.int(8))); break;
      case 2: b.splice(at, 1 + r.int(8)); break;
      case 3: b.length = at; break;
      case 4: b.splice(at, 0, ...b.slice(at, at + 1 + r.int(16))); break;
      case 5: if (b.length) b[at % b.length] = r.pick([0, 0x7f, 0x80, 0xff, 0x3a, 0x22, 0x5c]); break;
      case 6: b.splice(at, 0, ...new TextEncoder().encode(r.pick(['"', "{", "}", "[", "null", "1e999", "-1", "\\u0000", "😀"]))); break;
    }
  }
  return Uint8Array.from(b);
}
