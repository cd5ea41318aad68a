// OpenIM's real SDKs in headless Chromium, one browser context (own storage) per client, driven through the
// harness page (harness.js). Debian's chromium, started as the dashboard test starts it.
import { existsSync } from "node:fs";
import { chromium, type Browser, type Page } from "playwright-core";

export const CHROMIUM = "/usr/bin/chromium";
export const chromiumAvailable = existsSync(CHROMIUM);

export type SdkKind = "wasm" | "js";

/** A message as the SDK reported it (harness.js brief()). */
export interface SdkMessage {
  clientMsgID: string;
  serverMsgID: string;
  seq: number;
  sendID: string;
  recvID?: string;
  groupID?: string;
  sessionType: number;
  text: string | null;
}

export interface SdkClient {
  kind: SdkKind;
  userID: string;
  platformID: number;
  page: Page;
  send(to: { recvID?: string; groupID?: string }, text: string): Promise<SdkMessage>;
  received(): Promise<SdkMessage[]>;
  /** The newest `count` messages of a conversation as the app reads them (getAdvancedHistoryMessageList). */
  history(conversationID: string, count: number): Promise<SdkMessage[]>;
  /** How many times the SDK raised an event (OnConnectSuccess, OnKickedOffline, …). */
  count(event: string): Promise<number>;
  background(on: boolean): Promise<number>;
  /** Any SDK method (getAllConversationList, createGroup, …) with its one argument, as an app calls it. */
  call<T = any>(method: string, arg?: unknown): Promise<{ errCode: number; errMsg: string; data: T }>;
  /** Each time the SDK raised `event`, its data. */
  eventsOf<T = any>(event: string): Promise<T[]>;
  /** Waits until `event` has been raised more than `after` times. */
  waitFor(event: string, after?: number, timeoutMs?: number): Promise<void>;
  /** Waits until every clientMsgID in `ids` has been announced as new. */
  waitForMessages(ids: string[], timeoutMs?: number): Promise<SdkMessage[]>;
  close(): Promise<void>;
}

export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
  });
}

export async function openClient(browser: Browser, opts: {
  kind: SdkKind; origin: string; userID: string; platformID: number; token: string; wsAddr: string; log?: boolean;
  /** OpenIM's API (the SDKs' apiAddr): imgate's own, on another origin than the page, as an app has it. */
  apiAddr: string;
}): Promise<SdkClient> {
  const context = await browser.newContext();
  const page = await context.newPage();
  // IMGATE_SDK_LOG=gweb,jsweb prints those users' SDK logs (the Go core's at debug level).
  const log = opts.log || (process.env.IMGATE_SDK_LOG ?? "").split(",").includes(opts.userID);
  if (log) page.on("console", (m) => console.log(`[${opts.userID}]`, m.text().slice(0, 600)));
  await page.goto(opts.origin + "/");
  await page.waitForFunction("window.imReady === true");
  const params = { userID: opts.userID, token: opts.token, platformID: opts.platformID, wsAddr: opts.wsAddr, apiAddr: opts.apiAddr, log };
  const login = await page.evaluate(([k, p]) => (globalThis as any).im.start(k, p), [opts.kind, params] as const);
  if (login.errCode !== 0) throw new Error(`${opts.kind} SDK login failed: ${JSON.stringify(login)}`);
  const call = <T>(fn: string, ...args: unknown[]) =>
    page.evaluate(([f, a]) => (globalThis as any).im[f as string](...(a as unknown[])), [fn, args] as const) as Promise<T>;
  const client: SdkClient = {
    kind: opts.kind, userID: opts.userID, platformID: opts.platformID, page,
    send: (to, text) => call("send", to.recvID ?? "", to.groupID ?? "", text),
    received: () => call("received"),
    history: (conversationID, count) => call("history", conversationID, count),
    count: (event) => call("count", event),
    call: (method, arg) => call("call", method, arg),
    eventsOf: (event) => call("eventsOf", event),
    background: async (on) => (await call<{ errCode: number }>("background", on)).errCode,
    async waitFor(event, after = 0, timeoutMs = 20_000) {
      await page.waitForFunction(([e, n]) => (globalThis as any).im.count(e) > (n as number), [event, after] as const, { timeout: timeoutMs });
    },
    async waitForMessages(ids, timeoutMs = 30_000) {
      await page.waitForFunction((want) => {
        const got = new Set((globalThis as any).im.received().map((m: SdkMessage) => m.clientMsgID));
        return (want as string[]).every((id) => got.has(id));
      }, ids, { timeout: timeoutMs, polling: 100 });
      return client.received();
    },
    close: () => context.close(),
  };
  return client;
}
