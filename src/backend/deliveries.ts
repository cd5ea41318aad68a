// Stored messages on their way to the node's delivery (the embedded and cluster shapes are their own push service).
// A send's result is handed over in its reply's continuation and delivered in the next macrotask, so the sender's
// reply leaves before its own echo; the sends of one turn are delivered together.
import type { Deliver, SendResult } from "./ports.js";

export function storedDeliveries() {
  const listeners: Deliver[] = [];
  let batch: SendResult[] = [];
  const flush = () => {
    const done = batch;
    batch = [];
    for (const r of done) if (!r.duplicate) for (const d of listeners) d(r.msg, r.recipients, r.operationID);
  };
  return {
    /** Backend.onStored. */
    onStored: (d: Deliver) => void listeners.push(d),
    /** A newly stored message (a duplicate is ignored): delivered after this turn's replies. */
    stored(r: SendResult) {
      if (batch.push(r) === 1) setImmediate(flush);
    },
  };
}
