// Text-frame heartbeats (§2.1): {"type":"ping","body":<any>} is answered with the same object, type set to
// "pong" and body kept as sent (compacted, as Go's json.RawMessage is). "pong" is ignored; anything else
// is a protocol error that closes the connection.

export type HeartbeatResult = { kind: "pong"; reply: string } | { kind: "ignore" } | { kind: "error"; reason: string };

export function handleTextFrame(text: string): HeartbeatResult {
  let obj: unknown;
  try {
    obj = JSON.parse(text);
  } catch {
    return { kind: "error", reason: "text frame is not JSON" };
  }
  if (typeof obj !== "object" || obj === null || Array.isArray(obj)) return { kind: "error", reason: "text frame is not a heartbeat" };
  let type: unknown = "";
  for (const [k, v] of Object.entries(obj)) if (k.toLowerCase() === "type" && v !== null) type = v;
  if (type === "pong") return { kind: "ignore" };
  if (type !== "ping") return { kind: "error", reason: "text frames carry only heartbeats" };
  const body = rawMember(text, "body");
  return { kind: "pong", reply: `{"type":"pong","body":${body === undefined ? "null" : compactJson(body)}}` };
}

/** The raw source text of the last top-level member whose key matches `name` case-insensitively. */
function rawMember(text: string, name: string): string | undefined {
  let i = skipWs(text, 0);
  if (text[i] !== "{") return undefined;
  i++;
  let found: string | undefined;
  for (;;) {
    i = skipWs(text, i);
    if (text[i] === "}") return found;
    const keyEnd = skipString(text, i);
    const key = JSON.parse(text.slice(i, keyEnd)) as string;
    i = skipWs(text, keyEnd);
    i++; // ':'
    i = skipWs(text, i);
    const valEnd = skipValue(text, i);
    if (key.toLowerCase() === name) found = text.slice(i, valEnd);
    i = skipWs(text, valEnd);
    if (text[i] === ",") i++;
    else return found;
  }
}

function skipWs(s: string, i: number): number {
  while (i < s.length && (s[i] === " " || s[i] === "\t" || s[i] === "\n" || s[i] === "\r")) i++;
  return i;
}

function skipString(s: string, i: number): number {
  i++; // opening quote
  while (i < s.length && s[i] !== '"') i += s[i] === "\\" ? 2 : 1;
  return i + 1;
}

/** Valid JSON is guaranteed (JSON.parse ran first), so brackets only need to balance outside strings. */
function skipValue(s: string, i: number): number {
  if (s[i] === '"') return skipString(s, i);
  if (s[i] === "{" || s[i] === "[") {
    let depth = 0;
    while (i < s.length) {
      const c = s[i];
      if (c === '"') { i = skipString(s, i); continue; }
      if (c === "{" || c === "[") depth++;
      else if (c === "}" || c === "]") {
        depth--;
        if (depth === 0) return i + 1;
      }
      i++;
    }
    return i;
  }
  while (i < s.length && !",}] \t\n\r".includes(s[i]!)) i++;
  return i;
}

/** json.Compact plus Go's HTML escaping inside strings, as json.Marshal applies to a RawMessage. */
function compactJson(raw: string): string {
  let out = "";
  for (let i = 0; i < raw.length; ) {
    const c = raw[i]!;
    if (c === '"') {
      const end = skipString(raw, i);
      out += raw.slice(i, end).replace(/[<>&\u2028\u2029]/g, (x) => "\\u" + x.charCodeAt(0).toString(16).padStart(4, "0"));
      i = end;
    } else {
      if (c !== " " && c !== "\t" && c !== "\n" && c !== "\r") out += c;
      i++;
    }
  }
  return out;
}
