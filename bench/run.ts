// npm run bench -- <scenario> [--quick]
import { chat } from "./chat.js";
import { cluster } from "./cluster.js";
import { fanout } from "./fanout.js";
import { presence } from "./presence.js";

const scenarios: Record<string, (quick: boolean) => Promise<void>> = { chat, cluster, fanout, presence };
const [name] = process.argv.slice(2).filter((a) => !a.startsWith("--"));
const quick = process.argv.includes("--quick");
if (!name || !scenarios[name]) {
  console.error(`usage: npm run bench -- <${Object.keys(scenarios).join("|")}> [--quick]`);
  process.exit(2);
}
// Every scenario is bounded; this is the backstop.
setTimeout(() => {
  console.error("benchmark exceeded 10 minutes; stopping");
  process.exit(1);
}, 600_000).unref();
await scenarios[name]!(quick);
process.exit(0);
