// Whose online status each user asked to follow through the API (the JS SDK's subscribe_users_status), so that
// get_subscribe_users_status can answer. Changes reach clients over the socket (2005 pushes, sessions/), not here.
// Bounded: users kept, and users one user may follow.
export const MAX_SUBSCRIBERS = 100_000;
export const MAX_FOLLOWED = 1000;

export function createStatusSubscriptions(limits = { subscribers: MAX_SUBSCRIBERS, followed: MAX_FOLLOWED }) {
  const follows = new Map<string, Set<string>>();
  return {
    subscribe(userID: string, targets: string[]): void {
      let set = follows.get(userID);
      if (!set) {
        // The oldest subscriber goes first when the table is full (its list is lost, not anyone's status).
        if (follows.size >= limits.subscribers) follows.delete(follows.keys().next().value!);
        follows.set(userID, (set = new Set()));
      }
      for (const t of targets) {
        if (set.size >= limits.followed) break;
        set.add(t);
      }
    },
    unsubscribe(userID: string, targets: string[]): void {
      const set = follows.get(userID);
      if (!set) return;
      for (const t of targets) set.delete(t);
      if (set.size === 0) follows.delete(userID);
    },
    of: (userID: string): string[] => [...(follows.get(userID) ?? [])],
    get size() {
      return follows.size;
    },
  };
}
export type StatusSubscriptions = ReturnType<typeof createStatusSubscriptions>;
