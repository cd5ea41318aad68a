// OpenIM's error triple (errCode, errMsg, errDlt) and its codes (§3.4).

export const ErrCode = {
  ServerInternal: 500,
  Args: 1001,
  NoPermission: 1002,
  DuplicateKey: 1003,
  RecordNotFound: 1004,
  TokenExpired: 1501,
  TokenInvalid: 1502,
  TokenMalformed: 1503,
  TokenNotValidYet: 1504,
  TokenUnknown: 1505,
  TokenKicked: 1506,
  TokenNotExist: 1507,
  ConnOverMaxNumLimit: 1601,
  ConnArgs: 1602,
  PushMsg: 1603,
  IOSBackgroundPush: 1604,
} as const;

const messages: Record<number, string> = {
  0: "ok",
  500: "ServerInternalError",
  1001: "ArgsError",
  1002: "NoPermissionError",
  1003: "DuplicateKeyError",
  1004: "RecordNotFoundError",
  1501: "TokenExpiredError",
  1502: "TokenInvalidError",
  1503: "TokenMalformedError",
  1504: "TokenNotValidYetError",
  1505: "TokenUnknownError",
  1506: "TokenKickedError",
  1507: "TokenNotExistError",
  1601: "ConnOverMaxNumLimit",
  1602: "args err, need token, sendID, platformID",
  1603: "push msg err",
  1604: "ios background push err",
};

export class CodeError extends Error {
  constructor(
    readonly code: number,
    readonly msg: string,
    readonly detail = "",
  ) {
    super(detail ? `${msg}: ${detail}` : msg);
    this.name = "CodeError";
  }
}

/** A CodeError with OpenIM's standard msg for the code. */
export function codeError(code: number, detail = ""): CodeError {
  return new CodeError(code, messages[code] ?? "ServerInternalError", detail);
}

/** Any thrown value as OpenIM's triple: CodeErrors keep code and msg, anything else is 500 (§3.4). */
export function toCodeError(err: unknown): CodeError {
  if (err instanceof CodeError) return err;
  return new CodeError(500, "ServerInternalError", err instanceof Error ? err.message : String(err));
}
