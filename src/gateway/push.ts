// Server pushes. A 2001 is encoded once per codec variant in use and written to each of the target users'
// connections on this node, found in the registry: a small push through outbound.queue (one corked write per socket
// per event-loop turn), a large one's slices through outbound.write (at once, so its slice's clock counts the writes).
// 0 only for an open socket under its slow-consumer limit; one that passes the limit is closed as slow. (Per-user
// pub/sub topics did the same batching natively but cost a native topic, ~0.5 KB, per online user.)
import { create, toBinary } from "@bufbuild/protobuf";
import { type MsgData, PullMsgsSchema, PushMessagesSchema } from "../gen/openim/sdkws/sdkws_pb.js";
import { conversationIDOf, isNotificationConversation } from "../protocol/conversation.js";
import { Platform, Req, isPushTerminal } from "../protocol/constants.js";
import { ErrCode } from "../protocol/errors.js";
import { type Counters, bump } from "../observe/stats.js";
import type { Conn } from "../sessions/conn.js";
import type { Registry } from "../sessions/registry.js";
import { type Variant, resp } from "./codec/envelope.js";
import type { Outbound } from "./outbound.js";

export interface PlatformResult {
  resultCode: number;
  recvPlatformID: number;
}

export interface UserPushResult {
  userID: string;
  resp: PlatformResult[];
  onlinePush: boolean;
}

/** The 2001 payload: PushMessages with one entry under the §3.2 conversationID. */
export function pushMessagesPayload(msg: MsgData): Uint8Array {
  const conversationID = conversationIDOf(msg);
  const entry = create(PullMsgsSchema, { Msgs: [msg], isEnd: false, endSeq: 0n });
  const pm = create(PushMessagesSchema);
  (isNotificationConversation(conversationID) ? pm.notificationMsgs : pm.msgs)[conversationID] = entry;
  return toBinary(PushMessagesSchema, pm);
}

/** Users handled per event-loop turn by large pushes, all of them together, at most (ws.pushSliceUsers). */
const PUSH_SLICE = 256;
/** Milliseconds of a turn large pushes may take, all together, writes included (ws.pushSliceMs). */
const PUSH_SLICE_MS = 1;
/** Users written between two looks at the clock; a push this small is written whole in its call's turn. */
const CHUNK = 32;

interface Job {
  frame: (v: Variant) => Uint8Array;
  userIDs: readonly string[];
  next: number;
  results: UserPushResult[];
  done: () => void;
  fail: (e: unknown) => void;
}

export function createPusher(opts: {
  registry: Registry; outbound: Outbound; counters: Counters; observeFanout?: (users: number) => void;
  slice?: () => number; sliceMs?: () => number;
}) {
  const { registry, outbound, counters } = opts;
  const sliceOf = opts.slice ?? (() => PUSH_SLICE);
  const sliceMsOf = opts.sliceMs ?? (() => PUSH_SLICE_MS);
  const queueForTurn = (c: Conn, f: Uint8Array) => outbound.queue(c, f);
  const writeNow = (c: Conn, f: Uint8Array) => outbound.write(c, f);
  /** Large pushes with users left, served in turn. */
  const jobs: Job[] = [];
  let pumping = false;

  /**
   * Writes a chunk at a time, at once (not at the end of the turn) so the clock sees what the writes cost, until
   * the job is done, `budget` users are handled or `deadline` passes. Returns the users handled.
   */
  const advance = (job: Pick<Job, "frame" | "userIDs" | "next" | "results">, budget: number, deadline: number): number => {
    const from = job.next;
    while (job.next < job.userIDs.length && budget > job.next - from) {
      const to = Math.min(job.userIDs.length, job.next + CHUNK, from + budget);
      pushSlice(job.frame, job.userIDs, job.next, to, job.results, writeNow);
      job.next = to;
      if (performance.now() >= deadline) break;
    }
    return job.next - from;
  };

  /** One event-loop turn's share, `slice` users and `sliceMs` in all, taken from the waiting pushes in turn. */
  const pump = () => {
    let budget = sliceOf();
    const deadline = performance.now() + sliceMsOf();
    while (budget > 0 && jobs.length > 0 && performance.now() < deadline) {
      const job = jobs.shift()!;
      try {
        // One chunk, then the next push's: concurrent pushes share the turn rather than queue behind each other.
        budget -= advance(job, Math.min(budget, CHUNK), deadline);
      } catch (e) {
        job.fail(e);
        continue;
      }
      if (job.next < job.userIDs.length) jobs.push(job);
      else job.done();
    }
    pumping = jobs.length > 0;
    if (pumping) setImmediate(pump);
  };

  /**
   * Pushes one message to users, in request order, duplicates included (§5.3). A small push is queued whole in
   * this turn (written with the turn's other frames, one write per socket). A large one starts in this turn and
   * goes on in later turns, sharing one budget (ws.pushSliceUsers users and ws.pushSliceMs) with the other large
   * pushes, so however many run at once the loop is never held for more than a slice of them. The frame is encoded
   * once for all slices.
   */
  async function pushToUsers(msg: MsgData, userIDs: readonly string[], operationID: string): Promise<UserPushResult[]> {
    opts.observeFanout?.(userIDs.length);
    const frame = outbound.encodeOnce(resp(Req.PushMsg, { operationID, data: pushMessagesPayload(msg) }));
    const results: UserPushResult[] = [];
    if (userIDs.length <= CHUNK) {
      pushSlice(frame, userIDs, 0, userIDs.length, results, queueForTurn);
      return results;
    }
    const job = { frame, userIDs, next: 0, results };
    advance(job, sliceOf(), performance.now() + sliceMsOf());
    if (job.next === userIDs.length) return results;
    await new Promise<void>((done, fail) => {
      jobs.push({ ...job, done, fail });
      if (!pumping) {
        pumping = true;
        setImmediate(pump);
      }
    });
    return results;
  }

  function pushSlice(
    frame: (v: Variant) => Uint8Array, userIDs: readonly string[], from: number, to: number, results: UserPushResult[],
    send: (c: Conn, f: Uint8Array) => boolean,
  ) {
    for (let k = from; k < to; k++) {
      const userID = userIDs[k]!;
      const conns = registry.userConns(userID);
      const r: UserPushResult = { userID, resp: [], onlinePush: false };
      results.push(r);
      if (!conns) continue;
      // A copy when there are several: closing a slow socket may remove it from the list as we walk it.
      for (const c of conns.length === 1 ? conns : [...conns]) {
        let code: number;
        if (c.platformID === Platform.IOS && c.isBackground) code = ErrCode.IOSBackgroundPush;
        else if (send(c, frame(c.variant))) {
          code = 0;
          if (isPushTerminal(c.platformID)) r.onlinePush = true;
        } else code = ErrCode.PushMsg;
        bump(counters.pushes, code);
        r.resp.push({ resultCode: code, recvPlatformID: c.platformID });
      }
    }
  }

  return { pushToUsers };
}

export type Pusher = ReturnType<typeof createPusher>;
