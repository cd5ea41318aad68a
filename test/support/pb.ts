// Protobuf helpers for tests: build request payloads and read replies with the generated schemas.
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { MsgDataSchema, PushMessagesSchema, type MsgData } from "../../src/gen/openim/sdkws/sdkws_pb.js";

export function textMsg(from: string, to: string, text: string, extra: Partial<Omit<MsgData, "$typeName" | "$unknown">> = {}): Uint8Array {
  return toBinary(MsgDataSchema, create(MsgDataSchema, {
    sendID: from, recvID: to, clientMsgID: `c-${from}-${Math.random().toString(36).slice(2)}`, senderPlatformID: 5,
    senderNickname: from, sessionType: 1, msgFrom: 100, contentType: 101, content: new TextEncoder().encode(JSON.stringify({ content: text })),
    ...extra,
  }));
}

export function groupMsg(from: string, groupID: string, text: string): Uint8Array {
  return textMsg(from, "", text, { groupID, sessionType: 3 });
}

/** The single message of a 2001 push, with the conversation it was filed under. */
export function pushedMsg(data: Uint8Array | undefined): { conversationID: string; notification: boolean; msg: MsgData } {
  const pm = fromBinary(PushMessagesSchema, data!);
  const [k, v] = Object.entries(pm.msgs)[0] ?? Object.entries(pm.notificationMsgs)[0]!;
  return { conversationID: k, notification: !(k in pm.msgs), msg: v.Msgs[0]! };
}

/** The first message pushed (2001) to the client that `pred` accepts (others pushed before it are passed over). */
export async function pushWhere(client: { nextPush(id: number, timeoutMs?: number): Promise<{ data?: Uint8Array }> }, pred: (m: MsgData) => boolean, timeoutMs = 10_000): Promise<MsgData> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const { msg } = pushedMsg((await client.nextPush(2001, Math.max(1, end - Date.now()))).data);
    if (pred(msg)) return msg;
  }
}

/** The tips of an OpenIM notification (its content is a NotificationElem whose `detail` is the tips as JSON). */
export const tipsOf = (m: MsgData) => JSON.parse(JSON.parse(new TextDecoder().decode(m.content)).detail);

export const text = (m: MsgData) => JSON.parse(new TextDecoder().decode(m.content)).content as string;

type RawReader = { readRaw(conversationID: string, seqs: number[]): (Uint8Array | undefined)[] | Promise<(Uint8Array | undefined)[]> };

/** lo, lo+1, …, hi. */
export const seqRange = (lo: number, hi: number) => Array.from({ length: Math.max(0, hi - lo + 1) }, (_, i) => lo + i);

/** The stored messages of `seqs`, decoded, in that order; a missing seq is left out (the store hands out bytes). */
export async function storedMsgs(store: RawReader, conversationID: string, seqs: number[]): Promise<MsgData[]> {
  return (await store.readRaw(conversationID, seqs)).filter((d) => d !== undefined).map((d) => fromBinary(MsgDataSchema, d));
}
