// The embedded shape: OpenIM's auth, msg, push and user services as in-process adapters over one SQLite
// file, so `imgate serve` alone is a working IM core.
import type { Database } from "bun:sqlite";
import { createMessageService } from "../conversations.js";
import type { Backend, DeliveryPort } from "../ports.js";
import type { Logger } from "../../observe/log.js";
import { createEmbeddedAuth } from "./auth.js";
import { startCheckpointer } from "./checkpointer.js";
import { openDatabase } from "./db.js";
import { MessageStore } from "./store.js";

export interface EmbeddedBackend extends Backend {
  store: MessageStore;
  db: Database;
}

export function createEmbeddedBackend(opts: {
  dataDir: string;
  secret: string;
  adminUserIDs: string[];
  delivery: () => DeliveryPort | undefined;
  retention?: { maxAgeMs: number; maxPerConversation: number; everyMs?: number };
  log?: Logger;
}): EmbeddedBackend {
  const db = openDatabase(opts.dataDir);
  const store = new MessageStore(db);
  const checkpointer = startCheckpointer(db.filename, 500, (err) => opts.log?.warn("WAL checkpoint failed", { err }));
  const r = opts.retention;
  const pruner = r && (r.maxAgeMs > 0 || r.maxPerConversation > 0)
    ? setInterval(() => store.prune(r.maxAgeMs, r.maxPerConversation), r.everyMs ?? 3_600_000)
    : undefined;
  pruner?.unref();
  if (r && pruner) store.prune(r.maxAgeMs, r.maxPerConversation);
  store.onCommitted = (results) => {
    const d = opts.delivery();
    if (!d) return;
    for (const r of results) if (!r.duplicate) d.deliver(r.msg, r.recipients, r.operationID);
  };

  return {
    store,
    db,
    auth: createEmbeddedAuth(db, opts.secret),
    messages: createMessageService(store, opts.adminUserIDs),
    pushTokens: {
      // No offline push service in the embedded shape: nothing holds device push tokens.
      async delUserPushToken() {},
    },
    ready: () => true,
    async close() {
      clearInterval(pruner);
      store.flush();
      await checkpointer.close();
      db.close();
    },
  };
}
