import type { Kysely, Migration } from 'kysely';
import type { Dialect } from '../database.js';

/** Models, versions, aliases with their history, persisted usage and a key-value meta table. */
export function initialSchema(dialect: Dialect): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('models')
        .addColumn('name', 'text', (col) => col.primaryKey())
        .addColumn('description', 'text', (col) => col.notNull().defaultTo(''))
        .addColumn('labels', 'text', (col) => col.notNull().defaultTo('{}'))
        .addColumn('created_at', 'text', (col) => col.notNull())
        .addColumn('next_version', 'integer', (col) => col.notNull().defaultTo(1))
        .execute();

      await db.schema
        .createTable('versions')
        .addColumn('model_name', 'text', (col) =>
          col.notNull().references('models.name').onDelete('cascade'),
        )
        .addColumn('version', 'integer', (col) => col.notNull())
        .addColumn('format', 'text', (col) => col.notNull())
        .addColumn('sha256', 'text', (col) => col.notNull())
        .addColumn('size_bytes', 'bigint', (col) => col.notNull())
        .addColumn('signature', 'text', (col) => col.notNull())
        .addColumn('source_name', 'text', (col) => col.notNull().defaultTo(''))
        .addColumn('description', 'text', (col) => col.notNull().defaultTo(''))
        .addColumn('state', 'text', (col) => col.notNull())
        .addColumn('state_reason', 'text', (col) => col.notNull().defaultTo(''))
        .addColumn('created_at', 'text', (col) => col.notNull())
        .addPrimaryKeyConstraint('versions_pk', ['model_name', 'version'])
        .execute();
      // One version per distinct artifact within a model: a repeated push finds the existing row.
      await db.schema
        .createIndex('versions_model_sha256')
        .on('versions')
        .columns(['model_name', 'sha256'])
        .unique()
        .execute();
      await db.schema.createIndex('versions_sha256').on('versions').column('sha256').execute();

      await db.schema
        .createTable('aliases')
        .addColumn('model_name', 'text', (col) =>
          col.notNull().references('models.name').onDelete('cascade'),
        )
        .addColumn('alias', 'text', (col) => col.notNull())
        .addColumn('version', 'integer', (col) => col.notNull())
        .addColumn('updated_at', 'text', (col) => col.notNull())
        .addPrimaryKeyConstraint('aliases_pk', ['model_name', 'alias'])
        .execute();

      await db.schema
        .createTable('alias_history')
        .addColumn('id', dialect === 'postgres' ? 'bigserial' : 'integer', (col) =>
          dialect === 'postgres' ? col.primaryKey() : col.primaryKey().autoIncrement(),
        )
        .addColumn('model_name', 'text', (col) => col.notNull())
        .addColumn('alias', 'text', (col) => col.notNull())
        .addColumn('from_version', 'integer')
        .addColumn('to_version', 'integer')
        .addColumn('actor', 'text', (col) => col.notNull())
        .addColumn('reason', 'text', (col) => col.notNull().defaultTo(''))
        .addColumn('changed_at', 'text', (col) => col.notNull())
        .execute();
      await db.schema
        .createIndex('alias_history_model')
        .on('alias_history')
        .columns(['model_name', 'changed_at'])
        .execute();

      await db.schema
        .createTable('version_usage')
        .addColumn('model_name', 'text', (col) => col.notNull())
        .addColumn('version', 'integer', (col) => col.notNull())
        .addColumn('request_count', 'bigint', (col) => col.notNull().defaultTo(0))
        .addColumn('error_count', 'bigint', (col) => col.notNull().defaultTo(0))
        .addColumn('client_error_count', 'bigint', (col) => col.notNull().defaultTo(0))
        .addColumn('latency_sum_ms', 'double precision', (col) => col.notNull().defaultTo(0))
        .addColumn('first_used_at', 'text')
        .addColumn('last_used_at', 'text')
        .addPrimaryKeyConstraint('version_usage_pk', ['model_name', 'version'])
        .execute();

      await db.schema
        .createTable('usage_latency_buckets')
        .addColumn('model_name', 'text', (col) => col.notNull())
        .addColumn('version', 'integer', (col) => col.notNull())
        .addColumn('bucket', 'integer', (col) => col.notNull())
        .addColumn('count', 'bigint', (col) => col.notNull().defaultTo(0))
        .addPrimaryKeyConstraint('usage_latency_buckets_pk', ['model_name', 'version', 'bucket'])
        .execute();

      await db.schema
        .createTable('meta')
        .addColumn('key', 'text', (col) => col.primaryKey())
        .addColumn('value', 'text', (col) => col.notNull())
        .execute();
    },
    async down(db: Kysely<unknown>) {
      for (const table of [
        'meta',
        'usage_latency_buckets',
        'version_usage',
        'alias_history',
        'aliases',
        'versions',
        'models',
      ]) {
        await db.schema.dropTable(table).ifExists().execute();
      }
    },
  };
}
