// Who is connected where on this node. The single owner of that state: every change goes through
// add/remove, both synchronous, so the order of events for one connection can never be inverted and
// the counters are derived from the maps (exact by construction).
import type { Conn } from "./conn.js";

export interface UserPlatformsChange {
  userID: string;
  /** Platforms the user is online on now (one per connection, sorted, may repeat). */
  online: number[];
  /** Platforms that lost a connection in this change. */
  offline: number[];
}

export class Registry {
  // A user's connections as a small array, not a Set: nearly every user has one or two, and at 100k users
  // a Set's hash table costs ~250 bytes each where an array of one costs ~40.
  private readonly users = new Map<string, Conn[]>();
  private readonly byId = new Map<number, Conn>();
  private readonly platformConns = new Array<number>(12).fill(0);

  private readonly listeners: ((c: UserPlatformsChange, conn: Conn) => void)[] = [];

  /** Called on every add and remove, in order (presence, the cluster's route table). */
  onChange(listener: (c: UserPlatformsChange, conn: Conn) => void): void {
    this.listeners.push(listener);
  }

  private changed(c: UserPlatformsChange, conn: Conn): void {
    for (const l of this.listeners) l(c, conn);
  }

  get connections(): number {
    return this.byId.size;
  }
  get userCount(): number {
    return this.users.size;
  }
  perPlatform(): number[] {
    return this.platformConns.slice();
  }

  add(conn: Conn): void {
    if (this.byId.has(conn.id)) return;
    this.byId.set(conn.id, conn);
    let set = this.users.get(conn.userID);
    if (!set) this.users.set(conn.userID, (set = []));
    set.push(conn);
    this.platformConns[conn.platformID]!++;
    this.changed({ userID: conn.userID, online: platformsOf(set), offline: [] }, conn);
  }

  /** Removes the connection if present; returns false when it was already gone (kicked earlier). */
  remove(conn: Conn): boolean {
    if (!this.byId.delete(conn.id)) return false;
    const set = this.users.get(conn.userID)!;
    set.splice(set.indexOf(conn), 1);
    if (set.length === 0) this.users.delete(conn.userID);
    this.platformConns[conn.platformID]!--;
    this.changed({ userID: conn.userID, online: platformsOf(set), offline: [conn.platformID] }, conn);
    return true;
  }

  has(conn: Conn): boolean {
    return this.byId.has(conn.id);
  }

  get(id: number): Conn | undefined {
    return this.byId.get(id);
  }

  userConns(userID: string): readonly Conn[] | undefined {
    return this.users.get(userID);
  }

  onlinePlatforms(userID: string): number[] {
    const set = this.users.get(userID);
    return set ? [...new Set(platformsOf(set))] : [];
  }

  allConns(): IterableIterator<Conn> {
    return this.byId.values();
  }

  userIDs(): IterableIterator<string> {
    return this.users.keys();
  }
}

function platformsOf(set: readonly Conn[]): number[] {
  const out: number[] = [];
  for (const c of set) out.push(c.platformID);
  return out.sort((a, b) => a - b);
}
