import type { Kysely } from 'kysely';
import type { Database } from './schema.js';

/** A model's overrides of the staging defaults; undefined fields keep the configured default. */
export interface StagingOverrides {
  readonly shadowPercent?: number;
  readonly canaryPercent?: number;
  readonly canaryHeader?: string;
  readonly tolerance?: number;
}

/** The stored comparison of one model's staging version against its production version. */
export interface StoredComparison {
  readonly model: string;
  readonly productionVersion: number;
  readonly stagingVersion: number;
  readonly startedAt: string;
  /** JSON of the comparison totals, written and read by the comparison itself. */
  readonly totals: string;
}

/** Staging settings per model and the running comparison totals. */
export class StagingRepository {
  readonly #db: Kysely<Database>;

  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  async loadOverrides(): Promise<Map<string, StagingOverrides>> {
    const rows = await this.#db.selectFrom('staging_settings').selectAll().execute();
    const overrides = new Map<string, StagingOverrides>();
    for (const row of rows) {
      overrides.set(row.model_name, {
        shadowPercent: row.shadow_percent ?? undefined,
        canaryPercent: row.canary_percent ?? undefined,
        canaryHeader: row.canary_header ?? undefined,
        tolerance: row.tolerance ?? undefined,
      });
    }
    return overrides;
  }

  async saveOverrides(model: string, overrides: StagingOverrides, at: string): Promise<void> {
    const values = {
      shadow_percent: overrides.shadowPercent ?? null,
      canary_percent: overrides.canaryPercent ?? null,
      canary_header: overrides.canaryHeader ?? null,
      tolerance: overrides.tolerance ?? null,
      updated_at: at,
    };
    await this.#db
      .insertInto('staging_settings')
      .values({ model_name: model, ...values })
      .onConflict((conflict) => conflict.column('model_name').doUpdateSet(values))
      .execute();
  }

  async loadComparisons(): Promise<StoredComparison[]> {
    const rows = await this.#db.selectFrom('staging_comparisons').selectAll().execute();
    return rows.map((row) => ({
      model: row.model_name,
      productionVersion: Number(row.production_version),
      stagingVersion: Number(row.staging_version),
      startedAt: row.started_at,
      totals: row.totals,
    }));
  }

  /**
   * Replaces the stored comparisons of the given models in one transaction. A null entry
   * deletes the row of a model that no longer has a comparison.
   */
  async saveComparisons(
    changes: ReadonlyMap<string, StoredComparison | null>,
    at: string,
  ): Promise<void> {
    if (changes.size === 0) return;
    await this.#db.transaction().execute(async (trx) => {
      for (const [model, stored] of changes) {
        if (stored === null) {
          await trx.deleteFrom('staging_comparisons').where('model_name', '=', model).execute();
          continue;
        }
        const values = {
          production_version: stored.productionVersion,
          staging_version: stored.stagingVersion,
          started_at: stored.startedAt,
          updated_at: at,
          totals: stored.totals,
        };
        // The model may have been deleted since the comparison changed; its row goes with it.
        const exists = await trx
          .selectFrom('models')
          .select('name')
          .where('name', '=', model)
          .executeTakeFirst();
        if (!exists) continue;
        await trx
          .insertInto('staging_comparisons')
          .values({ model_name: model, ...values })
          .onConflict((conflict) => conflict.column('model_name').doUpdateSet(values))
          .execute();
      }
    });
  }
}
