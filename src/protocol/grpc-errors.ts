// OpenIM's gRPC error convention (§3.4): the gRPC status code IS the business code (e.g. 1501), with an
// ErrorInfo detail carrying the detail text. That only exists on the gRPC protocol; Connect and gRPC-web
// callers get a standard code with the business code in the `openim-errcode` header.
import { Code, ConnectError } from "@connectrpc/connect";
import { ErrorInfoSchema } from "../gen/openim/protobuf/errinfo_pb.js";
import { CodeError, ErrCode, toCodeError } from "./errors.js";

function standardCode(code: number): Code {
  if (code === ErrCode.Args) return Code.InvalidArgument;
  if (code === ErrCode.NoPermission) return Code.PermissionDenied;
  if (code === ErrCode.RecordNotFound) return Code.NotFound;
  if (code >= 1501 && code <= 1507) return Code.Unauthenticated;
  return Code.Unknown;
}

export function toConnectError(err: unknown, grpc: boolean): ConnectError {
  if (err instanceof ConnectError) return err;
  const ce: CodeError = toCodeError(err);
  const code = grpc ? (ce.code as Code) : standardCode(ce.code);
  // gRPC keeps OpenIM's split (msg in the status, detail in ErrorInfo); a Connect body is read by people, so it says both.
  const message = grpc || !ce.detail ? ce.msg : `${ce.msg}: ${ce.detail}`;
  const e = new ConnectError(message, code, grpc ? undefined : { "openim-errcode": String(ce.code) });
  e.details = [{ desc: ErrorInfoSchema, value: { cause: ce.detail } }];
  return e;
}

/** The business code of an error received from an OpenIM-convention gRPC server. */
export function openimCodeOf(err: ConnectError): number {
  const raw = err.metadata.get("grpc-status") ?? err.metadata.get("openim-errcode");
  const n = raw ? Number(raw) : err.code;
  return Number.isInteger(n) ? n : ErrCode.ServerInternal;
}

