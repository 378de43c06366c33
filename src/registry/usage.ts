import { type Kysely, sql } from 'kysely';
import type { Database } from './schema.js';

/** Usage accumulated since the last flush, added to the stored totals. */
export interface UsageDelta {
  readonly model: string;
  readonly version: number;
  readonly requests: number;
  readonly errors: number;
  readonly clientErrors: number;
  readonly latencySumMs: number;
  readonly firstUsedAt: string | null;
  readonly lastUsedAt: string | null;
  /** Latency histogram counts by bucket index. */
  readonly buckets: ReadonlyMap<number, number>;
}

export interface StoredUsage {
  readonly model: string;
  readonly version: number;
  readonly requests: number;
  readonly errors: number;
  readonly clientErrors: number;
  readonly latencySumMs: number;
  readonly firstUsedAt: string | null;
  readonly lastUsedAt: string | null;
  readonly buckets: Map<number, number>;
}

/** The two tables that store one kind of usage: the totals and the latency histogram. */
export interface UsageTables {
  readonly totals: 'version_usage' | 'shadow_usage';
  readonly buckets: 'usage_latency_buckets' | 'shadow_latency_buckets';
}

/** Usage of live requests, which clients sent to a version. */
export const LIVE_USAGE: UsageTables = {
  totals: 'version_usage',
  buckets: 'usage_latency_buckets',
};

/** Usage of shadow runs, which mirror production requests to a staging version. */
export const SHADOW_USAGE: UsageTables = {
  totals: 'shadow_usage',
  buckets: 'shadow_latency_buckets',
};

/** Persisted usage totals. Writes add deltas, so several writers can share one table. */
export class UsageRepository {
  readonly #db: Kysely<Database>;
  readonly #tables: UsageTables;

  constructor(db: Kysely<Database>, tables: UsageTables = LIVE_USAGE) {
    this.#db = db;
    this.#tables = tables;
  }

  async loadAll(): Promise<StoredUsage[]> {
    const rows = await this.#db.selectFrom(this.#tables.totals).selectAll().execute();
    const buckets = await this.#db.selectFrom(this.#tables.buckets).selectAll().execute();
    const byKey = new Map<string, StoredUsage>();
    for (const row of rows) {
      byKey.set(`${row.model_name}\u0000${row.version}`, {
        model: row.model_name,
        version: Number(row.version),
        requests: Number(row.request_count),
        errors: Number(row.error_count),
        clientErrors: Number(row.client_error_count),
        latencySumMs: Number(row.latency_sum_ms),
        firstUsedAt: row.first_used_at,
        lastUsedAt: row.last_used_at,
        buckets: new Map(),
      });
    }
    for (const row of buckets) {
      byKey
        .get(`${row.model_name}\u0000${row.version}`)
        ?.buckets.set(row.bucket, Number(row.count));
    }
    return [...byKey.values()];
  }

  /** Adds every delta in one transaction, so a crash mid-flush stores all of them or none. */
  async addDeltas(deltas: readonly UsageDelta[]): Promise<void> {
    if (deltas.length === 0) return;
    const { totals: totalsTable, buckets: bucketTable } = this.#tables;
    const stored = (column: string) => sql.ref(`${totalsTable}.${column}`);
    await this.#db.transaction().execute(async (trx) => {
      for (const delta of deltas) {
        await trx
          .insertInto(totalsTable)
          .values({
            model_name: delta.model,
            version: delta.version,
            request_count: delta.requests,
            error_count: delta.errors,
            client_error_count: delta.clientErrors,
            latency_sum_ms: delta.latencySumMs,
            first_used_at: delta.firstUsedAt,
            last_used_at: delta.lastUsedAt,
          })
          .onConflict((conflict) =>
            conflict.columns(['model_name', 'version']).doUpdateSet({
              request_count: sql`${stored('request_count')} + excluded.request_count`,
              error_count: sql`${stored('error_count')} + excluded.error_count`,
              client_error_count: sql`${stored('client_error_count')} + excluded.client_error_count`,
              latency_sum_ms: sql`${stored('latency_sum_ms')} + excluded.latency_sum_ms`,
              first_used_at: sql`coalesce(${stored('first_used_at')}, excluded.first_used_at)`,
              last_used_at: sql`case
                when excluded.last_used_at is null then ${stored('last_used_at')}
                when ${stored('last_used_at')} is null then excluded.last_used_at
                when excluded.last_used_at > ${stored('last_used_at')} then excluded.last_used_at
                else ${stored('last_used_at')} end`,
            }),
          )
          .execute();
        for (const [bucket, count] of delta.buckets) {
          await trx
            .insertInto(bucketTable)
            .values({ model_name: delta.model, version: delta.version, bucket, count })
            .onConflict((conflict) =>
              conflict.columns(['model_name', 'version', 'bucket']).doUpdateSet({
                count: sql`${sql.ref(`${bucketTable}.count`)} + excluded.count`,
              }),
            )
            .execute();
        }
      }
    });
  }

  /** Drops the usage of a deleted version. */
  async deleteVersion(model: string, version: number): Promise<void> {
    await this.#db
      .deleteFrom(this.#tables.buckets)
      .where('model_name', '=', model)
      .where('version', '=', version)
      .execute();
    await this.#db
      .deleteFrom(this.#tables.totals)
      .where('model_name', '=', model)
      .where('version', '=', version)
      .execute();
  }
}
