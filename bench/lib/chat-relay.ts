// The chat job as the peers do it: the same request frames imgate gets (JSON envelope around a MsgData) and
// the same frames back (a 1003 reply to the sender, a 2001 push to the recipient and one to the sender),
// relayed from memory: no storage, no sessions, no checks. The node peers load this bundled for node.
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { SendMsgRespSchema } from "../../src/gen/openim/msg/msg_pb.js";
import { MsgDataSchema } from "../../src/gen/openim/sdkws/sdkws_pb.js";
import { decodeJsonReq, encodeJsonResp } from "../../src/gateway/codec/json.js";
import { resp } from "../../src/gateway/codec/envelope.js";
import { pushMessagesPayload } from "../../src/gateway/push.js";

let seq = 0;

export function relay(frame: Uint8Array): { to: string; from: string; reply: Uint8Array; push: Uint8Array } {
  const req = decodeJsonReq(frame);
  const msg = fromBinary(MsgDataSchema, req.data ?? new Uint8Array());
  const now = Date.now();
  msg.seq = BigInt(++seq);
  msg.sendTime = BigInt(now);
  msg.serverMsgID = `s${seq}`;
  const r = create(SendMsgRespSchema, { serverMsgID: msg.serverMsgID, clientMsgID: msg.clientMsgID, sendTime: msg.sendTime });
  return {
    from: msg.sendID, to: msg.recvID,
    reply: encodeJsonResp(resp(req.reqIdentifier, { msgIncr: req.msgIncr, operationID: req.operationID, data: toBinary(SendMsgRespSchema, r) })),
    push: encodeJsonResp(resp(2001, { operationID: req.operationID, data: pushMessagesPayload(msg) })),
  };
}

/** The user a chat client connected as (imgate's handshake query), or "" for a plain subscriber. */
export function userOf(url: string): string {
  const q = url.indexOf("?");
  return q < 0 ? "" : new URLSearchParams(url.slice(q + 1)).get("sendID") ?? "";
}
