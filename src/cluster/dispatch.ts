// What a push, kick or status query entering this node does: on a single node, act locally; in a cluster,
// act locally and forward to exactly the nodes that hold the target users (targeted, not broadcast), then
// merge the answers so every node gives the same result.
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { type MsgData, MsgDataSchema } from "../gen/openim/sdkws/sdkws_pb.js";
import type { Pusher, UserPushResult } from "../gateway/push.js";
import type { Logger } from "../observe/log.js";
import { platformName } from "../protocol/constants.js";
import type { Conn } from "../sessions/conn.js";
import type { Registry } from "../sessions/registry.js";
import type { Sessions } from "../sessions/sessions.js";
import type { Bus, Received } from "./bus.js";
import type { RouteTable } from "./routes.js";

export interface ConnDetail {
  platformID: number;
  connID: string;
  isBackground: boolean;
  token: string;
}

export interface Dispatch {
  pushToUsers(msg: MsgData, userIDs: string[], operationID: string): Promise<UserPushResult[]>;
  /** A stored message to its users' devices wherever they are, with nobody waiting for per-device results. */
  deliver(msg: MsgData, userIDs: string[], operationID: string): Promise<void>;
  kickUser(userID: string, platformID: number, reason: "hub" | "admin"): Promise<number>;
  onlineStatus(userIDs: string[]): Promise<Map<string, ConnDetail[]>>;
  /** A login registered here: other nodes holding the user apply the multi-login policy to it. */
  announceLogin(conn: Conn): void;
}

function localDetails(registry: Registry, userIDs: string[]): Map<string, ConnDetail[]> {
  const out = new Map<string, ConnDetail[]>();
  for (const u of userIDs) {
    const conns = registry.userConns(u);
    if (conns) out.set(u, [...conns].map((c) => ({ platformID: c.platformID, connID: c.connID, isBackground: c.isBackground, token: c.token })));
  }
  return out;
}

export function localDispatch(opts: { registry: Registry; pusher: Pusher; sessions: Sessions }): Dispatch {
  return {
    async pushToUsers(msg, userIDs, op) {
      return opts.pusher.pushToUsers(msg, userIDs, op);
    },
    async deliver(msg, userIDs, op) {
      await opts.pusher.pushToUsers(msg, userIDs, op);
    },
    async kickUser(userID, platformID, reason) {
      return opts.sessions.kickUser(userID, platformID, reason);
    },
    async onlineStatus(userIDs) {
      return localDetails(opts.registry, userIDs);
    },
    announceLogin() {},
  };
}

/** Handles the bus messages other nodes send this one. */
export function busHandler(opts: { registry: Registry; pusher: Pusher; sessions: Sessions }) {
  return (m: Received): unknown => {
    switch (m.t) {
      case "push":
        return opts.pusher.pushToUsers(fromBinary(MsgDataSchema, m.msg), m.users, m.op);
      case "kick":
        return opts.sessions.kickUser(m.userID, m.platformID, "peer");
      case "login":
        return opts.sessions.applyRemoteLogin(m.userID, m.platformID, m.token, {
          operationID: m.op, opUserID: m.userID, platform: platformName(m.platformID), connID: "",
        });
      case "status":
        return [...localDetails(opts.registry, m.userIDs)];
    }
  };
}

export function clusterDispatch(opts: {
  nodeID: string;
  registry: Registry;
  pusher: Pusher;
  sessions: Sessions;
  routes: RouteTable;
  bus: Bus;
  timeoutMs: number;
  log: Logger;
  counters: { crossNodeFailures: number };
}): Dispatch {
  const { nodeID, routes, bus, log } = opts;
  const local = localDispatch(opts);

  /** Other nodes holding each user; empty when Redis cannot be asked (local-only, counted). */
  async function remoteNodes(userIDs: string[]): Promise<Map<string, string[]>> {
    try {
      const r = await routes.lookup(userIDs);
      return new Map([...r].map(([u, rs]) => [u, rs.map((x) => x.nodeID).filter((n) => n !== nodeID)]));
    } catch (err) {
      failed("route lookup (acting on local connections only)")(err);
      return new Map();
    }
  }

  /** Per other node, the positions in userIDs (duplicates kept) of the users it holds. */
  async function positionsByNode(userIDs: string[]): Promise<Map<string, number[]>> {
    const where = await remoteNodes(userIDs);
    const perNode = new Map<string, number[]>();
    userIDs.forEach((u, i) => {
      for (const n of where.get(u) ?? []) {
        let list = perNode.get(n);
        if (!list) perNode.set(n, (list = []));
        list.push(i);
      }
    });
    return perNode;
  }
  const encode = (msg: MsgData) => toBinary(MsgDataSchema, create(MsgDataSchema, msg));
  /** Every cross-node failure is counted and logged the same way; the caller carries on with what it has. */
  const failed = (what: string, node?: string) => (err: unknown) => {
    opts.counters.crossNodeFailures++;
    log.warn(`cross-node ${what} failed`, { node, err });
  };

  return {
    async pushToUsers(msg, userIDs, op) {
      const [results, perNode] = await Promise.all([opts.pusher.pushToUsers(msg, userIDs, op), positionsByNode(userIDs)]);
      if (perNode.size === 0) return results;
      const encoded = encode(msg);
      await Promise.all([...perNode].map(async ([n, positions]) => {
        try {
          const remote = await bus.request(n, { t: "push", msg: encoded, users: positions.map((i) => userIDs[i]!), op }, opts.timeoutMs);
          positions.forEach((pos, k) => {
            const r = remote[k];
            if (!r) return;
            results[pos]!.resp.push(...r.resp);
            results[pos]!.onlinePush ||= r.onlinePush;
          });
        } catch (err) {
          failed("push", n)(err);
        }
      }));
      return results;
    },
    async deliver(msg, userIDs, op) {
      const [, perNode] = await Promise.all([opts.pusher.pushToUsers(msg, userIDs, op), positionsByNode(userIDs)]);
      if (perNode.size === 0) return;
      const encoded = encode(msg);
      // One-way: the other node pushes without answering (no reply publish, nothing waits on it). A publish
      // that fails is counted; the message is stored, so the recipient's next pull still gets it.
      await Promise.all([...perNode].map(([n, positions]) =>
        bus.send(n, { t: "push", msg: encoded, users: positions.map((i) => userIDs[i]!), op }).catch(failed("delivery", n))));
    },
    async kickUser(userID, platformID, reason) {
      let n = await local.kickUser(userID, platformID, reason);
      for (const other of (await remoteNodes([userID])).get(userID) ?? []) {
        try {
          n += await bus.request(other, { t: "kick", userID, platformID }, opts.timeoutMs);
        } catch (err) {
          failed("kick", other)(err);
        }
      }
      return n;
    },
    async onlineStatus(userIDs) {
      const out = await local.onlineStatus(userIDs);
      const where = await remoteNodes(userIDs);
      const nodes = new Set([...where.values()].flat());
      await Promise.all([...nodes].map(async (n) => {
        try {
          const rows = await bus.request(n, { t: "status", userIDs: userIDs.filter((u) => where.get(u)?.includes(n)) }, opts.timeoutMs);
          for (const [u, d] of rows) out.set(u, [...(out.get(u) ?? []), ...d]);
        } catch (err) {
          failed("status", n)(err);
        }
      }));
      return out;
    },
    announceLogin(conn) {
      // Never awaited by the registration: a slow or dead peer cannot stall logins here (§9.2.3).
      void remoteNodes([conn.userID]).then((where) => {
        for (const n of where.get(conn.userID) ?? [])
          bus.send(n, { t: "login", userID: conn.userID, platformID: conn.platformID, token: conn.token, op: conn.operationID }).catch(failed("login notice", n));
      });
    },
  };
}

/**
 * The openim shape's peers: other gateway nodes found in etcd. A login registered here is announced to each
 * with OpenIM's own MultiTerminalLoginCheck (at most 3 calls at a time, errors only logged), after the
 * registration and never inside it (the reference waits for every peer in its event loop, §9.2.3).
 */
export function openimPeerAnnounce(opts: {
  peers: () => string[];
  self: () => string;
  timeoutMs: number;
  log: Logger;
  check: (peer: string, req: { userID: string; platformID: number; token: string }, operationID: string) => Promise<unknown>;
}): (conn: Conn) => void {
  return (conn) => {
    const targets = opts.peers().filter((p) => p !== opts.self());
    let i = 0;
    const lane = async () => {
      while (i < targets.length) {
        const peer = targets[i++]!;
        await opts.check(peer, { userID: conn.userID, platformID: conn.platformID, token: conn.token }, conn.operationID)
          .catch((err) => opts.log.warn("MultiTerminalLoginCheck to a peer failed", { peer, err, operationID: conn.operationID }));
      }
    };
    void Promise.all([lane(), lane(), lane()]);
  };
}
