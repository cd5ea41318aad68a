// The cluster shape on a master and replica behind redis-sentinel (the suite: test/support/cluster-suite.ts).
import { clusterSuite } from "./support/cluster-suite.js";

clusterSuite("sentinel");
