// The two envelope structs of OpenIM's WebSocket protocol (§2.2), as every codec reads and writes them.

export interface WireReq {
  reqIdentifier: number;
  token: string;
  sendID: string;
  operationID: string;
  msgIncr: string;
  data: Uint8Array | undefined;
}

export interface WireResp {
  reqIdentifier: number;
  msgIncr: string;
  operationID: string;
  errCode: number;
  errMsg: string;
  /** undefined is Go's nil (JSON null); an empty array is non-nil empty (JSON ""). */
  data: Uint8Array | undefined;
}
