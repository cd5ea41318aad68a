// The embedded shape: OpenIM's auth, msg, push and user services as in-process adapters over one SQLite
// file, so `imgate serve` alone is a working IM core.
import { create } from "@bufbuild/protobuf";
import type { Database } from "bun:sqlite";
import {
  GetConversationsHasReadAndMaxSeqRespSchema, GetLastMessageRespSchema, GetSeqMessageRespSchema, SendMsgRespSchema, SeqsSchema,
} from "../../gen/openim/msg/msg_pb.js";
import {
  GetMaxSeqRespSchema, type MsgData, PullMessageBySeqsRespSchema, PullOrder, type PullMsgs, PullMsgsSchema,
} from "../../gen/openim/sdkws/sdkws_pb.js";
import { isNotificationConversation } from "../../protocol/conversation.js";
import { ErrCode, codeError } from "../../protocol/errors.js";
import type { Backend, CallMeta, DeliveryPort } from "../ports.js";
import type { Logger } from "../../observe/log.js";
import { createEmbeddedAuth } from "./auth.js";
import { startCheckpointer } from "./checkpointer.js";
import { openDatabase } from "./db.js";
import { MessageStore } from "./store.js";

export interface EmbeddedBackend extends Backend {
  store: MessageStore;
  db: Database;
}

export function createEmbeddedBackend(opts: {
  dataDir: string;
  secret: string;
  adminUserIDs: string[];
  delivery: () => DeliveryPort | undefined;
  retention?: { maxAgeMs: number; maxPerConversation: number; everyMs?: number };
  log?: Logger;
}): EmbeddedBackend {
  const db = openDatabase(opts.dataDir);
  const store = new MessageStore(db);
  const checkpointer = startCheckpointer(db.filename, 500, (err) => opts.log?.warn("WAL checkpoint failed", { err }));
  const r = opts.retention;
  const pruner = r && (r.maxAgeMs > 0 || r.maxPerConversation > 0)
    ? setInterval(() => store.prune(r.maxAgeMs, r.maxPerConversation), r.everyMs ?? 3_600_000)
    : undefined;
  pruner?.unref();
  if (r && pruner) store.prune(r.maxAgeMs, r.maxPerConversation);
  const admins = new Set(opts.adminUserIDs);
  store.onCommitted = (results) => {
    const d = opts.delivery();
    if (!d) return;
    for (const r of results) if (!r.duplicate) d.deliver(r.msg, r.recipients, r.operationID);
  };

  /** OpenIM's CheckAccess: a user reads its own data; admins read anyone's. */
  const checkAccess = (userID: string, meta: CallMeta) => {
    if (!userID) throw codeError(ErrCode.Args, "userID is empty");
    if (userID !== meta.opUserID && !admins.has(meta.opUserID)) throw codeError(ErrCode.NoPermission, "no permission for this user");
  };
  const checkConversation = (userID: string, conversationID: string) => {
    if (!store.isMember(userID, conversationID)) throw codeError(ErrCode.NoPermission, `not a member of ${conversationID}`);
  };
  const put = (msgs: Record<string, PullMsgs>, notif: Record<string, PullMsgs>, conversationID: string, value: PullMsgs) => {
    (isNotificationConversation(conversationID) ? notif : msgs)[conversationID] = value;
  };

  return {
    store,
    db,
    auth: createEmbeddedAuth(db, opts.secret),
    messages: {
      async getMaxSeq(req, meta) {
        checkAccess(req.userID || meta.opUserID, meta);
        const { max, min } = store.maxSeqs(req.userID || meta.opUserID);
        return create(GetMaxSeqRespSchema, { maxSeqs: Object.fromEntries(max), minSeqs: Object.fromEntries(min) });
      },
      async pullMessageBySeqs(req, meta) {
        checkAccess(req.userID, meta);
        const resp = create(PullMessageBySeqsRespSchema);
        for (const r of req.seqRanges) {
          checkConversation(req.userID, r.conversationID);
          const got = store.range(r.conversationID, Number(r.begin), Number(r.end), Number(r.num), req.order === PullOrder.PullOrderDesc);
          put(resp.msgs, resp.notificationMsgs, r.conversationID, create(PullMsgsSchema, { Msgs: got.msgs, isEnd: got.isEnd, endSeq: BigInt(got.endSeq) }));
        }
        return resp;
      },
      async sendMsg(req, meta) {
        if (!req.msgData) throw codeError(ErrCode.Args, "msgData is empty");
        const r = await store.send(req.msgData, meta.opUserID, meta.operationID);
        return create(SendMsgRespSchema, { serverMsgID: r.serverMsgID, clientMsgID: r.clientMsgID, sendTime: r.sendTime });
      },
      async getSeqMessage(req, meta) {
        checkAccess(req.userID, meta);
        const resp = create(GetSeqMessageRespSchema);
        for (const c of req.conversations) {
          checkConversation(req.userID, c.conversationID);
          let msgs = store.bySeqs(c.conversationID, c.seqs.map(Number));
          if (req.order === PullOrder.PullOrderDesc) msgs = msgs.sort((a, b) => Number(b.seq - a.seq));
          else msgs = msgs.sort((a, b) => Number(a.seq - b.seq));
          put(resp.msgs, resp.notificationMsgs, c.conversationID, create(PullMsgsSchema, { Msgs: msgs, isEnd: true }));
        }
        return resp;
      },
      async getConversationsHasReadAndMaxSeq(req, meta) {
        checkAccess(req.userID, meta);
        const ids = req.conversationIDs.length > 0 ? req.conversationIDs : store.userConversationIDs(req.userID);
        const resp = create(GetConversationsHasReadAndMaxSeqRespSchema);
        for (const id of ids) {
          const s = store.seqInfo(req.userID, id);
          resp.seqs[id] = create(SeqsSchema, { maxSeq: BigInt(s.maxSeq), hasReadSeq: BigInt(s.hasReadSeq), maxSeqTime: BigInt(s.maxSeqTime) });
        }
        return resp;
      },
      async getLastMessage(req, meta) {
        checkAccess(req.userID, meta);
        const resp = create(GetLastMessageRespSchema);
        for (const id of req.conversationIDs) {
          if (!store.isMember(req.userID, id)) continue;
          const m: MsgData | undefined = store.last(id);
          if (m) resp.msgs[id] = m;
        }
        return resp;
      },
    },
    pushTokens: {
      // No offline push service in the embedded shape: nothing holds device push tokens.
      async delUserPushToken() {},
    },
    ready: () => true,
    async close() {
      clearInterval(pruner);
      store.flush();
      await checkpointer.close();
      db.close();
    },
  };
}
