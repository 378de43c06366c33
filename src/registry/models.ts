import type { Kysely, Selectable, Transaction } from 'kysely';
import type { Signature } from '../tensors/types.js';
import type { ModelRecord, VersionRecord } from './records.js';
import type { Database, ModelTable, VersionState, VersionTable } from './schema.js';

export interface NewVersion {
  readonly model: string;
  readonly format: string;
  readonly sha256: string;
  readonly sizeBytes: number;
  readonly signature: Signature;
  readonly sourceName: string;
  readonly description: string;
  readonly createdAt: string;
}

/** Queries over models and their versions. */
export class ModelRepository {
  readonly #db: Kysely<Database>;

  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  async listModels(): Promise<ModelRecord[]> {
    const rows = await this.#db.selectFrom('models').selectAll().orderBy('name').execute();
    return rows.map(toModelRecord);
  }

  async getModel(name: string): Promise<ModelRecord | undefined> {
    const row = await this.#db
      .selectFrom('models')
      .selectAll()
      .where('name', '=', name)
      .executeTakeFirst();
    return row ? toModelRecord(row) : undefined;
  }

  async listVersions(model?: string): Promise<VersionRecord[]> {
    let query = this.#db.selectFrom('versions').selectAll();
    if (model !== undefined) query = query.where('model_name', '=', model);
    const rows = await query.orderBy('model_name').orderBy('version').execute();
    return rows.map(toVersionRecord);
  }

  async getVersion(model: string, version: number): Promise<VersionRecord | undefined> {
    const row = await this.#db
      .selectFrom('versions')
      .selectAll()
      .where('model_name', '=', model)
      .where('version', '=', version)
      .executeTakeFirst();
    return row ? toVersionRecord(row) : undefined;
  }

  /**
   * Registers a version, creating the model on its first version. When the model already has
   * a version with the same sha256, returns that one with `created: false`. The number comes
   * from the model's counter inside the same transaction, so concurrent inserts get distinct,
   * consecutive numbers; a rolled-back insert also rolls back its counter step.
   */
  async insertVersion(input: NewVersion): Promise<{ record: VersionRecord; created: boolean }> {
    try {
      return await this.#db.transaction().execute((trx) => this.#insertVersionIn(trx, input));
    } catch (error) {
      // A concurrent push of the same bytes won the unique (model, sha256) index.
      const existing = await this.#findBySha(this.#db, input.model, input.sha256);
      if (existing) return { record: existing, created: false };
      throw error;
    }
  }

  async #insertVersionIn(
    trx: Transaction<Database>,
    input: NewVersion,
  ): Promise<{ record: VersionRecord; created: boolean }> {
    // A model deleted earlier keeps its counter in meta, so its numbers are never reused.
    const counter = await trx
      .selectFrom('meta')
      .select('value')
      .where('key', '=', counterKey(input.model))
      .executeTakeFirst();
    await trx
      .insertInto('models')
      .values({
        name: input.model,
        description: '',
        labels: '{}',
        created_at: input.createdAt,
        next_version: counter ? Number(counter.value) : 1,
      })
      .onConflict((conflict) => conflict.column('name').doNothing())
      .execute();

    const existing = await this.#findBySha(trx, input.model, input.sha256);
    if (existing) return { record: existing, created: false };

    const next = await trx
      .updateTable('models')
      .set((eb) => ({ next_version: eb('next_version', '+', 1) }))
      .where('name', '=', input.model)
      .returning('next_version')
      .executeTakeFirstOrThrow();
    const version = next.next_version - 1;

    const row = await trx
      .insertInto('versions')
      .values({
        model_name: input.model,
        version,
        format: input.format,
        sha256: input.sha256,
        size_bytes: input.sizeBytes,
        signature: JSON.stringify(input.signature),
        source_name: input.sourceName,
        description: input.description,
        state: 'ready',
        state_reason: '',
        created_at: input.createdAt,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    return { record: toVersionRecord(row), created: true };
  }

  async #findBySha(
    db: Kysely<Database>,
    model: string,
    sha256: string,
  ): Promise<VersionRecord | undefined> {
    const row = await db
      .selectFrom('versions')
      .selectAll()
      .where('model_name', '=', model)
      .where('sha256', '=', sha256)
      .executeTakeFirst();
    return row ? toVersionRecord(row) : undefined;
  }

  async setVersionState(
    model: string,
    version: number,
    state: VersionState,
    reason: string,
  ): Promise<void> {
    await this.#db
      .updateTable('versions')
      .set({ state, state_reason: reason })
      .where('model_name', '=', model)
      .where('version', '=', version)
      .execute();
  }

  /**
   * Archives a version unless it is archived already or an alias points at it. The alias check
   * runs in the same statement, so an alias set concurrently cannot end up on an archived
   * version. Returns whether the version was archived.
   */
  async archiveVersion(
    model: string,
    version: number,
    reason: string,
    at: string,
  ): Promise<boolean> {
    const result = await this.#db
      .updateTable('versions')
      .set({ state: 'archived', state_reason: reason, archived_at: at })
      .where('model_name', '=', model)
      .where('version', '=', version)
      .where('state', '!=', 'archived')
      .where(({ not, exists, selectFrom }) =>
        not(
          exists(
            selectFrom('aliases')
              .select('aliases.alias')
              .where('aliases.model_name', '=', model)
              .where('aliases.version', '=', version),
          ),
        ),
      )
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  /** Brings an archived version back to the `ready` state; returns false when it was not archived. */
  async restoreVersion(model: string, version: number, at: string): Promise<boolean> {
    const result = await this.#db
      .updateTable('versions')
      .set({ state: 'ready', state_reason: '', archived_at: null, restored_at: at })
      .where('model_name', '=', model)
      .where('version', '=', version)
      .where('state', '=', 'archived')
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  async updateModel(
    name: string,
    changes: { description?: string; labels?: Record<string, string> },
  ): Promise<void> {
    const set: Partial<Pick<ModelTable, 'description' | 'labels'>> = {};
    if (changes.description !== undefined) set.description = changes.description;
    if (changes.labels !== undefined) set.labels = JSON.stringify(changes.labels);
    if (Object.keys(set).length === 0) return;
    await this.#db.updateTable('models').set(set).where('name', '=', name).execute();
  }

  /** Counts the versions, across all models, whose artifact has this sha256. */
  async countBySha(sha256: string): Promise<number> {
    const row = await this.#db
      .selectFrom('versions')
      .select((eb) => eb.fn.countAll<number | string>().as('count'))
      .where('sha256', '=', sha256)
      .executeTakeFirstOrThrow();
    return Number(row.count);
  }

  /** Deletes a model with its versions and aliases, keeping its version counter. */
  async deleteModel(name: string): Promise<void> {
    await this.#db.transaction().execute(async (trx) => {
      const row = await trx
        .selectFrom('models')
        .select('next_version')
        .where('name', '=', name)
        .executeTakeFirst();
      if (!row) return;
      const value = String(row.next_version);
      await trx
        .insertInto('meta')
        .values({ key: counterKey(name), value })
        .onConflict((conflict) => conflict.column('key').doUpdateSet({ value }))
        .execute();
      await trx.deleteFrom('aliases').where('model_name', '=', name).execute();
      await trx.deleteFrom('versions').where('model_name', '=', name).execute();
      await trx.deleteFrom('models').where('name', '=', name).execute();
    });
  }

  async deleteVersion(model: string, version: number): Promise<void> {
    await this.#db.transaction().execute(async (trx) => {
      await trx
        .deleteFrom('aliases')
        .where('model_name', '=', model)
        .where('version', '=', version)
        .execute();
      await trx
        .deleteFrom('versions')
        .where('model_name', '=', model)
        .where('version', '=', version)
        .execute();
    });
  }
}

function counterKey(model: string): string {
  return `next_version:${model}`;
}

function toModelRecord(row: Selectable<ModelTable>): ModelRecord {
  return {
    name: row.name,
    description: row.description,
    labels: JSON.parse(row.labels) as Record<string, string>,
    createdAt: row.created_at,
  };
}

function toVersionRecord(row: Selectable<VersionTable>): VersionRecord {
  return {
    model: row.model_name,
    version: Number(row.version),
    format: row.format,
    sha256: row.sha256,
    sizeBytes: Number(row.size_bytes),
    signature: JSON.parse(row.signature) as Signature,
    sourceName: row.source_name,
    description: row.description,
    state: row.state,
    stateReason: row.state_reason,
    createdAt: row.created_at,
    archivedAt: row.archived_at,
    restoredAt: row.restored_at,
  };
}
