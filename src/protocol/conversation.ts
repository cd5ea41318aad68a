import type { MsgData } from "../gen/openim/sdkws/sdkws_pb.js";
import { SessionType } from "./constants.js";

/** True unless options["isNotNotification"] is present and false (§3.2). */
export function isNotNotification(msg: Pick<MsgData, "options">): boolean {
  const v = msg.options?.["isNotNotification"];
  return v === undefined || v === true;
}

/** OpenIM's msgprocessor.GetConversationIDByMsg (§3.2). */
export function conversationIDOf(msg: Pick<MsgData, "sessionType" | "sendID" | "recvID" | "groupID" | "options">): string {
  const plain = isNotNotification(msg);
  switch (msg.sessionType) {
    case SessionType.Single:
      return (plain ? "si_" : "n_") + sortedPair(msg.sendID, msg.recvID);
    case SessionType.WriteGroup:
      return (plain ? "g_" : "n_") + msg.groupID;
    case SessionType.ReadGroup:
      return (plain ? "sg_" : "n_") + msg.groupID;
    case SessionType.Notification:
      return (plain ? "sn_" : "n_") + sortedPair(msg.sendID, msg.recvID);
    default:
      return "";
  }
}

function sortedPair(a: string, b: string): string {
  return a <= b ? `${a}_${b}` : `${b}_${a}`;
}

/** Pushes and pulls put n_ conversations under notificationMsgs, everything else under msgs. */
export function isNotificationConversation(conversationID: string): boolean {
  return conversationID.startsWith("n_");
}
