import type { Kysely, Selectable } from 'kysely';
import type { AuditLogTable, Database } from './schema.js';

/** Lifecycle actions that the audit log records. */
export const AUDIT_ACTIONS = [
  'upload',
  'alias_set',
  'alias_remove',
  'promote',
  'rollback',
  'staging_settings',
  'load',
  'load_failed',
  'unload',
  'evict',
  'archive',
  'restore',
  'delete',
  'delete_model',
  'pin',
  'unpin',
  'gc',
] as const;

export type AuditAction = (typeof AUDIT_ACTIONS)[number];

/** The actor of actions that Steward takes by itself: lazy loads, evictions, idle unloads. */
export const SYSTEM_ACTOR = 'steward';

/** One lifecycle action, as the code that takes it reports it. */
export interface AuditEvent {
  readonly action: AuditAction;
  readonly model: string | null;
  readonly version: number | null;
  readonly actor: string;
  readonly reason: string;
  readonly details?: Readonly<Record<string, unknown>>;
}

/** An action with the time it happened, ready to store. */
export interface TimedAuditEvent extends AuditEvent {
  readonly at: string;
}

/** A stored audit entry. */
export interface AuditEntry extends TimedAuditEvent {
  readonly id: number;
  readonly details: Readonly<Record<string, unknown>>;
}

/** Takes audit events without waiting: implementations queue them and store them later. */
export interface AuditRecorder {
  record(event: AuditEvent): void;
}

/** Filters of an audit query; every given filter must match. */
export interface AuditFilter {
  readonly model?: string;
  readonly version?: number;
  readonly action?: AuditAction;
  readonly actor?: string;
  /** ISO-8601 time; entries at or after it. */
  readonly since?: string;
  /** ISO-8601 time; entries before it. */
  readonly until?: string;
  /** Entries with an id below this one, to page back through older entries. */
  readonly beforeId?: number;
  readonly limit: number;
}

/** Rows per INSERT statement, well below SQLite's limit of bound variables per statement. */
const INSERT_CHUNK = 200;

/** The audit log table: appends and filtered reads, newest first. */
export class AuditRepository {
  readonly #db: Kysely<Database>;

  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  /** Appends events in order, all in one transaction. */
  async append(events: readonly TimedAuditEvent[]): Promise<void> {
    if (events.length === 0) return;
    const rows = events.map((event) => ({
      at: event.at,
      actor: event.actor,
      action: event.action,
      model_name: event.model,
      version: event.version,
      reason: event.reason,
      details: JSON.stringify(event.details ?? {}),
    }));
    await this.#db.transaction().execute(async (trx) => {
      for (let start = 0; start < rows.length; start += INSERT_CHUNK) {
        await trx
          .insertInto('audit_log')
          .values(rows.slice(start, start + INSERT_CHUNK))
          .execute();
      }
    });
  }

  async query(filter: AuditFilter): Promise<AuditEntry[]> {
    let query = this.#db.selectFrom('audit_log').selectAll();
    if (filter.model !== undefined) query = query.where('model_name', '=', filter.model);
    if (filter.version !== undefined) query = query.where('version', '=', filter.version);
    if (filter.action !== undefined) query = query.where('action', '=', filter.action);
    if (filter.actor !== undefined) query = query.where('actor', '=', filter.actor);
    if (filter.since !== undefined) query = query.where('at', '>=', filter.since);
    if (filter.until !== undefined) query = query.where('at', '<', filter.until);
    if (filter.beforeId !== undefined) query = query.where('id', '<', filter.beforeId);
    const rows = await query.orderBy('id', 'desc').limit(filter.limit).execute();
    return rows.map(toAuditEntry);
  }
}

function toAuditEntry(row: Selectable<AuditLogTable>): AuditEntry {
  return {
    id: Number(row.id),
    at: row.at,
    actor: row.actor,
    action: row.action as AuditAction,
    model: row.model_name,
    version: row.version === null ? null : Number(row.version),
    reason: row.reason,
    details: JSON.parse(row.details) as Record<string, unknown>,
  };
}
