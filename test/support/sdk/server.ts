// The page server for the real-SDK tests: the page that runs OpenIM's SDKs in Chromium and the SDKs' files, as an
// app would serve them. The SDKs' API (apiAddr) is imgate's own, on another origin.
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";

const root = join(import.meta.dir, "../../..");
const wasmLib = join(root, "node_modules/@openim/wasm-client-sdk/lib");
const wasmAssets = join(root, "node_modules/@openim/wasm-client-sdk/assets");
// The JS SDK's modern build. Its ES5 builds (index.es.js, the `module` entry bundlers pick; index.js; index.umd.js)
// compile `[...map.entries()]` to `[].concat(map.entries())`, so its reconnect gap fill throws before sending 1002
// (a client bug, docs/compatibility.md); the modern build is the same code compiled correctly.
const jsSdkEntry = join(root, "node_modules/@openim/client-sdk/lib/index.modern.mjs");

export interface PageServer {
  origin: string;
  stop(): void;
}

async function jsSdkBundle(): Promise<string> {
  const out = await Bun.build({ entrypoints: [jsSdkEntry], target: "browser", format: "esm", minify: false });
  if (!out.success) throw new Error(`bundling @openim/client-sdk failed: ${out.logs.join("\n")}`);
  return out.outputs[0]!.text();
}

const isolation = {
  // The wasm SDK's SQLite worker uses SharedArrayBuffer: the page must be cross-origin isolated.
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-embedder-policy": "require-corp",
  "cross-origin-resource-policy": "same-origin",
};

export async function startPageServer(): Promise<PageServer> {
  if (!existsSync(wasmLib) || !existsSync(jsSdkEntry)) throw new Error("the OpenIM SDK packages are not installed (npm install)");
  const js = await jsSdkBundle();
  const file = (path: string, type?: string) => new Response(Bun.file(path), { headers: { ...isolation, ...(type ? { "content-type": type } : {}) } });
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req) {
      const { pathname } = new URL(req.url);
      if (pathname === "/") return file(join(import.meta.dir, "page.html"), "text/html; charset=utf-8");
      if (pathname === "/harness.js") return file(join(import.meta.dir, "harness.js"), "text/javascript");
      if (pathname === "/js-sdk.js") return new Response(js, { headers: { ...isolation, "content-type": "text/javascript" } });
      const m = pathname.match(/^\/wasm\/([\w.-]+)$/);
      if (m) {
        const name = m[1]!;
        const path = existsSync(join(wasmLib, name)) ? join(wasmLib, name) : join(wasmAssets, name);
        if (existsSync(path) && dirname(path).startsWith(join(root, "node_modules")))
          return file(path, name.endsWith(".wasm") ? "application/wasm" : name.endsWith(".js") ? "text/javascript" : undefined);
      }
      return new Response("not found", { status: 404, headers: isolation });
    },
  });
  return { origin: `http://127.0.0.1:${server.port}`, stop: () => void server.stop(true) };
}
