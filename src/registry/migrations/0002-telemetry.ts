import type { Kysely, Migration } from 'kysely';
import type { Dialect } from '../database.js';

/** Counters added to `version_usage`; each starts at 0 for the rows that exist. */
const USAGE_COLUMNS = [
  'timeout_count',
  'unavailable_count',
  'bytes_in',
  'bytes_out',
  'inference_count',
  'execution_count',
  'invalid_output_count',
] as const;

/**
 * Failure causes, bytes, Triton stage timings, output violations with samples, output
 * expectations, golden probes with their latest results, and per-model health thresholds.
 *
 * Rows written before this migration counted timeouts and unavailable versions in
 * `error_count`, and their `latency_sum_ms` and histogram include failed requests; those
 * totals stay as they were.
 *
 * Tables that the usage flush writes in the background (timings, violations, samples, probe
 * results) have no foreign key, so a flush racing a delete cannot fail the whole batch; the
 * delete removes their rows explicitly. Settings written through the API cascade with their
 * version or model.
 */
export function telemetrySchema(dialect: Dialect): Migration {
  return {
    async up(db: Kysely<unknown>) {
      // SQLite adds one column per ALTER TABLE statement.
      for (const column of USAGE_COLUMNS) {
        await db.schema
          .alterTable('version_usage')
          .addColumn(column, 'bigint', (col) => col.notNull().defaultTo(0))
          .execute();
      }

      await db.schema
        .createTable('usage_stage_timings')
        .addColumn('model_name', 'text', (col) => col.notNull())
        .addColumn('version', 'integer', (col) => col.notNull())
        .addColumn('stage', 'text', (col) => col.notNull())
        .addColumn('count', 'bigint', (col) => col.notNull().defaultTo(0))
        .addColumn('total_ns', 'double precision', (col) => col.notNull().defaultTo(0))
        .addPrimaryKeyConstraint('usage_stage_timings_pk', ['model_name', 'version', 'stage'])
        .execute();

      await db.schema
        .createTable('output_violation_counts')
        .addColumn('model_name', 'text', (col) => col.notNull())
        .addColumn('version', 'integer', (col) => col.notNull())
        .addColumn('kind', 'text', (col) => col.notNull())
        .addColumn('count', 'bigint', (col) => col.notNull().defaultTo(0))
        .addPrimaryKeyConstraint('output_violation_counts_pk', ['model_name', 'version', 'kind'])
        .execute();

      await db.schema
        .createTable('output_violation_samples')
        .addColumn('id', dialect === 'postgres' ? 'bigserial' : 'integer', (col) =>
          dialect === 'postgres' ? col.primaryKey() : col.primaryKey().autoIncrement(),
        )
        .addColumn('model_name', 'text', (col) => col.notNull())
        .addColumn('version', 'integer', (col) => col.notNull())
        .addColumn('recorded_at', 'text', (col) => col.notNull())
        .addColumn('violations', 'text', (col) => col.notNull())
        .addColumn('inputs', 'text', (col) => col.notNull())
        .addColumn('outputs', 'text', (col) => col.notNull())
        .execute();
      await db.schema
        .createIndex('output_violation_samples_version')
        .on('output_violation_samples')
        .columns(['model_name', 'version', 'id'])
        .execute();

      await db.schema
        .createTable('output_expectations')
        .addColumn('model_name', 'text', (col) => col.notNull())
        .addColumn('version', 'integer', (col) => col.notNull())
        .addColumn('expectations', 'text', (col) => col.notNull())
        .addColumn('updated_at', 'text', (col) => col.notNull())
        .addPrimaryKeyConstraint('output_expectations_pk', ['model_name', 'version'])
        .addForeignKeyConstraint(
          'output_expectations_version_fk',
          ['model_name', 'version'],
          'versions',
          ['model_name', 'version'],
          (constraint) => constraint.onDelete('cascade'),
        )
        .execute();

      await db.schema
        .createTable('version_probes')
        .addColumn('model_name', 'text', (col) => col.notNull())
        .addColumn('version', 'integer', (col) => col.notNull())
        .addColumn('probes', 'text', (col) => col.notNull())
        .addColumn('updated_at', 'text', (col) => col.notNull())
        .addPrimaryKeyConstraint('version_probes_pk', ['model_name', 'version'])
        .addForeignKeyConstraint(
          'version_probes_version_fk',
          ['model_name', 'version'],
          'versions',
          ['model_name', 'version'],
          (constraint) => constraint.onDelete('cascade'),
        )
        .execute();

      await db.schema
        .createTable('probe_results')
        .addColumn('model_name', 'text', (col) => col.notNull())
        .addColumn('version', 'integer', (col) => col.notNull())
        .addColumn('ran_at', 'text', (col) => col.notNull())
        .addColumn('trigger', 'text', (col) => col.notNull())
        .addColumn('passed', 'integer', (col) => col.notNull())
        .addColumn('results', 'text', (col) => col.notNull())
        .addPrimaryKeyConstraint('probe_results_pk', ['model_name', 'version'])
        .execute();

      await db.schema
        .createTable('model_health_thresholds')
        .addColumn('model_name', 'text', (col) =>
          col.primaryKey().references('models.name').onDelete('cascade'),
        )
        .addColumn('max_error_rate', 'double precision')
        .addColumn('max_p95_ms', 'double precision')
        .addColumn('max_invalid_output_rate', 'double precision')
        .addColumn('min_requests', 'integer')
        .addColumn('updated_at', 'text', (col) => col.notNull())
        .execute();
    },
    async down(db: Kysely<unknown>) {
      for (const table of [
        'model_health_thresholds',
        'probe_results',
        'version_probes',
        'output_expectations',
        'output_violation_samples',
        'output_violation_counts',
        'usage_stage_timings',
      ]) {
        await db.schema.dropTable(table).ifExists().execute();
      }
      for (const column of USAGE_COLUMNS) {
        await db.schema.alterTable('version_usage').dropColumn(column).execute();
      }
    },
  };
}
