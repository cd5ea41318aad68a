// Constants of OpenIM's client protocol (shared/openim-protocol.md §2.5, §3, §4.1).

export const Req = {
  GetNewestSeq: 1001,
  PullMsgBySeqList: 1002,
  SendMsg: 1003,
  SendSignalMsg: 1004,
  PullMsg: 1005,
  GetConvMaxReadSeq: 1006,
  PullConvLastMessage: 1007,
  PushMsg: 2001,
  KickOnlineMsg: 2002,
  LogoutMsg: 2003,
  SetBackgroundStatus: 2004,
  SubUserOnlineStatus: 2005,
} as const;

export const Platform = {
  IOS: 1,
  Android: 2,
  Windows: 3,
  OSX: 4,
  Web: 5,
  MiniWeb: 6,
  Linux: 7,
  APad: 8,
  IPad: 9,
  Admin: 10,
  HarmonyOS: 11,
} as const;

const platformNames: Record<number, string> = {
  1: "IOS", 2: "Android", 3: "Windows", 4: "OSX", 5: "Web", 6: "MiniWeb",
  7: "Linux", 8: "APad", 9: "IPad", 10: "Admin", 11: "HarmonyOS",
};

export type PlatformClass = "Mobile" | "PC" | "Web" | "MiniWeb" | "Pad" | "Admin" | "HarmonyOS";

const platformClasses: Record<number, PlatformClass> = {
  1: "Mobile", 2: "Mobile", 3: "PC", 4: "PC", 5: "Web", 6: "MiniWeb",
  7: "PC", 8: "Pad", 9: "Pad", 10: "Admin", 11: "HarmonyOS",
};

export const ALL_PLATFORMS: readonly number[] = Object.keys(platformNames).map(Number);

export function isValidPlatform(id: number): boolean {
  return Number.isInteger(id) && id >= 1 && id <= 11;
}

export function platformName(id: number): string {
  return platformNames[id] ?? "";
}

export function platformClass(id: number): PlatformClass | undefined {
  return platformClasses[id];
}

/** Platforms whose WebSocket delivery suppresses the offline push (§5.3 pushTerminal). */
export function isPushTerminal(id: number): boolean {
  return id === Platform.IOS || id === Platform.Android;
}

export const SessionType = { Single: 1, WriteGroup: 2, ReadGroup: 3, Notification: 4 } as const;
export const ContentType = {
  Text: 101, Picture: 102, Voice: 103, Video: 104, File: 105, AtText: 106, Custom: 110, Typing: 113, Quote: 114, Markdown: 118,
  OANotification: 1400,
  /** OpenIM's notification content types (group, friend, conversation tips ...): NotificationBegin..NotificationEnd. */
  NotificationBegin: 1000, NotificationEnd: 5000,
} as const;
/** MsgData.status values (OpenIM's constant.MsgStatus*); HasDeleted marks a seq read back without its message. */
export const MsgStatus = { Sending: 1, SendSuccess: 2, SendFailed: 3, HasDeleted: 4, Filtered: 5 } as const;

export const MultiLoginPolicy = {
  DefaultNotKick: 0,
  AllLoginButSameTermKick: 1,
  AllLoginButSameClassKick: 4,
  PCAndOther: 5,
} as const;

