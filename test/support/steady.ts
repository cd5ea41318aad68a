// A client that stays: reconnects when its connection closes (as the SDKs do), and sends 1:1 messages at a steady
// rate, remembering which were acknowledged (a 1003 reply with errCode 0) and how long it was away.
import { signToken } from "../../src/backend/embedded/jwt.js";
import { type TestClient, connect } from "./client.js";
import { textMsg } from "./pb.js";

export interface SteadyClient {
  userID: string;
  /** clientMsgIDs whose 1003 was answered with errCode 0. */
  acked: string[];
  /** Each time away: from the close to the next successful handshake, in ms. */
  gaps: number[];
  closeCodes: number[];
  stop(): Promise<void>;
}

export function steadyClient(opts: { port: number; secret: string; userID: string; to: string; everyMs: number }): SteadyClient {
  const token = signToken(opts.secret, opts.userID, 5, 3600);
  const s: SteadyClient = { userID: opts.userID, acked: [], gaps: [], closeCodes: [], stop: async () => {} };
  let current: TestClient | undefined;
  let running = true;
  let n = 0;
  const connectLoop = async (since?: number) => {
    while (running) {
      try {
        current = await connect({ port: opts.port, userID: opts.userID, platformID: 5, token, sdkType: "js" });
        if (since !== undefined) s.gaps.push(Date.now() - since);
        const c = current;
        void c.closed.then((r) => {
          if (!running) return; // our own close at the end
          s.closeCodes.push(r.code);
          if (current === c) {
            current = undefined;
            void connectLoop(Date.now());
          }
        });
        return;
      } catch {
        await Bun.sleep(50);
      }
    }
  };
  const sending = (async () => {
    await connectLoop();
    while (running) {
      const c = current;
      if (c) {
        const id = `${opts.userID}-${++n}`;
        try {
          c.request(1003, textMsg(opts.userID, opts.to, `m${n}`, { clientMsgID: id })).then(
            (r) => void (r.errCode === 0 && s.acked.push(id)),
            () => {}, // no reply (the socket closed first): not acknowledged, so not counted
          );
        } catch {}
      }
      await Bun.sleep(opts.everyMs);
    }
  })();
  s.stop = async () => {
    running = false;
    await sending;
    await Bun.sleep(300); // replies still on the way
    current?.close();
  };
  return s;
}
