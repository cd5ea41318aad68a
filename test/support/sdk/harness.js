// Runs in Chromium: one OpenIM SDK (the wasm Go core or the JS SDK) as an app uses it, behind one small
// interface the tests drive with page.evaluate. Plain browser JavaScript, served as is.
const events = [];
let sdk;

/** Event data arrives as objects from the JS SDK and as JSON text from the Go core. */
const parse = (d) => {
  if (typeof d !== "string") return d;
  try { return JSON.parse(d); } catch { return d; }
};

/** The fields the tests compare, from an SDK MessageItem. */
const brief = (m) => ({
  clientMsgID: m.clientMsgID, serverMsgID: m.serverMsgID, seq: Number(m.seq), sendID: m.sendID, recvID: m.recvID,
  groupID: m.groupID, sessionType: m.sessionType, text: m.textElem?.content ?? null,
});

window.im = {
  events,
  async start(which, params) {
    let mod;
    if (which === "wasm") {
      mod = await import("/wasm/index.es.js");
      sdk = mod.getSDK({ coreWasmPath: "/wasm/openIM.wasm", sqlWasmPath: "/wasm/sql-wasm.wasm", debug: false });
    } else {
      mod = await import("/js-sdk.js");
      sdk = mod.getSDK();
    }
    for (const name of Object.values(mod.CbEvents)) {
      sdk.on(name, (e) => events.push({ event: name, t: Date.now(), data: parse(e?.data), errCode: e?.errCode ?? 0, errMsg: e?.errMsg ?? "" }));
    }
    const { log, ...rest } = params;
    const r = await sdk.login({ ...rest, logLevel: log ? 6 : 3, isLogStandardOutput: !!log });
    return { errCode: r?.errCode ?? 0 };
  },
  /** Sends a text message as the app would; resolves to the sent message (seq, serverMsgID from the reply). */
  async send(recvID, groupID, text) {
    const created = await sdk.createTextMessage(text);
    const r = await sdk.sendMessage({ recvID, groupID, message: created.data });
    return brief(parse(r.data));
  },
  async background(on) {
    const r = await sdk.setAppBackgroundStatus(on);
    return { errCode: r?.errCode ?? 0 };
  },
  /** The conversation's history as the app reads it (newest `count`, oldest first), through the SDK's own API. */
  async history(conversationID, count) {
    const r = await sdk.getAdvancedHistoryMessageList({ conversationID, count, startClientMsgID: "", viewType: 0, lastMinSeq: 0 });
    return (parse(r.data)?.messageList ?? []).map(brief);
  },
  /** Every message announced as new, in order, from whichever event the SDK uses for it. */
  received() {
    const out = [];
    for (const e of events) {
      if (e.event === "OnRecvNewMessages" && Array.isArray(e.data)) out.push(...e.data.map(brief));
      else if (e.event === "OnRecvNewMessage" && e.data && typeof e.data === "object") out.push(brief(e.data));
    }
    return out;
  },
  /** Any SDK method as an app calls it: {errCode, errMsg, data} (the JS SDK rejects on an error, the Go core too). */
  async call(method, arg) {
    try {
      const r = arg === undefined ? await sdk[method]() : await sdk[method](arg);
      return { errCode: r?.errCode ?? 0, errMsg: r?.errMsg ?? "", data: parse(r?.data) };
    } catch (e) {
      return { errCode: e?.errCode ?? -1, errMsg: e?.errMsg ?? String(e?.message ?? e), data: null };
    }
  },
  /** The events named, with their data, in order. */
  eventsOf(name) {
    return events.filter((e) => e.event === name).map((e) => e.data);
  },
  count(name) {
    return events.filter((e) => e.event === name).length;
  },
};
window.imReady = true;
