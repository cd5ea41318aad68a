// A terminal chat on OpenIM's own JS SDK (@openim/client-sdk) against a running imgate, nothing else: the token
// comes from imgate's /auth API as an app server gets it (admin token from the data dir's secret, then
// get_user_token), then the SDK logs in with apiAddr and wsAddr both imgate. Lines typed are sent; what arrives is
// printed. `npm run chat -- --user alice --to bob` (README "Try it"); `/help` lists the commands.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import type * as Sdk from "@openim/client-sdk";

const { values: o } = parseArgs({
  options: {
    user: { type: "string" }, to: { type: "string" }, group: { type: "string" }, platform: { type: "string", default: "5" },
    "data-dir": { type: "string", default: "./imgate-data" }, api: { type: "string", default: "http://127.0.0.1:12140" },
    ws: { type: "string", default: "ws://127.0.0.1:10001" }, admin: { type: "string", default: "imAdmin" },
  },
});
if (!o.user) {
  console.error("usage: npm run chat -- --user alice [--to bob | --group g1] [--data-dir ./imgate-data] [--api URL] [--ws URL]");
  process.exit(2);
}
const userID = o.user;
const platformID = Number(o.platform);
let to: { recvID?: string; groupID?: string } = o.group ? { groupID: o.group } : o.to ? { recvID: o.to } : {};

async function api(path: string, body: unknown, token?: string): Promise<any> {
  const r = await fetch(o.api + path, { method: "POST", body: JSON.stringify(body), headers: { operationID: `chat-${Date.now()}`, ...(token ? { token } : {}) } });
  const j = (await r.json()) as { errCode: number; errMsg: string; errDlt: string; data: any };
  if (j.errCode !== 0) throw new Error(`${path}: ${j.errCode} ${j.errMsg} ${j.errDlt}`);
  return j.data;
}

const secret = readFileSync(join(o["data-dir"]!, "secret"), "utf8").trim();
const admin = (await api("/auth/get_admin_token", { secret, userID: o.admin })).token;
const token = (await api("/auth/get_user_token", { userID, platformID }, admin)).token;

// The SDK is written for browsers, whose sockets hand binary frames over as Blobs; Bun's default is a Buffer.
globalThis.WebSocket = class extends WebSocket {
  constructor(...args: ConstructorParameters<typeof WebSocket>) {
    super(...args);
    this.binaryType = "blob";
  }
} as typeof WebSocket;

// The SDK prints some answers with console.warn/info whatever its log level: the chat keeps the terminal to itself.
console.warn = () => {};
console.info = () => {};
// The JS SDK's correctly compiled build (its ES5 builds cannot fill a reconnect gap: docs/compatibility.md); the
// package's types describe it.
const modern = "../node_modules/@openim/client-sdk/lib/index.modern.mjs";
const { getSDK, CbEvents } = (await import(modern)) as typeof Sdk;
// (Its types leave out the event methods the SDK has.)
const sdk = getSDK() as ReturnType<typeof getSDK> & { on(event: string, fn: (e: any) => void): void };
const say = (s: string) => console.log(s);
const textOf = (m: any) => m.textElem?.content ?? m.atTextElem?.text ?? `(content type ${m.contentType})`;
const peerOf = (m: any) => (m.groupID ? `[${m.groupID}] ` : "") + (m.senderNickname || m.sendID);
sdk.on(CbEvents.OnRecvNewMessages, ({ data }: any) => {
  for (const m of data) say(`${peerOf(m)}: ${textOf(m)}`);
});
sdk.on(CbEvents.OnKickedOffline, () => say("* kicked offline"));
sdk.on(CbEvents.OnConnecting, () => say("* connecting"));
sdk.on(CbEvents.OnSyncServerFinish, () => say(`* ${userID} is in sync; type a line to send it${to.recvID || to.groupID ? ` to ${to.recvID ?? to.groupID}` : " (/to USER first)"}; /help`));
sdk.on(CbEvents.OnJoinedGroupAdded, ({ data }: any) => say(`* you are in group ${data.groupID} "${data.groupName}"`));
await sdk.login({ userID, token, platformID, apiAddr: o.api!, wsAddr: o.ws!, logLevel: 4 } as any);

const commands: Record<string, (args: string[]) => Promise<void>> = {
  async help() {
    say("/to USER | /group GROUP_ID | /nick NAME | /list | /read | /newgroup NAME USER... | /quit");
  },
  async to([u]) {
    to = { recvID: u };
  },
  async group([g]) {
    to = { groupID: g };
  },
  async nick(words) {
    await sdk.setSelfInfo({ nickname: words.join(" ") } as any);
    say(`* you are "${words.join(" ")}"`);
  },
  async list() {
    const { data } = await sdk.getConversationListSplit({ offset: 0, count: 50 });
    for (const c of data as any[]) say(`${c.conversationID}  ${c.showName}  unread ${c.unreadCount}  last: ${c.latestMsg ? textOf(JSON.parse(c.latestMsg)) : ""}`);
  },
  async read() {
    const id = to.groupID ? `sg_${to.groupID}` : `si_${[userID, to.recvID].sort().join("_")}`;
    await sdk.markConversationMessageAsRead(id);
    say(`* ${id} read`);
  },
  async newgroup([name, ...members]) {
    const { data } = await sdk.createGroup({ groupInfo: { groupName: name, groupType: 2 }, memberUserIDs: members, adminUserIDs: [] } as any);
    to = { groupID: (data as any).groupID };
    say(`* group ${to.groupID} "${name}" made; you now write to it`);
  },
  async quit() {
    await sdk.logout();
    process.exit(0);
  },
};

for await (const line of createInterface({ input: process.stdin })) {
  try {
    if (line.startsWith("/")) {
      const [cmd, ...args] = line.slice(1).split(/\s+/);
      const run = commands[cmd!];
      if (run) await run(args);
      else say("* unknown command; /help");
    } else if (line.trim()) {
      if (!to.recvID && !to.groupID) say("* to whom? /to USER or /group GROUP_ID");
      else {
        const { data: m } = await sdk.createTextMessage(line);
        await sdk.sendMessage({ recvID: to.recvID ?? "", groupID: to.groupID ?? "", message: m });
      }
    }
  } catch (e: any) {
    say(`* failed: ${e?.errMsg ?? e?.message ?? e}`);
  }
}
await sdk.logout().catch(() => {});
process.exit(0);
