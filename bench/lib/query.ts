// The handshake query of an OpenIM JS-SDK client (§1.2), as every benchmark client sends it.
export function handshakeQuery(u: { userID: string; token: string; platformID: number }, operationID = "b"): string {
  return `?sendID=${encodeURIComponent(u.userID)}&token=${u.token}&platformID=${u.platformID}&operationID=${operationID}&isBackground=false&sdkType=js`;
}
