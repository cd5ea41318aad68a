// imgate.admin.v1.Admin: the operator API behind `imgate kick|stats|online|group`.
import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  Admin, ConnectionSchema, DrainResponseSchema, GetGroupResponseSchema, KickResponseSchema, ListGroupsResponseSchema,
  OnlineResponseSchema, ReloadResponseSchema, SetGroupResponseSchema, SetHasReadSeqResponseSchema, StatsResponseSchema,
} from "../gen/imgate/admin/v1/admin_pb.js";
import { ALL_PLATFORMS, platformName } from "../protocol/constants.js";
import { ErrCode, codeError } from "../protocol/errors.js";
import { sum } from "../observe/stats.js";
import type { Conn } from "../sessions/conn.js";
import type { HubDeps } from "./deps.js";
import { VERSION } from "../version.js";
import { ConfigError } from "../config/errors.js";

function connOf(c: Conn) {
  return create(ConnectionSchema, {
    userID: c.userID, platformID: c.platformID, platform: platformName(c.platformID), connID: c.connID, codec: c.codec,
    compressed: c.gzip, isBackground: c.isBackground, connectedAtMs: BigInt(c.connectedAt), remoteAddr: c.remoteAddr,
    sdkVersion: c.sdkVersion,
  });
}

export function adminService(node: HubDeps): ServiceImpl<typeof Admin> {
  const store = () => {
    const s = node.backend.store;
    if (!s) throw codeError(ErrCode.Args, "groups are managed by imgate's own backend (embedded or cluster shape) only");
    return s;
  };
  return {
    async stats() {
      const per = node.registry.perPlatform();
      const c = node.counters;
      return create(StatsResponseSchema, {
        version: VERSION,
        nodeID: node.nodeID,
        shape: node.config.shape,
        uptimeSeconds: BigInt(Math.floor((Date.now() - node.startedAt) / 1000)),
        connections: BigInt(node.registry.connections),
        users: BigInt(node.registry.userCount),
        platforms: ALL_PLATFORMS.map((p) => ({ platformID: p, platform: platformName(p), connections: BigInt(per[p] ?? 0) })),
        messagesIn: BigInt(c.messagesIn),
        messagesOut: BigInt(c.messagesOut),
        handshakes: BigInt(c.handshakes),
        handshakeFailures: BigInt(sum(c.handshakeFailures)),
        kicks: BigInt(sum(c.kicks)),
        slowConsumerCloses: BigInt(c.slowConsumerCloses),
        draining: node.draining,
      });
    },
    async online(req) {
      const limit = req.limit > 0 ? req.limit : 1000;
      const out = [];
      if (req.userIDs.length > 0) {
        for (const u of req.userIDs) for (const c of node.registry.userConns(u) ?? []) out.push(connOf(c));
      } else {
        for (const c of node.registry.allConns()) {
          if (out.length >= limit) break;
          out.push(connOf(c));
        }
      }
      return create(OnlineResponseSchema, { connections: out.slice(0, limit) });
    },
    async kick(req) {
      if (!req.userID) throw codeError(ErrCode.Args, "userID is empty");
      return create(KickResponseSchema, { kicked: await node.dispatch.kickUser(req.userID, req.platformID, "admin") });
    },
    async setGroup(req) {
      await store().setGroup(req.groupID, req.userIDs);
      return create(SetGroupResponseSchema);
    },
    async getGroup(req) {
      return create(GetGroupResponseSchema, { groupID: req.groupID, userIDs: await store().groupMembers(req.groupID) });
    },
    async listGroups() {
      return create(ListGroupsResponseSchema, { groups: await store().listGroups() });
    },
    async setHasReadSeq(req) {
      if (!req.userID || !req.conversationID) throw codeError(ErrCode.Args, "userID and conversationID are required");
      await store().setHasReadSeq(req.userID, req.conversationID, Number(req.hasReadSeq));
      return create(SetHasReadSeqResponseSchema);
    },
    async drain(req) {
      if (req.overSeconds < 0) throw codeError(ErrCode.Args, "overSeconds must be >= 0");
      const n = node.registry.connections;
      const overMs = (req.overSeconds || node.config.shutdown.drainSeconds) * 1000;
      void node.stop({ reason: "drain requested", overMs });
      return create(DrainResponseSchema, { closed: n });
    },
    async reload(req) {
      if (req.workers) {
        // A worker of `serve --workers N` asks its supervisor (SIGUSR2) to replace the workers one at a time.
        if (process.env.IMGATE_WORKER === undefined)
          throw codeError(ErrCode.Args, "this gateway runs without --workers: there are no workers to replace (reload without --workers applies the config live)");
        process.kill(process.ppid, "SIGUSR2");
        return create(ReloadResponseSchema, { workers: `rolling restart requested from the supervisor (pid ${process.ppid})` });
      }
      try {
        const r = await node.reload();
        // Under `serve --workers N` this call reached one worker (the ports are shared): the supervisor passes the
        // reload on to every worker (this one included, where it is then a no-op).
        if (process.env.IMGATE_WORKER !== undefined) process.kill(process.ppid, "SIGHUP");
        return create(ReloadResponseSchema, { changed: r.changed, needsRestart: r.needsRestart.map((k) => `${k.key}: ${k.why}`) });
      } catch (e) {
        if (e instanceof ConfigError) throw codeError(ErrCode.Args, `the new config is refused, the running one stays: ${e.message}`);
        throw e;
      }
    },
  };
}
