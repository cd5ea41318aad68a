// The event loop's own SQLite connection: it commits the sends, and reads the state of tokens it has seen, so
// neither needs the store thread. A commit of one tick's sends costs ~25–50 µs a send; the hop to the store thread
// and back (a postMessage and a thread woken each way) cost more than that: 335 → 205 µs of server CPU a message at
// 2,000/s (docs/design.md). It never blocks the event loop on SQLite's lock: busy_timeout is 0 here, and a batch that
// finds the lock held (the store thread writing, a RESTART checkpoint, another process) waits on a timer instead
// (MessageStore.commitSoon).
import { tokenHash } from "../token-hash.js";
import { tokenStateReader } from "./auth.js";
import { openDatabase } from "./db.js";
import { MessageStore } from "./store.js";

export interface SendWriter {
  store: MessageStore;
  /** A token's recorded state, read on this connection (a read never waits for the lock in WAL mode); undefined
   *  when it has none yet, or the read failed: the store thread then checks it in. */
  tokenState(token: string): number | undefined;
  /** Commits what still waits (sleeping while the lock is held elsewhere, up to lockWaitMs) and closes the connection. */
  close(): void;
}

/** Opens after the store thread: the file exists, migrated, in WAL mode. */
export function openSendWriter(dataDir: string, opts: { maxPending: number; lockWaitMs?: number }): SendWriter {
  const db = openDatabase(dataDir);
  db.exec("PRAGMA busy_timeout = 0");
  const store = new MessageStore(db, { maxPending: opts.maxPending, lockWaitMs: opts.lockWaitMs });
  const stateOf = tokenStateReader(db);
  return {
    store,
    tokenState(token) {
      try {
        return stateOf(tokenHash(token));
      } catch {
        return undefined;
      }
    },
    close() {
      try {
        store.flush();
      } finally {
        db.close();
      }
    },
  };
}
