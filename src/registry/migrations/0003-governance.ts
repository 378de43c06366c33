import type { Kysely, Migration } from 'kysely';
import type { Dialect } from '../database.js';

/**
 * The audit log of lifecycle actions, and the times a version was archived and restored, which
 * the retirement policies measure their periods from.
 */
export function governanceSchema(dialect: Dialect): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('audit_log')
        .addColumn('id', dialect === 'postgres' ? 'bigserial' : 'integer', (col) =>
          dialect === 'postgres' ? col.primaryKey() : col.primaryKey().autoIncrement(),
        )
        .addColumn('at', 'text', (col) => col.notNull())
        .addColumn('actor', 'text', (col) => col.notNull())
        .addColumn('action', 'text', (col) => col.notNull())
        // No foreign key: the entries of a deleted model or version stay in the log.
        .addColumn('model_name', 'text')
        .addColumn('version', 'integer')
        .addColumn('reason', 'text', (col) => col.notNull().defaultTo(''))
        .addColumn('details', 'text', (col) => col.notNull().defaultTo('{}'))
        .execute();
      await db.schema
        .createIndex('audit_log_model')
        .on('audit_log')
        .columns(['model_name', 'version', 'id'])
        .execute();
      await db.schema.createIndex('audit_log_at').on('audit_log').column('at').execute();

      await db.schema.alterTable('versions').addColumn('archived_at', 'text').execute();
      await db.schema.alterTable('versions').addColumn('restored_at', 'text').execute();
    },
    async down(db: Kysely<unknown>) {
      await db.schema.alterTable('versions').dropColumn('restored_at').execute();
      await db.schema.alterTable('versions').dropColumn('archived_at').execute();
      await db.schema.dropTable('audit_log').ifExists().execute();
    },
  };
}
