// Helpers for tests that run imgate as a separate process.
import { mkdirSync, readFileSync, readdirSync } from "node:fs";
import { createServer } from "node:net";

export const BUN = process.execPath;
export const CLI = new URL("../../src/cli.ts", import.meta.url).pathname;

const bindable = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = createServer();
    s.once("error", () => resolve(false));
    s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
  });

/**
 * A port free now, from below the kernel's ephemeral range (32768+): a port the kernel handed out for listen(0) can be
 * taken by the next outgoing connection (a Redis client, a fetch) before the server under test binds it.
 */
const handedOut = new Set<number>();

export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    // Never the same port twice in one test process: servers started in parallel (Promise.all) each check a port
    // before any of them binds, so two could pick the same free one (seen: "address in use" in the Sentinel suite).
    if (handedOut.has(port)) continue;
    handedOut.add(port);
    if (await bindable(port)) return port;
  }
  throw new Error("no free port in 20000-31999");
}

/** The first of `n` consecutive free ports (for `serve --workers n`, whose worker i serves admin HTTP on admin + i). */
export async function freePortRun(n: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const first = await freePort();
    let ok = true;
    for (let i = 1; i < n && ok; i++) ok = !handedOut.has(first + i) && (await bindable(first + i));
    if (ok) {
      for (let i = 1; i < n; i++) handedOut.add(first + i);
      return first;
    }
  }
  throw new Error(`no run of ${n} free ports found`);
}

export function runCli(args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}) {
  const p = Bun.spawnSync([BUN, CLI, ...args], {
    cwd: opts.cwd, env: { ...process.env, IMGATE_CONFIG: "", ...opts.env }, stdout: "pipe", stderr: "pipe",
  });
  return { code: p.exitCode, stdout: p.stdout.toString(), stderr: p.stderr.toString() };
}

/** runCli without blocking this process's event loop (needed when the server runs in this process). */
export async function runCliAsync(args: string[]) {
  const p = Bun.spawn([BUN, CLI, ...args], { env: { ...process.env, IMGATE_CONFIG: "" }, stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { code, stdout, stderr };
}

export async function waitHttp(url: string, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {}
    if (Date.now() > end) throw new Error(`${url} did not come up`);
    await Bun.sleep(50);
  }
}

export interface Served {
  proc: ReturnType<typeof Bun.spawn>;
  ws: number;
  rpc: number;
  admin: number;
  output(): string;
}

/**
 * Starts `imgate serve` in a child process on free ports and waits for /healthz. A port checked free can still be taken
 * by another process before the server binds it: a start that exits with "address in use" is tried again on other ports.
 */
export async function serveProcess(dataDir: string, extra: string[] = [], cmd: string[] = [BUN, CLI], cwd = dataDir, env: Record<string, string> = {}): Promise<Served> {
  mkdirSync(dataDir, { recursive: true });
  for (let attempt = 1; ; attempt++) {
    const [ws, rpc, admin] = [await freePort(), await freePort(), await freePort()];
    const proc = Bun.spawn([...cmd, "serve", "--host", "127.0.0.1", "--ws-port", String(ws), "--rpc-port", String(rpc),
      "--admin-port", String(admin), "--data-dir", dataDir, "--log-format", "json", ...extra], {
      cwd, env: { ...process.env, IMGATE_CONFIG: "", ...env }, stdout: "pipe", stderr: "pipe",
    });
    let out = "";
    const pump = async (s: ReadableStream<Uint8Array>) => {
      for await (const c of s) out += new TextDecoder().decode(c);
    };
    const pumped = Promise.all([pump(proc.stdout as ReadableStream<Uint8Array>), pump(proc.stderr as ReadableStream<Uint8Array>)]);
    const up = await Promise.race([waitHttp(`http://127.0.0.1:${admin}/healthz`).then(() => true, (e: Error) => e), proc.exited.then(() => false)]);
    if (up === true) return { proc, ws, rpc, admin, output: () => out };
    proc.kill();
    await Promise.race([pumped, Bun.sleep(1000)]);
    if (up === false && out.includes("address in use") && attempt < 3) continue;
    throw new Error(`${up === false ? `imgate exited (${proc.exitCode}) before /healthz` : up.message}; output:\n${out}`);
  }
}

export interface Spawned {
  proc: ReturnType<typeof Bun.spawn>;
  output(): string;
  /** Resolves with the first match of `re` in the output; rejects if the process exits first or after `ms`. */
  waitFor(re: RegExp, ms?: number): Promise<RegExpMatchArray>;
  /** SIGTERM and wait. */
  stop(): Promise<number>;
}

/** `imgate <args>` exactly as given (no added flags), with extra environment (OpenIM's IMENV_* overrides). */
export function spawnImgate(args: string[], env: Record<string, string> = {}, cwd?: string): Spawned {
  const proc = Bun.spawn([BUN, CLI, ...args], { cwd, env: { ...process.env, IMGATE_CONFIG: "", ...env }, stdout: "pipe", stderr: "pipe" });
  let out = "";
  let exited = false;
  void proc.exited.then(() => (exited = true));
  const pump = async (s: ReadableStream<Uint8Array>) => {
    for await (const c of s) out += new TextDecoder().decode(c);
  };
  void pump(proc.stdout as ReadableStream<Uint8Array>);
  void pump(proc.stderr as ReadableStream<Uint8Array>);
  return {
    proc,
    output: () => out,
    async waitFor(re, ms = 15_000) {
      const end = Date.now() + ms;
      for (;;) {
        const m = out.match(re);
        if (m) return m;
        if (exited) {
          await Bun.sleep(50); // let the pumps finish
          const late = out.match(re);
          if (late) return late;
          throw new Error(`imgate exited (${proc.exitCode}) before ${re}; output:\n${out}`);
        }
        if (Date.now() > end) throw new Error(`no ${re} within ${ms} ms; output:\n${out}`);
        await Bun.sleep(25);
      }
    },
    async stop() {
      if (!exited) proc.kill("SIGTERM");
      return await proc.exited;
    },
  };
}

/** The pids of every process below `pid` now (children, their children, …), read from /proc. */
export function descendants(pid: number): number[] {
  const parent = new Map<number, number>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      // Field 4 of /proc/<pid>/stat is the parent's pid; the command name (field 2) may hold spaces, so split after ")".
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      parent.set(Number(name), Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]));
    } catch {
      // gone meanwhile
    }
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const [child, pp] of parent) if (pp === p) (out.push(child), walk(child));
  };
  walk(pid);
  return out;
}

/** Whether a process is still there (a zombie counts as gone). */
export function alive(pid: number): boolean {
  try {
    return !readFileSync(`/proc/${pid}/stat`, "utf8").includes(") Z ");
  } catch {
    return false;
  }
}

/** SIGKILL for these pids, those still there: what a test started, never a process found by name. */
export function killAll(pids: number[]): void {
  for (const p of pids) {
    try {
      process.kill(p, "SIGKILL");
    } catch {
      // already gone
    }
  }
}

/** The process below `ancestor` whose command line holds `text` (a worker by its node ID), if any. */
export function childWith(ancestor: number, text: string): number | undefined {
  return descendants(ancestor).find((p) => {
    try {
      return readFileSync(`/proc/${p}/cmdline`, "utf8").split("\0").join(" ").includes(text) && alive(p);
    } catch {
      return false;
    }
  });
}
