import { mkdirSync } from 'node:fs';
import path from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { Kysely, type Migration, type MigrationProvider, Migrator, SqliteDialect } from 'kysely';
import { initialSchema } from './migrations/0001-initial.js';
import { telemetrySchema } from './migrations/0002-telemetry.js';
import { governanceSchema } from './migrations/0003-governance.js';
import { stagingSchema } from './migrations/0004-staging.js';
import type { Database } from './schema.js';

export type Dialect = 'sqlite' | 'postgres';

export interface RegistryDatabase {
  readonly db: Kysely<Database>;
  readonly dialect: Dialect;
}

/** Migrations in the order they apply; names sort in the same order. */
function migrations(dialect: Dialect): Record<string, Migration> {
  return {
    '0001-initial': initialSchema(dialect),
    '0002-telemetry': telemetrySchema(dialect),
    '0003-governance': governanceSchema(dialect),
    '0004-staging': stagingSchema(),
  };
}

class StaticMigrationProvider implements MigrationProvider {
  readonly #dialect: Dialect;

  constructor(dialect: Dialect) {
    this.#dialect = dialect;
  }

  async getMigrations(): Promise<Record<string, Migration>> {
    return migrations(this.#dialect);
  }
}

/**
 * Opens the SQLite registry at `<dataDir>/registry.sqlite` in WAL mode. WAL with
 * synchronous=FULL makes every committed transaction durable before the call returns.
 */
export function openSqlite(dataDir: string): RegistryDatabase {
  mkdirSync(dataDir, { recursive: true });
  const file = path.join(dataDir, 'registry.sqlite');
  const sqlite = new SqliteDatabase(file);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = FULL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) });
  return { db, dialect: 'sqlite' };
}

/** Applies every pending migration; throws with the failing migration's name. */
export async function migrateToLatest(registry: RegistryDatabase): Promise<string[]> {
  const migrator = new Migrator({
    db: registry.db,
    provider: new StaticMigrationProvider(registry.dialect),
  });
  const { error, results } = await migrator.migrateToLatest();
  const failed = results?.find((result) => result.status === 'Error');
  if (error || failed) {
    const name = failed ? failed.migrationName : 'unknown';
    throw new Error(`registry migration ${name} failed`, { cause: error });
  }
  return (results ?? []).map((result) => result.migrationName);
}
