// `imgate backup` and `imgate restore`: the embedded data dir to one file and back (backend/embedded/backup.ts).
import { BackupError, backupDataDir, restoreDataDir } from "../backend/embedded/backup.js";
import { configFrom } from "./common.js";
import { CliError } from "./exit.js";

const mb = (bytes: number) => `${(bytes / 1048576).toFixed(1)} MB`;

function reported<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof BackupError) throw new CliError(e.message, 1);
    throw new CliError(`${(e as Error).message}; nothing was changed`, 1);
  }
}

export function backup(file: string, opts: Record<string, unknown>): void {
  const config = configFrom(opts);
  const s = reported(() => backupDataDir(config.dataDir, file, { force: Boolean(opts.force) }));
  if (opts.json) return void process.stdout.write(JSON.stringify(s) + "\n");
  process.stdout.write(
    `backed up ${config.dataDir} to ${s.file}: ${s.messages} messages in ${s.conversations} conversations, schema version ` +
      `${s.schemaVersion}, ${s.files.length ? s.files.join(" and ") : "no secret or admin token (configured elsewhere: keep them with the backup)"}; ` +
      `${mb(s.bytes)} in ${(s.ms / 1000).toFixed(1)} s. The file holds the token secret: keep it as private as the data dir.\n`,
  );
}

export function restore(file: string, opts: Record<string, unknown>): void {
  const config = configFrom(opts);
  const s = reported(() => restoreDataDir(file, config.dataDir));
  if (opts.json) return void process.stdout.write(JSON.stringify(s) + "\n");
  process.stdout.write(
    `restored ${file} (taken ${s.takenAt} by imgate ${s.takenBy}) into ${s.dataDir}: ${s.messages} messages in ` +
      `${s.conversations} conversations, schema version ${s.schemaVersion}${s.files.length ? `, with ${s.files.join(" and ")}` : ""}. ` +
      `Start \`imgate serve --data-dir ${s.dataDir}\` on it.\n`,
  );
}
