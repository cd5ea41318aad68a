// Dotted key paths ("ws.maxConnsPerUser") into the config tree: one getter and one setter for defaults, loading,
// masking and reloads.

export function getPath(o: unknown, path: string): unknown {
  return path.split(".").reduce<any>((a, k) => (a == null ? undefined : a[k]), o);
}

/** Sets the leaf at `path`, creating the objects on the way (an array value is copied). */
export function setPath(o: object, path: string, value: unknown): void {
  const parts = path.split(".");
  let cur: any = o;
  for (const p of parts.slice(0, -1)) cur = cur[p] ??= {};
  cur[parts.at(-1)!] = Array.isArray(value) ? [...value] : value;
}
