// A gRPC client that is not connect-node: @grpc/grpc-js with our proto/ loaded at run time, as a stand-in
// for OpenIM's grpc-go services calling the hub.
import * as grpc from "@grpc/grpc-js";
import * as loader from "@grpc/proto-loader";
import { fromBinary } from "@bufbuild/protobuf";
import { findTrailerError } from "@connectrpc/connect/protocol-grpc";
import { ErrorInfoSchema } from "../../src/gen/openim/protobuf/errinfo_pb.js";

const PROTO_DIR = new URL("../../proto", import.meta.url).pathname;

export function msgGatewayClient(port: number) {
  const def = loader.loadSync("openim/msggateway/msggateway.proto", { includeDirs: [PROTO_DIR], keepCase: true, longs: Number, defaults: true });
  const pkg = grpc.loadPackageDefinition(def) as any;
  const client = new pkg.openim.msggateway.msgGateway(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  /** Calls a unary method with OpenIM metadata; resolves with the response or rejects with {code, details, cause}. */
  const call = (method: string, req: object, meta: Record<string, string> = { operationid: "op-test" }) =>
    new Promise<any>((resolve, reject) => {
      const md = new grpc.Metadata();
      for (const [k, v] of Object.entries(meta)) md.set(k, v);
      client[method](req, md, (err: grpc.ServiceError | null, resp: any) => {
        if (!err) return resolve(resp);
        const bin = err.metadata?.get("grpc-status-details-bin")[0] as Buffer | undefined;
        let cause: string | undefined;
        if (bin) {
          const parsed = findTrailerError(new Headers({ "grpc-status-details-bin": bin.toString("base64").replace(/=+$/, "") }));
          const d = parsed?.details[0];
          if (d && "value" in d && d.value instanceof Uint8Array) cause = fromBinary(ErrorInfoSchema, d.value).cause;
        }
        reject({ code: err.code, details: err.details, cause });
      });
    });
  return { call, close: () => client.close() };
}
