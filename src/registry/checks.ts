import type { Kysely } from 'kysely';
import type { Database } from './schema.js';

/** A JSON document stored for one version. */
export interface VersionDocument<T> {
  readonly model: string;
  readonly version: number;
  readonly value: T;
  readonly updatedAt: string;
}

/** The latest probe run of a version, with per-probe results as stored JSON. */
export interface StoredProbeRun<T> {
  readonly model: string;
  readonly version: number;
  readonly ranAt: string;
  readonly trigger: string;
  readonly passed: boolean;
  readonly results: T;
}

/** Per-model health threshold overrides; null keeps the server default. */
export interface StoredThresholds {
  readonly model: string;
  readonly maxErrorRate: number | null;
  readonly maxP95Ms: number | null;
  readonly maxInvalidOutputRate: number | null;
  readonly minRequests: number | null;
  readonly updatedAt: string;
}

type DocumentTable = 'output_expectations' | 'version_probes';

/**
 * Checks that users declare per version (output expectations, golden probes) and per model
 * (health thresholds), and the latest probe results. The JSON documents are validated by
 * their owners before they are written, so they are read back as stored.
 */
export class ChecksRepository {
  readonly #db: Kysely<Database>;

  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  listExpectations<T>(): Promise<VersionDocument<T>[]> {
    return this.#list<T>('output_expectations', 'expectations');
  }

  setExpectations(model: string, version: number, value: unknown, at: string): Promise<void> {
    return this.#set('output_expectations', 'expectations', model, version, value, at);
  }

  deleteExpectations(model: string, version: number): Promise<void> {
    return this.#delete('output_expectations', model, version);
  }

  listProbes<T>(): Promise<VersionDocument<T>[]> {
    return this.#list<T>('version_probes', 'probes');
  }

  setProbes(model: string, version: number, value: unknown, at: string): Promise<void> {
    return this.#set('version_probes', 'probes', model, version, value, at);
  }

  deleteProbes(model: string, version: number): Promise<void> {
    return this.#delete('version_probes', model, version);
  }

  async listProbeRuns<T>(): Promise<StoredProbeRun<T>[]> {
    const rows = await this.#db.selectFrom('probe_results').selectAll().execute();
    return rows.map((row) => ({
      model: row.model_name,
      version: Number(row.version),
      ranAt: row.ran_at,
      trigger: row.trigger,
      passed: Number(row.passed) === 1,
      results: JSON.parse(row.results) as T,
    }));
  }

  async getProbeRun<T>(model: string, version: number): Promise<StoredProbeRun<T> | undefined> {
    const row = await this.#db
      .selectFrom('probe_results')
      .selectAll()
      .where('model_name', '=', model)
      .where('version', '=', version)
      .executeTakeFirst();
    if (!row) return undefined;
    return {
      model: row.model_name,
      version: Number(row.version),
      ranAt: row.ran_at,
      trigger: row.trigger,
      passed: Number(row.passed) === 1,
      results: JSON.parse(row.results) as T,
    };
  }

  /** Replaces the stored run of a version with a newer one. */
  async setProbeRun(run: StoredProbeRun<unknown>): Promise<void> {
    const values = {
      ran_at: run.ranAt,
      trigger: run.trigger,
      passed: run.passed ? 1 : 0,
      results: JSON.stringify(run.results),
    };
    await this.#db
      .insertInto('probe_results')
      .values({ model_name: run.model, version: run.version, ...values })
      .onConflict((conflict) => conflict.columns(['model_name', 'version']).doUpdateSet(values))
      .execute();
  }

  deleteProbeRun(model: string, version: number): Promise<void> {
    return this.#delete('probe_results', model, version);
  }

  async listThresholds(): Promise<StoredThresholds[]> {
    const rows = await this.#db.selectFrom('model_health_thresholds').selectAll().execute();
    return rows.map((row) => ({
      model: row.model_name,
      maxErrorRate: nullableNumber(row.max_error_rate),
      maxP95Ms: nullableNumber(row.max_p95_ms),
      maxInvalidOutputRate: nullableNumber(row.max_invalid_output_rate),
      minRequests: nullableNumber(row.min_requests),
      updatedAt: row.updated_at,
    }));
  }

  async setThresholds(thresholds: StoredThresholds): Promise<void> {
    const values = {
      max_error_rate: thresholds.maxErrorRate,
      max_p95_ms: thresholds.maxP95Ms,
      max_invalid_output_rate: thresholds.maxInvalidOutputRate,
      min_requests: thresholds.minRequests,
      updated_at: thresholds.updatedAt,
    };
    await this.#db
      .insertInto('model_health_thresholds')
      .values({ model_name: thresholds.model, ...values })
      .onConflict((conflict) => conflict.column('model_name').doUpdateSet(values))
      .execute();
  }

  async deleteThresholds(model: string): Promise<void> {
    await this.#db.deleteFrom('model_health_thresholds').where('model_name', '=', model).execute();
  }

  async #list<T>(
    table: DocumentTable,
    column: 'expectations' | 'probes',
  ): Promise<VersionDocument<T>[]> {
    const rows = await this.#db
      .selectFrom(table)
      .select(['model_name', 'version', 'updated_at', column])
      .execute();
    return rows.map((row) => ({
      model: row.model_name,
      version: Number(row.version),
      value: JSON.parse((row as unknown as Record<string, string>)[column]!) as T,
      updatedAt: row.updated_at,
    }));
  }

  async #set(
    table: DocumentTable,
    column: 'expectations' | 'probes',
    model: string,
    version: number,
    value: unknown,
    at: string,
  ): Promise<void> {
    const values = { [column]: JSON.stringify(value), updated_at: at };
    await this.#db
      .insertInto(table)
      .values({ model_name: model, version, ...values } as never)
      .onConflict((conflict) => conflict.columns(['model_name', 'version']).doUpdateSet(values))
      .execute();
  }

  async #delete(
    table: DocumentTable | 'probe_results',
    model: string,
    version: number,
  ): Promise<void> {
    await this.#db
      .deleteFrom(table)
      .where('model_name', '=', model)
      .where('version', '=', version)
      .execute();
  }
}

function nullableNumber(value: number | null): number | null {
  return value === null ? null : Number(value);
}
