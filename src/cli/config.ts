import { stringify } from "yaml";
import { maskedConfig } from "../config/load.js";
import { configFrom } from "./common.js";

export function configCheck(file: string): void {
  configFrom({ config: file });
  process.stdout.write(`${file}: ok\n`);
}

export function configPrint(opts: Record<string, unknown>): void {
  process.stdout.write(stringify(maskedConfig(configFrom(opts))));
}
