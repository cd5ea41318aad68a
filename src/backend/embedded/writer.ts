// The event loop's writer: sends commit here, on a connection of the event loop's own, not on the store thread.
// A commit of one tick's sends costs ~25–50 µs a send; the hop to the store thread and back (a postMessage and a
// thread woken each way) cost more than that: 335 → 205 µs of server CPU a message at 2,000/s (docs/design.md).
// It never blocks the event loop on SQLite's lock: busy_timeout is 0 here, and a batch that finds the lock held
// (the store thread writing, a RESTART checkpoint, another process) waits on a timer instead (MessageStore.commitSoon).
import { openDatabase } from "./db.js";
import { MessageStore } from "./store.js";

export interface SendWriter {
  store: MessageStore;
  /** Commits what still waits (sleeping while the lock is held elsewhere, up to lockWaitMs) and closes the connection. */
  close(): void;
}

/** Opens after the store thread: the file exists, migrated, in WAL mode. */
export function openSendWriter(dataDir: string, opts: { maxPending: number; lockWaitMs?: number }): SendWriter {
  const db = openDatabase(dataDir);
  db.exec("PRAGMA busy_timeout = 0");
  const store = new MessageStore(db, { maxPending: opts.maxPending, lockWaitMs: opts.lockWaitMs });
  return {
    store,
    close() {
      try {
        store.flush();
      } finally {
        db.close();
      }
    },
  };
}
