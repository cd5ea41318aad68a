// Per-call context the hub's interceptor fills from OpenIM's gRPC metadata (§3.4, §5.1).
import { type HandlerContext, createContextKey } from "@connectrpc/connect";

export interface Caller {
  operationID: string;
  opUserID: string;
  admin: boolean;
}

export const callerKey = createContextKey<Caller>({ operationID: "", opUserID: "", admin: false });

export function callerOf(ctx: HandlerContext): Caller {
  return ctx.values.get(callerKey);
}

/** Where a hub call came from, taken from the socket before Connect sees the request. */
export interface Peer {
  address: string;
  host: string | undefined;
}

export const peerKey = createContextKey<Peer>({ address: "", host: undefined });
