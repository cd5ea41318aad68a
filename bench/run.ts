// npm run bench -- <scenario> [--quick] [--seconds N (soak)]
import { burst } from "./burst.js";
import { chat } from "./chat.js";
import { cluster } from "./cluster.js";
import { fanout } from "./fanout.js";
import { handshake } from "./handshake.js";
import { history } from "./history.js";
import { idle } from "./idle.js";
import { presence } from "./presence.js";
import { slow } from "./slow.js";
import { scale } from "./scale.js";
import { soak } from "./soak.js";
import { storm } from "./storm.js";

const scenarios: Record<string, (quick: boolean) => Promise<void>> = { burst, chat, cluster, fanout, handshake, history, idle, presence, scale, slow, soak, storm };
const args = process.argv.slice(2);
// Positional: the scenario (a value following --seconds is not one).
const [name] = args.filter((a, i) => !a.startsWith("--") && args[i - 1] !== "--seconds");
const quick = process.argv.includes("--quick");
if (!name || !scenarios[name]) {
  console.error(`usage: npm run bench -- <${Object.keys(scenarios).join("|")}> [--quick]`);
  process.exit(2);
}
// Every scenario is bounded; this is the backstop (a soak gets its own length on top).
const si = args.indexOf("--seconds");
const backstopMs = 900_000 + (si >= 0 ? Number(args[si + 1]) * 1000 : 0);
setTimeout(() => {
  console.error(`benchmark exceeded ${backstopMs / 1000} s; stopping`);
  process.exit(1);
}, backstopMs).unref();
await scenarios[name]!(quick);
process.exit(0);
