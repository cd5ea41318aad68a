// operationIDs for calls the gateway makes on its own (status writes, status lookups, webhooks), not on behalf of a
// client request. One counter for the whole process: OpenIM's services and app servers log and trace by
// operationID, so two calls must never share one (two modules with counters of their own both started at p_<pid>_1).
let seq = 0;

export function nextOperationID(): string {
  return `p_${process.pid}_${++seq}`;
}
