import type { Kysely, Migration } from 'kysely';

/**
 * Staging: per-model shadow and canary settings, the running comparison of a staging version
 * against production, and the usage of shadow runs, kept apart from live usage.
 *
 * The shadow usage tables have the columns of the live usage tables as of 0002-telemetry
 * (`version_usage`, `usage_latency_buckets`, `usage_stage_timings`, `output_violation_counts`),
 * so one repository serves both kinds of usage. Shadow runs keep no violation samples, so
 * `output_violation_samples` has no shadow counterpart. Like the live tables, they have no
 * foreign key: the usage flush writes them in the background, and deleting a version removes
 * their rows explicitly.
 */
export function stagingSchema(): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('staging_settings')
        .addColumn('model_name', 'text', (col) =>
          col.primaryKey().references('models.name').onDelete('cascade'),
        )
        .addColumn('shadow_percent', 'double precision')
        .addColumn('canary_percent', 'double precision')
        .addColumn('canary_header', 'text')
        .addColumn('tolerance', 'double precision')
        .addColumn('updated_at', 'text', (col) => col.notNull())
        .execute();

      await db.schema
        .createTable('staging_comparisons')
        .addColumn('model_name', 'text', (col) =>
          col.primaryKey().references('models.name').onDelete('cascade'),
        )
        .addColumn('production_version', 'integer', (col) => col.notNull())
        .addColumn('staging_version', 'integer', (col) => col.notNull())
        .addColumn('started_at', 'text', (col) => col.notNull())
        .addColumn('updated_at', 'text', (col) => col.notNull())
        .addColumn('totals', 'text', (col) => col.notNull())
        .execute();

      await db.schema
        .createTable('shadow_usage')
        .addColumn('model_name', 'text', (col) => col.notNull())
        .addColumn('version', 'integer', (col) => col.notNull())
        .addColumn('request_count', 'bigint', (col) => col.notNull().defaultTo(0))
        .addColumn('error_count', 'bigint', (col) => col.notNull().defaultTo(0))
        .addColumn('client_error_count', 'bigint', (col) => col.notNull().defaultTo(0))
        .addColumn('timeout_count', 'bigint', (col) => col.notNull().defaultTo(0))
        .addColumn('unavailable_count', 'bigint', (col) => col.notNull().defaultTo(0))
        .addColumn('bytes_in', 'bigint', (col) => col.notNull().defaultTo(0))
        .addColumn('bytes_out', 'bigint', (col) => col.notNull().defaultTo(0))
        .addColumn('inference_count', 'bigint', (col) => col.notNull().defaultTo(0))
        .addColumn('execution_count', 'bigint', (col) => col.notNull().defaultTo(0))
        .addColumn('invalid_output_count', 'bigint', (col) => col.notNull().defaultTo(0))
        .addColumn('latency_sum_ms', 'double precision', (col) => col.notNull().defaultTo(0))
        .addColumn('first_used_at', 'text')
        .addColumn('last_used_at', 'text')
        .addPrimaryKeyConstraint('shadow_usage_pk', ['model_name', 'version'])
        .execute();

      await db.schema
        .createTable('shadow_latency_buckets')
        .addColumn('model_name', 'text', (col) => col.notNull())
        .addColumn('version', 'integer', (col) => col.notNull())
        .addColumn('bucket', 'integer', (col) => col.notNull())
        .addColumn('count', 'bigint', (col) => col.notNull().defaultTo(0))
        .addPrimaryKeyConstraint('shadow_latency_buckets_pk', ['model_name', 'version', 'bucket'])
        .execute();

      await db.schema
        .createTable('shadow_stage_timings')
        .addColumn('model_name', 'text', (col) => col.notNull())
        .addColumn('version', 'integer', (col) => col.notNull())
        .addColumn('stage', 'text', (col) => col.notNull())
        .addColumn('count', 'bigint', (col) => col.notNull().defaultTo(0))
        .addColumn('total_ns', 'double precision', (col) => col.notNull().defaultTo(0))
        .addPrimaryKeyConstraint('shadow_stage_timings_pk', ['model_name', 'version', 'stage'])
        .execute();

      await db.schema
        .createTable('shadow_violation_counts')
        .addColumn('model_name', 'text', (col) => col.notNull())
        .addColumn('version', 'integer', (col) => col.notNull())
        .addColumn('kind', 'text', (col) => col.notNull())
        .addColumn('count', 'bigint', (col) => col.notNull().defaultTo(0))
        .addPrimaryKeyConstraint('shadow_violation_counts_pk', ['model_name', 'version', 'kind'])
        .execute();
    },
    async down(db: Kysely<unknown>) {
      for (const table of [
        'shadow_violation_counts',
        'shadow_stage_timings',
        'shadow_latency_buckets',
        'shadow_usage',
        'staging_comparisons',
        'staging_settings',
      ]) {
        await db.schema.dropTable(table).ifExists().execute();
      }
    },
  };
}
