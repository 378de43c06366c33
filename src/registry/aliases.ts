import type { Kysely, Selectable } from 'kysely';
import { StewardError } from '../errors.js';
import type { AliasChange, AliasRecord } from './records.js';
import type { AliasHistoryTable, AliasTable, Database } from './schema.js';

/** Aliases and the history of every change to them. */
export class AliasRepository {
  readonly #db: Kysely<Database>;

  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  async list(model?: string): Promise<AliasRecord[]> {
    let query = this.#db.selectFrom('aliases').selectAll();
    if (model !== undefined) query = query.where('model_name', '=', model);
    const rows = await query.orderBy('model_name').orderBy('alias').execute();
    return rows.map(toAliasRecord);
  }

  /**
   * Points an alias at a version, or removes it when `version` is null, and records the change
   * in the same transaction. Returns the change, or undefined when nothing changed.
   */
  async set(
    model: string,
    alias: string,
    version: number | null,
    actor: string,
    reason: string,
    at: string,
  ): Promise<AliasChange | undefined> {
    return this.#db.transaction().execute(async (trx) => {
      const current = await trx
        .selectFrom('aliases')
        .select('version')
        .where('model_name', '=', model)
        .where('alias', '=', alias)
        .executeTakeFirst();
      const fromVersion = current ? Number(current.version) : null;
      if (fromVersion === version) return undefined;
      if (version !== null) {
        // Checked inside the transaction, so an archive or delete that commits first always wins.
        const target = await trx
          .selectFrom('versions')
          .select('state')
          .where('model_name', '=', model)
          .where('version', '=', version)
          .executeTakeFirst();
        if (!target) {
          throw new StewardError(
            'VERSION_NOT_FOUND',
            `model "${model}" has no version ${version}; it may have been deleted meanwhile`,
            { field: 'version' },
          );
        }
        if (target.state === 'archived') {
          throw new StewardError(
            'CONFLICT',
            `model "${model}" version ${version} is archived; restore it before pointing an alias at it`,
            { field: 'version' },
          );
        }
      }

      if (version === null) {
        await trx
          .deleteFrom('aliases')
          .where('model_name', '=', model)
          .where('alias', '=', alias)
          .execute();
      } else {
        await trx
          .insertInto('aliases')
          .values({ model_name: model, alias, version, updated_at: at })
          .onConflict((conflict) =>
            conflict.columns(['model_name', 'alias']).doUpdateSet({ version, updated_at: at }),
          )
          .execute();
      }
      const change = {
        model_name: model,
        alias,
        from_version: fromVersion,
        to_version: version,
        actor,
        reason,
        changed_at: at,
      };
      await trx.insertInto('alias_history').values(change).execute();
      return toAliasChange(change);
    });
  }

  /** Returns the alias history of a model, newest first. */
  async history(model: string, limit = 500): Promise<AliasChange[]> {
    const rows = await this.#db
      .selectFrom('alias_history')
      .selectAll()
      .where('model_name', '=', model)
      .orderBy('id', 'desc')
      .limit(limit)
      .execute();
    return rows.map(toAliasChange);
  }
}

function toAliasRecord(row: Selectable<AliasTable>): AliasRecord {
  return {
    model: row.model_name,
    alias: row.alias,
    version: Number(row.version),
    updatedAt: row.updated_at,
  };
}

function toAliasChange(row: Omit<Selectable<AliasHistoryTable>, 'id'>): AliasChange {
  return {
    model: row.model_name,
    alias: row.alias,
    fromVersion: row.from_version === null ? null : Number(row.from_version),
    toVersion: row.to_version === null ? null : Number(row.to_version),
    actor: row.actor,
    reason: row.reason,
    changedAt: row.changed_at,
  };
}
