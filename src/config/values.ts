// How a configured value of each kind is read from text and checked: one set of kind names (the schema's) and one
// decoder for the weakly typed sources (environment variables, and OpenIM's files as viper reads them: numbers and
// booleans from strings, lists from comma- or space-separated strings).
import { ConfigError } from "./errors.js";
import type { Kind } from "./schema.js";

export const KIND_TEXT: Record<Kind, string> = {
  string: "a string", int: "an integer", bool: "true or false", "string[]": "a list of strings", "int[]": "a list of integers",
};

const scalar = (x: unknown) => typeof x === "string" || typeof x === "number" || typeof x === "boolean";

/** Converts as viper's weak decoding does; throws a ConfigError naming `where` and the kind wanted. */
export function weakDecode(kind: Kind, v: unknown, where: string): unknown {
  const bad = () => new ConfigError(`${where} must be ${KIND_TEXT[kind]}, got ${JSON.stringify(v)}`);
  const int = (x: unknown) => {
    if (typeof x === "number" && Number.isSafeInteger(x)) return x;
    if (typeof x === "string" && /^\s*-?\d+\s*$/.test(x)) return Number(x);
    throw bad();
  };
  const list = (x: unknown): unknown[] => {
    if (x === null) return [];
    if (Array.isArray(x)) return x;
    if (typeof x === "string") return x.split(/[,\s]+/).filter(Boolean);
    if (scalar(x)) return [x];
    throw bad();
  };
  switch (kind) {
    case "string":
      if (v === null) return "";
      if (!scalar(v)) throw bad();
      return String(v);
    case "int":
      return int(v);
    case "bool": {
      if (typeof v === "boolean") return v;
      const s = String(v).trim().toLowerCase();
      if (["true", "t", "1", "yes"].includes(s)) return true;
      if (["false", "f", "0", "no"].includes(s)) return false;
      throw bad();
    }
    case "string[]":
      return list(v).map((x) => {
        if (!scalar(x)) throw bad();
        return String(x);
      });
    case "int[]":
      return list(v).map(int);
  }
}
