// Backups of the embedded data dir: one file that holds a consistent copy of the database and the data dir's secret
// and admin token (without them, every token issued before would be refused after a restore). The copy is SQLite's
// `VACUUM INTO`: one read transaction, so it is a snapshot of one instant and writers (WAL) go on meanwhile. The
// backup is itself a SQLite file (inspect it with sqlite3), written under another name and renamed into place.
import { Database } from "bun:sqlite";
import { chmodSync, closeSync, copyFileSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { ADMIN_TOKEN_FILE, SECRET_FILE } from "../../config/secret.js";
import { VERSION } from "../../version.js";
import { DB_FILE, secureDataDir } from "./db.js";
import { SCHEMA_VERSION, schemaVersionOf } from "./schema.js";

/** The table a backup adds to its copy; a restore reads it and drops it. */
const BACKUP_TABLE = "imgate_backup";
/** Bumped when what a backup holds changes shape; a restore refuses formats it does not know. */
const BACKUP_FORMAT = 1;
/** Data dir files a backup carries beside the database. */
const KEPT_FILES = [SECRET_FILE, ADMIN_TOKEN_FILE];

export class BackupError extends Error {}

export interface BackupSummary {
  file: string;
  bytes: number;
  schemaVersion: number;
  messages: number;
  conversations: number;
  /** Data dir files carried beside the database (secret, admin-token). */
  files: string[];
  ms: number;
}

/** Counts a restore or a backup reports, from a database with imgate's tables. */
function counts(db: Database): { messages: number; conversations: number } {
  const one = (sql: string) => db.query<{ n: number }, []>(sql).get()!.n;
  return { messages: one("SELECT count(*) AS n FROM messages"), conversations: one("SELECT count(*) AS n FROM conversations") };
}

function fsyncFile(path: string): void {
  const fd = openSync(path, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** The rename of a file into `dir` survives a crash only once the directory itself is synced. */
function fsyncDir(dir: string): void {
  try {
    fsyncFile(dir);
  } catch {
    // Some file systems refuse fsync on a directory; the rename is still atomic there.
  }
}

function quickCheck(db: Database, what: string): void {
  const rows = db.query<{ quick_check: string }, []>("PRAGMA quick_check").all();
  if (rows.length !== 1 || rows[0]!.quick_check !== "ok")
    throw new BackupError(`${what} is damaged: ${rows.slice(0, 3).map((r) => r.quick_check).join("; ")}`);
}

/**
 * Copies dataDir's database (a snapshot of one instant, taken while the node serves) and its secret and admin token
 * into `file`, mode 0600. An existing `file` is replaced only with `force`, and only once the new copy is complete.
 */
export function backupDataDir(dataDir: string, file: string, opts: { force?: boolean } = {}): BackupSummary {
  const started = performance.now();
  const source = join(dataDir, DB_FILE);
  if (!existsSync(source)) throw new BackupError(`no database in ${dataDir} (${DB_FILE}): nothing to back up (is this the embedded shape's data dir?)`);
  if (existsSync(file) && !opts.force) throw new BackupError(`${file} exists; pass --force to replace it`);
  const tmp = join(dirname(file), `.${process.pid}-${Date.now()}.imgate-backup.tmp`);
  // Opened without create and never written: the node keeps serving; busy_timeout covers its commit of the moment.
  const db = new Database(source, { create: false, strict: true });
  try {
    db.exec("PRAGMA busy_timeout = 10000");
    const schemaVersion = schemaVersionOf(db);
    // The path is quoted as an SQL string: VACUUM INTO takes an expression, not a bound parameter in every build.
    db.exec(`VACUUM INTO '${tmp.replaceAll("'", "''")}'`);
    chmodSync(tmp, 0o600);
    const copy = new Database(tmp, { strict: true });
    let summary: Omit<BackupSummary, "bytes" | "ms" | "file">;
    try {
      quickCheck(copy, "the copy");
      const files = KEPT_FILES.filter((f) => existsSync(join(dataDir, f)));
      copy.exec(`CREATE TABLE ${BACKUP_TABLE} (key TEXT PRIMARY KEY, value BLOB NOT NULL)`);
      const put = copy.query(`INSERT INTO ${BACKUP_TABLE} (key, value) VALUES (?, ?)`);
      copy.transaction(() => {
        put.run("format", String(BACKUP_FORMAT));
        put.run("imgate", VERSION);
        put.run("schema_version", String(schemaVersion));
        put.run("taken_at", new Date().toISOString());
        for (const f of files) put.run(`file:${f}`, readFileSync(join(dataDir, f)));
      })();
      // One self-contained file: no WAL beside it.
      copy.exec("PRAGMA journal_mode = DELETE");
      summary = { schemaVersion, files, ...counts(copy) };
    } finally {
      copy.close();
    }
    fsyncFile(tmp);
    renameSync(tmp, file);
    fsyncDir(dirname(file));
    return { file, bytes: statSync(file).size, ms: Math.round(performance.now() - started), ...summary };
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  } finally {
    db.close();
  }
}

export interface RestoreSummary {
  dataDir: string;
  schemaVersion: number;
  takenAt: string;
  takenBy: string;
  messages: number;
  conversations: number;
  files: string[];
}

/** The backup's own table: its metadata and the files it carries. Throws BackupError for anything else. */
function readBackup(file: string): { meta: Map<string, string>; files: Map<string, Uint8Array> } {
  if (!existsSync(file)) throw new BackupError(`${file} does not exist`);
  let db: Database;
  try {
    db = new Database(file, { readonly: true, strict: true });
  } catch (e) {
    throw new BackupError(`${file} is not an imgate backup: ${(e as Error).message}`);
  }
  try {
    let rows: { key: string; value: string | Uint8Array }[];
    try {
      rows = db.query<{ key: string; value: string | Uint8Array }, []>(`SELECT key, value FROM ${BACKUP_TABLE}`).all();
    } catch {
      throw new BackupError(`${file} is not an imgate backup (no ${BACKUP_TABLE} table; made by \`imgate backup\`?)`);
    }
    quickCheck(db, file);
    const meta = new Map<string, string>(), files = new Map<string, Uint8Array>();
    for (const r of rows) {
      if (!r.key.startsWith("file:")) {
        meta.set(r.key, String(r.value));
        continue;
      }
      // Only the files a backup carries, by their plain names: a crafted backup must not write anywhere else.
      const name = r.key.slice(5);
      if (!KEPT_FILES.includes(name)) throw new BackupError(`${file} names a file "${name}" no imgate backup carries; nothing was changed`);
      files.set(name, typeof r.value === "string" ? new TextEncoder().encode(r.value) : r.value);
    }
    const format = Number(meta.get("format"));
    if (format !== BACKUP_FORMAT)
      throw new BackupError(`${file} is backup format ${meta.get("format")}, this imgate (${VERSION}) reads format ${BACKUP_FORMAT}`);
    const schema = Number(meta.get("schema_version"));
    if (schema > SCHEMA_VERSION)
      throw new BackupError(`${file} holds schema version ${schema} (imgate ${meta.get("imgate")}), newer than this imgate knows (${SCHEMA_VERSION}): restore it with that imgate or a later one`);
    return { meta, files };
  } finally {
    db.close();
  }
}

const sameBytes = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);

/**
 * Fills dataDir from a backup: the database, then the secret and admin token. Refuses a data dir that holds a
 * database, or a secret/admin token other than the backup's, before writing anything. The database is renamed into
 * place last, so an interrupted restore leaves no database and can be run again. An older schema is migrated by the
 * node's next start, as any data dir is.
 */
export function restoreDataDir(file: string, dataDir: string): RestoreSummary {
  const { meta, files } = readBackup(file);
  const target = join(dataDir, DB_FILE);
  for (const f of [target, `${target}-wal`])
    if (existsSync(f)) throw new BackupError(`${dataDir} holds a database (${f}); restore fills an empty data dir only, nothing was changed`);
  for (const [name, bytes] of files) {
    const there = join(dataDir, name);
    if (existsSync(there) && !sameBytes(readFileSync(there), bytes))
      throw new BackupError(`${there} differs from the backup's ${name}; move it away to restore (nothing was changed)`);
  }
  secureDataDir(dataDir);
  const tmp = join(dataDir, `.${DB_FILE}.restore-${process.pid}.tmp`);
  try {
    copyFileSync(file, tmp);
    chmodSync(tmp, 0o600);
    const db = new Database(tmp, { strict: true });
    let n: { messages: number; conversations: number };
    try {
      // VACUUM rewrites the file without the dropped table's pages: the secret lives in the data dir's own file,
      // not also in free pages of the database.
      db.exec(`DROP TABLE ${BACKUP_TABLE}`);
      db.exec("VACUUM");
      db.exec("PRAGMA journal_mode = WAL");
      n = counts(db);
    } finally {
      db.close();
    }
    for (const [name, bytes] of files) {
      const there = join(dataDir, name);
      if (existsSync(there)) continue;
      const part = `${there}.restore-${process.pid}.tmp`;
      writeFileSync(part, bytes, { mode: 0o600 });
      fsyncFile(part);
      renameSync(part, there);
    }
    fsyncFile(tmp);
    renameSync(tmp, target);
    fsyncDir(dataDir);
    return {
      dataDir, schemaVersion: Number(meta.get("schema_version")), takenAt: meta.get("taken_at") ?? "", takenBy: meta.get("imgate") ?? "",
      ...n, files: [...files.keys()],
    };
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}
