import { type Kysely, sql, type Transaction } from 'kysely';
import type { Database } from './schema.js';

/** Count and total duration of one request stage. */
export interface StageTiming {
  readonly count: number;
  readonly ns: number;
}

/** Additive usage counters of one version. */
export interface UsageCounts {
  readonly requests: number;
  readonly badRequests: number;
  readonly modelErrors: number;
  readonly timeouts: number;
  readonly unavailable: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly inferenceCount: number;
  readonly executionCount: number;
  readonly invalidResponses: number;
  /** Latency sum of successful requests. */
  readonly latencySumMs: number;
}

/** Usage of one version: totals when loaded, or what accumulated since the last flush. */
export interface UsageDelta extends UsageCounts {
  readonly model: string;
  readonly version: number;
  readonly firstUsedAt: string | null;
  readonly lastUsedAt: string | null;
  /** Latency histogram counts of successful requests by bucket index. */
  readonly buckets: ReadonlyMap<number, number>;
  /** Triton's stage timings by stage name. */
  readonly stages: ReadonlyMap<string, StageTiming>;
  /** Responses with each kind of output violation. */
  readonly violations: ReadonlyMap<string, number>;
}

/** A response that broke an output check; the JSON fields are stored as text. */
export interface ViolationSample {
  readonly model: string;
  readonly version: number;
  readonly recordedAt: string;
  readonly violations: unknown;
  readonly inputs: unknown;
  readonly outputs: unknown;
}

const COUNT_COLUMNS = {
  requests: 'request_count',
  badRequests: 'client_error_count',
  modelErrors: 'error_count',
  timeouts: 'timeout_count',
  unavailable: 'unavailable_count',
  bytesIn: 'bytes_in',
  bytesOut: 'bytes_out',
  inferenceCount: 'inference_count',
  executionCount: 'execution_count',
  invalidResponses: 'invalid_output_count',
  latencySumMs: 'latency_sum_ms',
} as const satisfies Record<keyof UsageCounts, string>;

type CountKey = keyof typeof COUNT_COLUMNS;

function keyOf(model: string, version: number): string {
  return `${model}\u0000${version}`;
}

/**
 * The tables that store one kind of usage. Each kind has tables of the same columns, so one
 * repository serves both. `samples` is null for a kind that keeps no violation samples.
 */
export interface UsageTables {
  readonly totals: 'version_usage' | 'shadow_usage';
  readonly buckets: 'usage_latency_buckets' | 'shadow_latency_buckets';
  readonly stages: 'usage_stage_timings' | 'shadow_stage_timings';
  readonly violations: 'output_violation_counts' | 'shadow_violation_counts';
  readonly samples: 'output_violation_samples' | null;
}

/** Usage of live requests, which clients sent to a version. */
export const LIVE_USAGE: UsageTables = {
  totals: 'version_usage',
  buckets: 'usage_latency_buckets',
  stages: 'usage_stage_timings',
  violations: 'output_violation_counts',
  samples: 'output_violation_samples',
};

/** Usage of shadow runs, which mirror production requests to a staging version. */
export const SHADOW_USAGE: UsageTables = {
  totals: 'shadow_usage',
  buckets: 'shadow_latency_buckets',
  stages: 'shadow_stage_timings',
  violations: 'shadow_violation_counts',
  samples: null,
};

/** Persisted usage totals. Writes add deltas, so several writers can share one table. */
export class UsageRepository {
  readonly #db: Kysely<Database>;
  readonly #tables: UsageTables;

  constructor(db: Kysely<Database>, tables: UsageTables = LIVE_USAGE) {
    this.#db = db;
    this.#tables = tables;
  }

  async loadAll(): Promise<UsageDelta[]> {
    const tables = this.#tables;
    const rows = await this.#db.selectFrom(tables.totals).selectAll().execute();
    const byKey = new Map<
      string,
      UsageDelta & {
        buckets: Map<number, number>;
        stages: Map<string, StageTiming>;
        violations: Map<string, number>;
      }
    >();
    for (const row of rows) {
      const counts = {} as Record<CountKey, number>;
      for (const [field, column] of Object.entries(COUNT_COLUMNS) as Array<[CountKey, string]>) {
        counts[field] = Number(row[column as keyof typeof row]);
      }
      byKey.set(keyOf(row.model_name, Number(row.version)), {
        ...counts,
        model: row.model_name,
        version: Number(row.version),
        firstUsedAt: row.first_used_at,
        lastUsedAt: row.last_used_at,
        buckets: new Map(),
        stages: new Map(),
        violations: new Map(),
      });
    }
    const find = (row: { model_name: string; version: number }) =>
      byKey.get(keyOf(row.model_name, Number(row.version)));
    for (const row of await this.#db.selectFrom(tables.buckets).selectAll().execute()) {
      find(row)?.buckets.set(row.bucket, Number(row.count));
    }
    for (const row of await this.#db.selectFrom(tables.stages).selectAll().execute()) {
      find(row)?.stages.set(row.stage, { count: Number(row.count), ns: Number(row.total_ns) });
    }
    for (const row of await this.#db.selectFrom(tables.violations).selectAll().execute()) {
      find(row)?.violations.set(row.kind, Number(row.count));
    }
    return [...byKey.values()];
  }

  /**
   * Adds every delta and inserts the samples in one transaction, so a crash mid-flush stores
   * all of them or none. Keeps only the newest `keepSamples` samples of each version.
   * Throws when given samples for a kind of usage that keeps none.
   */
  async addDeltas(
    deltas: readonly UsageDelta[],
    samples: readonly ViolationSample[] = [],
    keepSamples = Number.POSITIVE_INFINITY,
  ): Promise<void> {
    if (deltas.length === 0 && samples.length === 0) return;
    const tables = this.#tables;
    const sampleTable = tables.samples;
    if (sampleTable === null && samples.length > 0) {
      throw new Error(`usage in ${tables.totals} keeps no violation samples`);
    }
    await this.#db.transaction().execute(async (trx) => {
      for (const delta of deltas) await addDelta(trx, tables, delta);
      if (sampleTable !== null) await insertSamples(trx, samples, keepSamples);
    });
  }

  /** Returns the stored samples of a version, newest first. */
  async samples(model: string, version: number): Promise<ViolationSample[]> {
    if (this.#tables.samples === null) return [];
    const rows = await this.#db
      .selectFrom(this.#tables.samples)
      .selectAll()
      .where('model_name', '=', model)
      .where('version', '=', version)
      .orderBy('id', 'desc')
      .execute();
    return rows.map((row) => ({
      model: row.model_name,
      version: Number(row.version),
      recordedAt: row.recorded_at,
      violations: JSON.parse(row.violations),
      inputs: JSON.parse(row.inputs),
      outputs: JSON.parse(row.outputs),
    }));
  }

  /** Drops the usage, violations and samples of a deleted version. */
  async deleteVersion(model: string, version: number): Promise<void> {
    const { totals, buckets, stages, violations, samples } = this.#tables;
    const tables = [buckets, stages, violations, ...(samples === null ? [] : [samples]), totals];
    await this.#db.transaction().execute(async (trx) => {
      for (const table of tables) {
        await trx
          .deleteFrom(table)
          .where('model_name', '=', model)
          .where('version', '=', version)
          .execute();
      }
    });
  }
}

async function addDelta(
  trx: Transaction<Database>,
  tables: UsageTables,
  delta: UsageDelta,
): Promise<void> {
  const { totals, buckets, stages, violations } = tables;
  const stored = (column: string) => sql.ref(`${totals}.${column}`);
  const values = Object.fromEntries(
    (Object.entries(COUNT_COLUMNS) as Array<[CountKey, string]>).map(([field, column]) => [
      column,
      delta[field],
    ]),
  );
  const sums = Object.fromEntries(
    Object.values(COUNT_COLUMNS).map((column) => [
      column,
      sql`${stored(column)} + ${sql.ref(`excluded.${column}`)}`,
    ]),
  );
  await trx
    .insertInto(totals)
    .values({
      ...(values as Record<string, number>),
      model_name: delta.model,
      version: delta.version,
      first_used_at: delta.firstUsedAt,
      last_used_at: delta.lastUsedAt,
    } as Database[typeof totals])
    .onConflict((conflict) =>
      conflict.columns(['model_name', 'version']).doUpdateSet({
        ...sums,
        first_used_at: sql`coalesce(${stored('first_used_at')}, excluded.first_used_at)`,
        last_used_at: sql`case
          when excluded.last_used_at is null then ${stored('last_used_at')}
          when ${stored('last_used_at')} is null then excluded.last_used_at
          when excluded.last_used_at > ${stored('last_used_at')} then excluded.last_used_at
          else ${stored('last_used_at')} end`,
      }),
    )
    .execute();
  const where = { model_name: delta.model, version: delta.version };
  for (const [bucket, count] of delta.buckets) {
    await trx
      .insertInto(buckets)
      .values({ ...where, bucket, count })
      .onConflict((conflict) =>
        conflict.columns(['model_name', 'version', 'bucket']).doUpdateSet({
          count: sql`${sql.ref(`${buckets}.count`)} + excluded.count`,
        }),
      )
      .execute();
  }
  for (const [stage, timing] of delta.stages) {
    await trx
      .insertInto(stages)
      .values({ ...where, stage, count: timing.count, total_ns: timing.ns })
      .onConflict((conflict) =>
        conflict.columns(['model_name', 'version', 'stage']).doUpdateSet({
          count: sql`${sql.ref(`${stages}.count`)} + excluded.count`,
          total_ns: sql`${sql.ref(`${stages}.total_ns`)} + excluded.total_ns`,
        }),
      )
      .execute();
  }
  for (const [kind, count] of delta.violations) {
    await trx
      .insertInto(violations)
      .values({ ...where, kind, count })
      .onConflict((conflict) =>
        conflict.columns(['model_name', 'version', 'kind']).doUpdateSet({
          count: sql`${sql.ref(`${violations}.count`)} + excluded.count`,
        }),
      )
      .execute();
  }
}

async function insertSamples(
  trx: Transaction<Database>,
  samples: readonly ViolationSample[],
  keep: number,
): Promise<void> {
  const touched = new Map<string, { model: string; version: number }>();
  for (const sample of samples) {
    await trx
      .insertInto('output_violation_samples')
      .values({
        model_name: sample.model,
        version: sample.version,
        recorded_at: sample.recordedAt,
        violations: JSON.stringify(sample.violations),
        inputs: JSON.stringify(sample.inputs),
        outputs: JSON.stringify(sample.outputs),
      })
      .execute();
    touched.set(keyOf(sample.model, sample.version), sample);
  }
  if (!Number.isFinite(keep)) return;
  for (const { model, version } of touched.values()) {
    const newest = trx
      .selectFrom('output_violation_samples')
      .select('id')
      .where('model_name', '=', model)
      .where('version', '=', version)
      .orderBy('id', 'desc')
      .limit(keep);
    await trx
      .deleteFrom('output_violation_samples')
      .where('model_name', '=', model)
      .where('version', '=', version)
      .where('id', 'not in', newest)
      .execute();
  }
}
