import { Database } from "bun:sqlite";
import { chmodSync, existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { migrate, refuseNewer } from "./schema.js";

export const DB_FILE = "imgate.db";

/**
 * The data dir holds the token secret, the admin token and every message: this user's alone (0700, files 0600).
 * An existing dir is narrowed too, so a data dir made by 0.1.0 (0755, files 0644) is closed at its next start.
 */
export function secureDataDir(dataDir: string): void {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  chmodSync(dataDir, 0o700);
}

/** 0600 on the database and its WAL and shared-memory files (SQLite creates those with the database's mode). */
function secureFiles(path: string): void {
  for (const f of [path, `${path}-wal`, `${path}-shm`]) if (existsSync(f)) chmodSync(f, 0o600);
}

/**
 * The embedded shape's one SQLite file. WAL with synchronous=NORMAL: a committed transaction is in the OS
 * page cache before we acknowledge, so it survives a process kill (kill -9); power loss may lose the last
 * commits (documented in README, "Durability"). The schema is versioned (schema.ts): an older file is migrated
 * in one transaction, a newer one refused before anything is written.
 */
export function openDatabase(dataDir: string): Database {
  secureDataDir(dataDir);
  const path = join(dataDir, DB_FILE);
  const db = new Database(path, { create: true, strict: true });
  try {
    secureFiles(path);
    db.exec("PRAGMA busy_timeout = 5000");
    // Before any pragma that writes: a file newer than this binary is refused untouched.
    refuseNewer(db, path);
    db.exec("PRAGMA journal_mode = WAL");
    db.exec("PRAGMA synchronous = NORMAL");
    // Checkpoints run on a worker thread (checkpointer.ts), not inside our commits.
    db.exec("PRAGMA wal_autocheckpoint = 0");
    // The writer never truncates the WAL (that stalled a commit ~80 ms); checkpointer.ts does it when idle.
    db.exec("PRAGMA journal_size_limit = -1");
    migrate(db, path);
    secureFiles(path);
    return db;
  } catch (e) {
    db.close();
    throw e;
  }
}
