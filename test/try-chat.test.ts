// README "Try it": `imgate serve` alone, and two people on OpenIM's own JS SDK (scripts/chat.ts, run as the README
// runs it) chatting through it: tokens from imgate's /auth API, a nickname one sets is what the other sees, a 1:1
// line both ways, a group made from the chat carries a line, and the list shows the conversation read.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BUN, type Served, serveProcess } from "./support/proc.js";

const ROOT = join(import.meta.dir, "..");
let dir: string;
let served: Served;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "imgate-try-"));
  served = await serveProcess(join(dir, "data"));
});
afterAll(async () => {
  served?.proc.kill();
  await served?.proc.exited;
  rmSync(dir, { recursive: true, force: true });
});

/** One person at a terminal: lines in, what the chat printed out. */
function chat(args: string[]) {
  const proc = Bun.spawn([BUN, "scripts/chat.ts", "--data-dir", join(dir, "data"), "--api", `http://127.0.0.1:${served.admin}`,
    "--ws", `ws://127.0.0.1:${served.ws}`, ...args], { cwd: ROOT, stdin: "pipe", stdout: "pipe", stderr: "pipe" });
  let out = "";
  void (async () => {
    for await (const c of proc.stdout as ReadableStream<Uint8Array>) out += new TextDecoder().decode(c);
  })();
  void (async () => {
    for await (const c of proc.stderr as ReadableStream<Uint8Array>) out += new TextDecoder().decode(c);
  })();
  return {
    type(line: string) {
      (proc.stdin as import("bun").FileSink).write(line + "\n");
      (proc.stdin as import("bun").FileSink).flush();
    },
    async sees(pattern: RegExp, timeoutMs = 15_000) {
      const end = Date.now() + timeoutMs;
      while (!pattern.test(out)) {
        if (Date.now() > end) throw new Error(`not seen in time: ${pattern}\n--- output:\n${out}`);
        await Bun.sleep(50);
      }
      return out.match(pattern)!;
    },
    output: () => out,
    async quit() {
      this.type("/quit");
      await Promise.race([proc.exited, Bun.sleep(5000)]);
      proc.kill();
    },
  };
}

test("two people chat through imgate alone on OpenIM's JS SDK: nickname, 1:1 both ways, a group, the read list", async () => {
  const bob = chat(["--user", "bob"]);
  const alice = chat(["--user", "alice", "--to", "bob"]);
  try {
    await bob.sees(/bob is in sync/);
    await alice.sees(/alice is in sync/);
    alice.type("/nick Alice Liddell");
    await alice.sees(/you are "Alice Liddell"/);
    alice.type("hello bob");
    await bob.sees(/^Alice Liddell: hello bob$/m);
    bob.type("/to alice");
    bob.type("hi alice");
    await alice.sees(/^bob: hi alice$/m);

    alice.type("/newgroup Tea bob");
    const [, groupID] = await alice.sees(/group (\d+) "Tea" made/);
    await bob.sees(new RegExp(`you are in group ${groupID} "Tea"`));
    alice.type("tea time");
    await bob.sees(new RegExp(`^\\[${groupID}\\] Alice Liddell: tea time$`, "m"));

    // Bob reads his chat with alice: his list shows it read, with alice's line last.
    bob.type("/read");
    await bob.sees(/si_alice_bob read/);
    bob.type("/list");
    await bob.sees(/si_alice_bob +Alice Liddell +unread 0 +last: hi alice/);
  } finally {
    await Promise.all([alice.quit(), bob.quit()]);
  }
}, 60_000);
