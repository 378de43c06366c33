import { AliasRepository } from './aliases.js';
import { AuditRepository } from './audit.js';
import { ChecksRepository } from './checks.js';
import { migrateToLatest, openSqlite, type RegistryDatabase } from './database.js';
import { ModelRepository } from './models.js';
import { StagingRepository } from './staging.js';
import { SHADOW_USAGE, UsageRepository } from './usage.js';

/** The registry: one database, and one repository per concept stored in it. */
export class Registry {
  readonly database: RegistryDatabase;
  readonly models: ModelRepository;
  readonly aliases: AliasRepository;
  readonly usage: UsageRepository;
  readonly checks: ChecksRepository;
  readonly audit: AuditRepository;
  /** Usage of shadow runs on staging versions, stored apart from live usage. */
  readonly shadowUsage: UsageRepository;
  readonly staging: StagingRepository;

  constructor(database: RegistryDatabase) {
    this.database = database;
    this.models = new ModelRepository(database.db);
    this.aliases = new AliasRepository(database.db);
    this.usage = new UsageRepository(database.db);
    this.checks = new ChecksRepository(database.db);
    this.audit = new AuditRepository(database.db);
    this.shadowUsage = new UsageRepository(database.db, SHADOW_USAGE);
    this.staging = new StagingRepository(database.db);
  }

  /** Opens the SQLite registry in `dataDir` and applies pending migrations. */
  static async openSqlite(dataDir: string): Promise<Registry> {
    const database = openSqlite(dataDir);
    await migrateToLatest(database);
    return new Registry(database);
  }

  async getMeta(key: string): Promise<string | undefined> {
    const row = await this.database.db
      .selectFrom('meta')
      .select('value')
      .where('key', '=', key)
      .executeTakeFirst();
    return row?.value;
  }

  async setMeta(key: string, value: string): Promise<void> {
    await this.database.db
      .insertInto('meta')
      .values({ key, value })
      .onConflict((conflict) => conflict.column('key').doUpdateSet({ value }))
      .execute();
  }

  async close(): Promise<void> {
    await this.database.db.destroy();
  }
}
