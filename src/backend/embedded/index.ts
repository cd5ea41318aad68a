// The embedded shape: OpenIM's auth, msg, push and user services as in-process adapters over one SQLite
// file, so `imgate serve` alone is a working IM core. Sends commit on the event loop (writer.ts: short
// transactions that never wait for the lock there); everything else is the store worker's, a thread with its
// own connection, so a lock wait, a long transaction or a large read never stalls sockets.
import { join } from "node:path";
import { type BeforeSend, type ReadLimits, createMessageService } from "../conversations.js";
import type { Backend } from "../ports.js";
import type { Logger } from "../../observe/log.js";
import { startCheckpointer } from "./checkpointer.js";
import { RemoteStore, remoteDirectory, remoteTokenStates } from "./remote-store.js";
import { type StoreClient, startStoreClient } from "./store-client.js";
import { type SendWriter, openSendWriter } from "./writer.js";
import { embeddedTokenAuth } from "./known-tokens.js";
import { storedDeliveries } from "../deliveries.js";

export interface EmbeddedBackend extends Backend {
  store: RemoteStore;
  storeClient: StoreClient;
  /** The event loop's store, which commits the sends. */
  writer: SendWriter;
}

export async function createEmbeddedBackend(opts: {
  dataDir: string;
  secret: string;
  adminUserIDs: string[];
  retention?: { maxAgeMs: number; maxPerConversation: number; everyMs?: number };
  /** Store calls in flight beyond which new ones fail at once with 500. */
  maxQueue?: number;
  log?: Logger;
  beforeSend?: BeforeSend;
  readLimits?: () => ReadLimits;
}): Promise<EmbeddedBackend> {
  const client = await startStoreClient({ dataDir: opts.dataDir, maxQueue: opts.maxQueue ?? 10_000, log: opts.log });
  let writer: SendWriter | undefined;
  try {
    // After the store thread opened the file (created, migrated).
    writer = openSendWriter(opts.dataDir, { maxPending: opts.maxQueue ?? 10_000 });
    return await afterStoreStarted(client, writer, opts);
  } catch (e) {
    // The caller records the backend only once this returns: a later step that fails must not leave the thread.
    writer?.close();
    await client.close();
    throw e;
  }
}

async function afterStoreStarted(client: StoreClient, writer: SendWriter, opts: Parameters<typeof createEmbeddedBackend>[0]): Promise<EmbeddedBackend> {
  const store = new RemoteStore(client, writer.store);
  const tokenAuth = embeddedTokenAuth(remoteTokenStates(client, (token) => writer.tokenState(token)), opts.secret);
  const checkpointer = startCheckpointer(join(opts.dataDir, "imgate.db"), 500, (err) => opts.log?.warn("WAL checkpoint failed", { err }));
  const r = opts.retention;
  const prune = () => r && store.prune(r.maxAgeMs, r.maxPerConversation).catch((err) => opts.log?.warn("retention prune failed", { err }));
  const pruner = r && (r.maxAgeMs > 0 || r.maxPerConversation > 0) ? setInterval(prune, r.everyMs ?? 3_600_000) : undefined;
  pruner?.unref();
  if (pruner) await prune();
  // States of expired tokens go hourly (and a user's own at each new login): no table grows with logins alone.
  const sweepTokens = () => client.call("sweepTokens", {}).catch((err) => opts.log?.warn("token state sweep failed", { err }));
  const tokenSweeper = setInterval(sweepTokens, r?.everyMs ?? 3_600_000);
  tokenSweeper.unref();
  await sweepTokens();
  const deliveries = storedDeliveries();
  const notReady = () => {
    const waited = writer.store.pending().lockWaitMs;
    // A send batch kept from the lock this long is close to failing (lockWaitMs, 5 s): another writer holds it.
    return client.notReady() ?? (waited > 1000 ? `sends waiting ${waited} ms for the database's write lock` : undefined);
  };
  store.onStored = deliveries.stored;

  return {
    store,
    directory: remoteDirectory(client),
    storeClient: client,
    writer,
    onStored: deliveries.onStored,
    auth: tokenAuth.auth,
    tokens: tokenAuth.tokens,
    messages: createMessageService(store, opts.adminUserIDs, opts.beforeSend, opts.readLimits),
    pushTokens: {
      // No offline push service in the embedded shape: nothing holds device push tokens.
      async delUserPushToken() {},
    },
    // The bound applies to each side: store-thread calls in flight, sends waiting for their commit.
    storeQueue: () => ({ depth: Math.max(client.stats().inFlight, writer.store.pending().waiting), limit: opts.maxQueue ?? 10_000 }),
    ready: () => notReady() === undefined,
    notReady,
    async close() {
      clearInterval(pruner);
      clearInterval(tokenSweeper);
      await checkpointer.close();
      writer.close();
      await client.close();
    },
  };
}
