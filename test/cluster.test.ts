// The cluster shape on one standalone redis-server (the suite: test/support/cluster-suite.ts).
import { clusterSuite } from "./support/cluster-suite.js";

clusterSuite("standalone");
