// The store worker: a thread with its own SQLite connection for everything but sends: the reads behind pulls and
// seqs, token states, the directory, group membership, retention. Their reads, lock waits and long transactions
// happen here, so none of them can stall the event loop that serves the sockets. Sends are committed by the
// event loop (writer.ts): they are short, and the hop here and back cost more than the commit (docs/design.md).
// Built into the single binary as a second entrypoint (build.ts); started by store-client.ts.
import { CodeError } from "../../protocol/errors.js";
import { tokenStatesOn } from "./auth.js";
import { openDatabase } from "./db.js";
import { MessageStore } from "./store.js";
import { type SqliteDirectory, createSqliteDirectory } from "./directory.js";
import type { Args, FromWorker, Result, StoreOp, StoreReply, StoreRequest, ToWorker } from "./store-protocol.js";

declare const self: Worker;

/** Every request but a token check-in, which is committed with the others waiting beside it (commitCheckIns). */
type HandledOp = Exclude<StoreOp, "checkInToken">;
type Handlers = { [K in HandledOp]: (a: Args<K>) => Result<K> | Promise<Result<K>> };

function handlersFor(store: MessageStore, tokens: ReturnType<typeof tokenStatesOn>, directory: SqliteDirectory): Handlers {
  return {
    maxSeqs({ userID }) {
      const { max, min } = store.maxSeqs(userID);
      return { max: [...max].map(([k, v]) => [k, Number(v)]), min: [...min].map(([k, v]) => [k, Number(v)]) };
    },
    bounds: ({ conversationID }) => store.bounds(conversationID),
    readRaw: ({ conversationID, seqs }) => store.readRaw(conversationID, seqs).map((d) => d ?? null),
    last: ({ conversationID }) => store.lastRaw(conversationID) ?? null,
    seqInfo: ({ userID, conversationID }) => store.seqInfo(userID, conversationID),
    userConversationIDs: ({ userID }) => store.userConversationIDs(userID),
    isMember: ({ userID, conversationID }) => store.isMember(userID, conversationID),
    memberConversations: ({ userID, conversationIDs }) => store.memberConversations(userID, conversationIDs),
    setHasReadSeq: ({ userID, conversationID, seq }) => (store.setHasReadSeq(userID, conversationID, seq), null),
    groupMembers: ({ groupID }) => store.groupMembers(groupID),
    // Through the directory, so the SDKs' incremental sync sees what the CLI and the hub change.
    setGroup: ({ groupID, userIDs }) => (directory.replaceMembers(groupID, userIDs), null),
    listGroups: () => store.listGroups(),
    prune: ({ maxAgeMs, maxPerConversation }) => store.prune(maxAgeMs, maxPerConversation),
    invalidateOthers: ({ preservedToken, userID, platformID }) => (tokens.invalidateOthers(preservedToken, userID, platformID), null),
    kickTokens: ({ tokens: list }) => (tokens.kick(list), null),
    kickAllTokens: ({ userID, platformID }) => (tokens.kickAll(userID, platformID), null),
    sweepTokens: () => tokens.sweepExpired(),
    cacheStats: () => ({ conversations: store.cachedConversations, memberships: store.cachedMemberships }),
    directory: ({ method, args }) => {
      if (!Object.hasOwn(directory, method) || method === ("replaceMembers" as string)) throw new Error(`no directory method ${method}`);
      return (directory[method] as (...a: unknown[]) => unknown)(...args);
    },
  };
}

let db: ReturnType<typeof openDatabase> | undefined;
let store: MessageStore | undefined;
let handlers: Handlers | undefined;
const outbox: StoreReply[] = [];
let posting = false;

const post = (m: FromWorker) => self.postMessage(m);

/** One postMessage for everything answered in this turn (a committed batch answers all its sends at once). */
function reply(r: StoreReply) {
  outbox.push(r);
  if (posting) return;
  posting = true;
  queueMicrotask(() => {
    posting = false;
    post({ replies: outbox.splice(0) });
  });
}

function fail(id: number, e: unknown) {
  if (e instanceof CodeError) reply({ id, ok: false, code: e.code, msg: e.msg, detail: e.detail });
  else reply({ id, ok: false, code: 500, msg: `store: ${(e as Error)?.message ?? String(e)}` });
}

// The token check-ins of a login storm that arrive together share one transaction (a commit each cost this thread
// ~36 µs a first login, together ~10). They wait in `checkIns` until the queue is drained, CHECK_INS_PER_COMMIT of
// them wait (the write lock is held ~2 ms at most), or another request comes up, which commits them before it runs:
// every request still sees the ones before it (a kick finds a token checked in just before it).
const CHECK_INS_PER_COMMIT = 256;
let checkIns: StoreRequest[] = [];
let tokens: ReturnType<typeof tokenStatesOn> | undefined;

function commitCheckIns() {
  if (checkIns.length === 0) return;
  const batch = checkIns;
  checkIns = [];
  try {
    const states = tokens!.checkInMany(batch.map((r) => r.args as Args<"checkInToken">));
    batch.forEach((r, i) => reply({ id: r.id, ok: true, value: states[i] ?? null }));
  } catch (e) {
    for (const r of batch) fail(r.id, e);
  }
}

function run(req: StoreRequest) {
  if (req.op === "checkInToken") {
    if (checkIns.push(req) >= CHECK_INS_PER_COMMIT) commitCheckIns();
    return;
  }
  commitCheckIns();
  try {
    const h = handlers![req.op as HandledOp] as (a: unknown) => unknown;
    const v = h(req.args);
    if (v instanceof Promise) v.then((value) => reply({ id: req.id, ok: true, value }), (e) => fail(req.id, e));
    else reply({ id: req.id, ok: true, value: v });
  } catch (e) {
    fail(req.id, e);
  }
}

// Fair turns: requests wait in one queue per lane (user), and the thread serves the lanes in turn, one request
// each, yielding every SLICE_MS so newly arrived requests (another user's send, a handshake's token check) join the
// round instead of waiting behind one user's backlog. A request cancelled before its turn is dropped unrun.
const SLICE_MS = 4;
const lanes = new Map<string, StoreRequest[]>();
const queued = new Set<number>();
let draining = false;

function enqueue(r: StoreRequest) {
  let q = lanes.get(r.lane);
  if (!q) lanes.set(r.lane, (q = []));
  q.push(r);
  queued.add(r.id);
}

function drain() {
  draining = false;
  const started = performance.now();
  while (lanes.size > 0) {
    for (const [lane, q] of lanes) {
      const r = q.shift()!;
      if (q.length === 0) lanes.delete(lane);
      else {
        // To the back of the round.
        lanes.delete(lane);
        lanes.set(lane, q);
      }
      if (!queued.delete(r.id)) continue;
      run(r);
      if (performance.now() - started > SLICE_MS && lanes.size > 0) {
        draining = true;
        setImmediate(drain);
        return;
      }
    }
  }
  commitCheckIns();
}

self.onmessage = (e: MessageEvent<ToWorker>) => {
  const m = e.data;
  if ("requests" in m) {
    for (const id of m.cancel ?? []) queued.delete(id);
    for (const r of m.requests) enqueue(r);
    if (!draining) drain();
  } else if ("open" in m) {
    try {
      db = openDatabase(m.open.dataDir);
      // The event loop commits the sends (writer.ts): seq state here is read from disk.
      store = new MessageStore(db, { readsFromDisk: true });
      const s = store;
      tokens = tokenStatesOn(db);
      handlers = handlersFor(s, tokens, createSqliteDirectory(db, (groupID, userIDs) => s.setGroup(groupID, userIDs)));
      post({ opened: true });
    } catch (err) {
      post({ fatal: (err as Error)?.message ?? String(err) });
    }
  } else if ("close" in m) {
    try {
      commitCheckIns();
      db?.close();
    } finally {
      // After the replies of the last batch (posted from microtasks).
      setImmediate(() => post({ closed: true }));
    }
  }
};
