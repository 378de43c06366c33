import type { Logger } from 'pino';
import type {
  AuditEntry,
  AuditEvent,
  AuditFilter,
  AuditRecorder,
  AuditRepository,
  TimedAuditEvent,
} from '../registry/audit.js';

/** How often queued entries are written while the server runs. */
export const AUDIT_FLUSH_INTERVAL_MS = 1000;
/**
 * Maximum entries kept in memory while the registry cannot take them. Past it the oldest are
 * dropped and counted in the log, which bounds memory when the database stays unwritable.
 */
const MAX_QUEUED = 50_000;
/** While writes keep failing, one error line per this many failed attempts. */
const LOG_EVERY_FAILURES = 60;

/**
 * The audit log. `record` only queues the entry with its time, so a request never waits on the
 * database. A timer writes the queue in order, and a failed write keeps the entries queued for
 * the next attempt. Reads write the queue first, so a client sees its own actions.
 */
export class AuditLog implements AuditRecorder {
  readonly #repository: AuditRepository;
  readonly #logger: Logger;
  readonly #maxQueued: number;
  #queue: TimedAuditEvent[] = [];
  /** The last write in the chain; writes run one at a time, in order. */
  #chain: Promise<void> = Promise.resolve();
  #timer: NodeJS.Timeout | undefined;
  #failures = 0;
  #dropped = 0;

  constructor(repository: AuditRepository, logger: Logger, maxQueued = MAX_QUEUED) {
    this.#repository = repository;
    this.#logger = logger;
    this.#maxQueued = maxQueued;
  }

  /** Entries recorded but not yet written. */
  get pending(): number {
    return this.#queue.length;
  }

  record(event: AuditEvent): void {
    // NOTE: the queue lives in memory, so a crash loses the entries of the last flush interval.
    this.#queue.push({ ...event, at: new Date().toISOString() });
    if (this.#queue.length <= this.#maxQueued) return;
    this.#queue.shift();
    this.#dropped += 1;
    if (this.#dropped === 1 || this.#dropped % 1000 === 0) {
      this.#logger.error(
        { dropped: this.#dropped, maxQueued: this.#maxQueued },
        'audit queue full because writes keep failing; dropping the oldest entries',
      );
    }
  }

  start(intervalMs = AUDIT_FLUSH_INTERVAL_MS): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => {
      // A failure is logged in #write and the entries stay queued for the next tick.
      this.flush().catch(() => undefined);
    }, intervalMs);
    this.#timer.unref();
  }

  /** Stops the timer and writes what is queued; entries that still fail to write are logged as lost. */
  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    try {
      await this.flush();
    } catch (error) {
      this.#logger.error(
        { err: error, lost: this.#queue.length },
        'final audit write failed; these entries are lost',
      );
    }
  }

  /** Writes every entry queued so far, after any write already running. */
  flush(): Promise<void> {
    const run = this.#chain.then(() => this.#write());
    this.#chain = run.catch(() => undefined);
    return run;
  }

  /** Writes the queue, then returns the matching stored entries, newest first. */
  async query(filter: AuditFilter): Promise<AuditEntry[]> {
    try {
      await this.flush();
    } catch {
      // Already logged; the stored entries are still worth returning.
    }
    return this.#repository.query(filter);
  }

  async #write(): Promise<void> {
    if (this.#queue.length === 0) return;
    const batch = this.#queue;
    this.#queue = [];
    try {
      await this.#repository.append(batch);
    } catch (error) {
      // Back in front of anything recorded meanwhile, so the order of the log is kept.
      this.#queue = batch.concat(this.#queue);
      this.#failures += 1;
      if (this.#failures === 1 || this.#failures % LOG_EVERY_FAILURES === 0) {
        this.#logger.error(
          { err: error, pending: this.#queue.length, failures: this.#failures },
          'writing the audit log failed; will retry',
        );
      }
      throw error;
    }
    if (this.#failures > 0) {
      this.#logger.info(
        { failures: this.#failures, written: batch.length },
        'audit log writes recovered',
      );
      this.#failures = 0;
    }
  }
}
