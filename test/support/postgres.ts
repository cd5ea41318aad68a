// A PostgreSQL database of the test's own on the machine's server (127.0.0.1:5432, user postgres, trust auth; CI
// has one too): created with a random name, dropped at the end (its connections closed first), so tests never
// share state.
import { SQL } from "bun";

export const PG_SERVER = process.env.IMGATE_TEST_POSTGRES ?? "postgres://postgres@127.0.0.1:5432";

export interface TestDatabase {
  url: string;
  name: string;
  /** A pool on the database (closed by drop). */
  sql: SQL;
  drop(): Promise<void>;
}

export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `imgate_test_${process.pid}_${Math.random().toString(36).slice(2, 10)}`;
  await onServer(`CREATE DATABASE ${name}`);
  const url = `${PG_SERVER}/${name}`;
  const sql = new SQL({ url, max: 4 });
  return {
    url, name, sql,
    async drop() {
      await sql.close({ timeout: 1 }).catch(() => {});
      // FORCE: a node the test killed may have left connections behind.
      await onServer(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
  };
}

/** One statement on the server's own database, on a connection opened for it and closed after. */
async function onServer(statement: string): Promise<void> {
  const admin = new SQL({ url: `${PG_SERVER}/postgres`, max: 1 });
  try {
    await admin.unsafe(statement);
  } finally {
    await admin.close();
  }
}
