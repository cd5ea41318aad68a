// The multi-login decision (§4.4) for every policy × platform pair, stated as the spec's table states it.
import { describe, expect, test } from "bun:test";
import { decideLogin } from "../src/sessions/policy.js";
import { platformClass } from "../src/protocol/constants.js";

const platforms = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
const conn = (platformID: number, token = `t${platformID}`) => ({ platformID, token });

describe("policy × platform matrix (existing E, incoming N, different tokens)", () => {
  const rules: Record<number, (e: number, n: number) => boolean> = {
    0: () => false,
    1: (e, n) => e === n,
    4: (e, n) => platformClass(e) === platformClass(n),
    5: (e, n) => platformClass(n) !== "PC" && platformClass(e) !== "PC",
  };
  for (const [policy, kicks] of Object.entries(rules)) {
    test(`policy ${policy}`, () => {
      for (const e of platforms)
        for (const n of platforms) {
          const d = decideLogin(Number(policy), [conn(e, "old")], conn(n, "new"));
          expect({ e, n, kicked: d.kick.length === 1 }).toEqual({ e, n, kicked: kicks(e, n) });
        }
    });
  }
  test("undefined policies (2, 3) kick nothing", () => {
    for (const p of [2, 3, 9]) expect(decideLogin(p, [conn(1, "a")], conn(1, "b")).kick).toEqual([]);
  });
});

describe("token handling", () => {
  test("policy 1: same-token reconnect is exempt, but the platform's other tokens are still invalidated", () => {
    const d = decideLogin(1, [conn(2, "T")], conn(2, "T"));
    expect(d.kick).toEqual([]);
    expect(d.invalidate).toEqual({ preservedToken: "T", platformID: 2 });
  });

  test("policy 1: no same-platform connection, no invalidation", () => {
    const d = decideLogin(1, [conn(3, "x")], conn(2, "T"));
    expect(d.invalidate).toBeUndefined();
  });

  test("policy 1: kicks every other same-platform connection, keeps other platforms", () => {
    const a = conn(2, "a"), b = conn(2, "b"), c = conn(1, "c"), same = conn(2, "T");
    expect(decideLogin(1, [a, b, c, same], conn(2, "T")).kick).toEqual([a, b]);
  });

  test("policy 4: kickTokens gets the kicked tokens, nothing is invalidated by platform", () => {
    const ios = conn(1, "i"), android = conn(2, "a"), pc = conn(3, "p");
    const d = decideLogin(4, [ios, android, pc], conn(1, "new"));
    expect(d.kick).toEqual([ios, android]);
    expect(d.kickTokens.sort()).toEqual(["a", "i"]);
    expect(d.invalidate).toBeUndefined();
  });

  test("policy 4: an empty kick list calls nothing", () => {
    expect(decideLogin(4, [conn(3, "p")], conn(1, "n"))).toEqual({ kick: [], kickTokens: [] });
  });

  test("policy 5: PCs coexist with each other and with one other device", () => {
    const win = conn(3, "w"), mac = conn(4, "m"), linux = conn(7, "l");
    expect(decideLogin(5, [win, mac], linux).kick).toEqual([]);
    const phone = conn(2, "ph");
    expect(decideLogin(5, [win, mac, linux], phone).kick).toEqual([]);
    expect(decideLogin(5, [win, phone], conn(3, "w2")).kick).toEqual([]);
  });

  test("policy 5: a new non-PC kicks every other non-PC and kicks their tokens on other platforms (§9.2.11 fixed)", () => {
    const web = conn(5, "web"), ipad = conn(9, "pad"), androidOld = conn(2, "old"), win = conn(3, "w");
    const d = decideLogin(5, [web, ipad, androidOld, win], conn(2, "new"));
    expect(d.kick).toEqual([web, ipad, androidOld]);
    expect(d.invalidate).toEqual({ preservedToken: "new", platformID: 2 });
    expect(d.kickTokens.sort()).toEqual(["pad", "web"]);
  });
});
