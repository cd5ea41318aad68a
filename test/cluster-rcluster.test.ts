// The cluster shape on a real three-master Redis Cluster: node channels and presence on sharded pub/sub
// (the suite: test/support/cluster-suite.ts).
import { clusterSuite } from "./support/cluster-suite.js";

clusterSuite("cluster");
