import type { Logger } from 'pino';
import type { UsageDelta, UsageRepository } from '../registry/usage.js';
import { bucketOf, percentile } from './histogram.js';
import { LatencySeries } from './latency-series.js';

/**
 * Outcome of a request. A `client_error` was rejected before the model ran (an invalid tensor).
 * A `model_error` failed in or around the model (load failure, runtime error).
 */
export type Outcome = 'success' | 'client_error' | 'model_error';

/** Usage figures of one version, as the API reports them. */
export interface UsageSnapshot {
  readonly requests: number;
  readonly successes: number;
  readonly errors: number;
  readonly clientErrors: number;
  readonly firstUsedAt: string | null;
  readonly lastUsedAt: string | null;
  readonly latencyMs: {
    readonly mean: number | null;
    readonly p50: number | null;
    readonly p95: number | null;
    readonly p99: number | null;
  };
  /** Share of model errors among the most recent requests that reached the model. */
  readonly recentErrorRate: number;
  readonly recentSamples: number;
}

interface Figures {
  requests: number;
  errors: number;
  clientErrors: number;
  latencySumMs: number;
  latencyCount: number;
  firstUsedAt: string | null;
  lastUsedAt: string | null;
  buckets: Map<number, number>;
}

const RECENT_WINDOW = 20;

function emptyFigures(): Figures {
  return {
    requests: 0,
    errors: 0,
    clientErrors: 0,
    latencySumMs: 0,
    latencyCount: 0,
    firstUsedAt: null,
    lastUsedAt: null,
    buckets: new Map(),
  };
}

interface Entry {
  readonly model: string;
  readonly version: number;
  /** Totals: stored figures plus everything recorded since start. */
  readonly total: Figures;
  /** Recorded since the last successful flush. */
  pending: Figures;
  /** Outcomes of the latest requests that reached the model: true for a model error. */
  readonly recent: boolean[];
}

/**
 * Per-version usage counted in memory on the request path and added to the registry on an
 * interval and at shutdown, so a request never waits on the database.
 */
export class UsageTracker {
  readonly #repository: UsageRepository;
  readonly #logger: Logger;
  readonly #entries = new Map<string, Entry>();
  /** Per-minute latency of the last two hours, for charts; in memory only. */
  readonly series = new LatencySeries();
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> | undefined;

  constructor(repository: UsageRepository, logger: Logger) {
    this.#repository = repository;
    this.#logger = logger;
  }

  /** Loads the stored totals; call once before recording. */
  async load(): Promise<void> {
    for (const stored of await this.#repository.loadAll()) {
      const entry = this.#entry(stored.model, stored.version);
      Object.assign(entry.total, {
        requests: stored.requests,
        errors: stored.errors,
        clientErrors: stored.clientErrors,
        latencySumMs: stored.latencySumMs,
        latencyCount: [...stored.buckets.values()].reduce((sum, count) => sum + count, 0),
        firstUsedAt: stored.firstUsedAt,
        lastUsedAt: stored.lastUsedAt,
        buckets: new Map(stored.buckets),
      });
    }
  }

  record(model: string, version: number, outcome: Outcome, latencyMs: number): void {
    const entry = this.#entry(model, version);
    const now = new Date().toISOString();
    for (const figures of [entry.total, entry.pending]) {
      figures.requests += 1;
      if (outcome === 'model_error') figures.errors += 1;
      if (outcome === 'client_error') figures.clientErrors += 1;
      figures.firstUsedAt ??= now;
      figures.lastUsedAt = now;
      if (outcome !== 'client_error') {
        figures.latencySumMs += latencyMs;
        figures.latencyCount += 1;
        const bucket = bucketOf(latencyMs);
        figures.buckets.set(bucket, (figures.buckets.get(bucket) ?? 0) + 1);
      }
    }
    if (outcome !== 'client_error') {
      this.series.add(model, version, latencyMs, outcome === 'model_error');
      entry.recent.push(outcome === 'model_error');
      if (entry.recent.length > RECENT_WINDOW) entry.recent.shift();
    }
  }

  snapshot(model: string, version: number): UsageSnapshot {
    const entry = this.#entries.get(key(model, version));
    const total = entry?.total ?? emptyFigures();
    const recent = entry?.recent ?? [];
    const recentErrors = recent.filter(Boolean).length;
    return {
      requests: total.requests,
      successes: total.requests - total.errors - total.clientErrors,
      errors: total.errors,
      clientErrors: total.clientErrors,
      firstUsedAt: total.firstUsedAt,
      lastUsedAt: total.lastUsedAt,
      latencyMs: {
        mean: total.latencyCount > 0 ? round(total.latencySumMs / total.latencyCount) : null,
        p50: roundOrNull(percentile(total.buckets, 50)),
        p95: roundOrNull(percentile(total.buckets, 95)),
        p99: roundOrNull(percentile(total.buckets, 99)),
      },
      recentErrorRate: recent.length > 0 ? recentErrors / recent.length : 0,
      recentSamples: recent.length,
    };
  }

  /** Drops the figures of a deleted version, stored and pending. */
  async forget(model: string, version: number): Promise<void> {
    this.#entries.delete(key(model, version));
    this.series.forget(model, version);
    await this.#repository.deleteVersion(model, version);
  }

  start(intervalMs: number): void {
    this.#timer = setInterval(() => {
      this.flush().catch(() => undefined);
    }, intervalMs);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.flush();
  }

  /** Writes pending figures; on failure they stay pending for the next flush. */
  flush(): Promise<void> {
    this.#flushing ??= this.#flush().finally(() => {
      this.#flushing = undefined;
    });
    return this.#flushing;
  }

  async #flush(): Promise<void> {
    const batch: Array<{ entry: Entry; pending: Figures }> = [];
    for (const entry of this.#entries.values()) {
      if (entry.pending.requests === 0) continue;
      batch.push({ entry, pending: entry.pending });
      entry.pending = emptyFigures();
    }
    if (batch.length === 0) return;
    const deltas: UsageDelta[] = batch.map(({ entry, pending }) => ({
      model: entry.model,
      version: entry.version,
      requests: pending.requests,
      errors: pending.errors,
      clientErrors: pending.clientErrors,
      latencySumMs: pending.latencySumMs,
      firstUsedAt: pending.firstUsedAt,
      lastUsedAt: pending.lastUsedAt,
      buckets: pending.buckets,
    }));
    try {
      await this.#repository.addDeltas(deltas);
    } catch (error) {
      for (const { entry, pending } of batch) mergeInto(entry.pending, pending);
      this.#logger.error({ err: error, versions: batch.length }, 'usage flush failed; will retry');
      throw error;
    }
  }

  #entry(model: string, version: number): Entry {
    const id = key(model, version);
    let entry = this.#entries.get(id);
    if (!entry) {
      entry = { model, version, total: emptyFigures(), pending: emptyFigures(), recent: [] };
      this.#entries.set(id, entry);
    }
    return entry;
  }
}

/** Adds `older` pending figures back under ones recorded while a flush was failing. */
function mergeInto(target: Figures, older: Figures): void {
  target.requests += older.requests;
  target.errors += older.errors;
  target.clientErrors += older.clientErrors;
  target.latencySumMs += older.latencySumMs;
  target.latencyCount += older.latencyCount;
  target.firstUsedAt = older.firstUsedAt ?? target.firstUsedAt;
  target.lastUsedAt = target.lastUsedAt ?? older.lastUsedAt;
  for (const [bucket, count] of older.buckets) {
    target.buckets.set(bucket, (target.buckets.get(bucket) ?? 0) + count);
  }
}

function key(model: string, version: number): string {
  return `${model}:${version}`;
}

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}

function roundOrNull(value: number | null): number | null {
  return value === null ? null : round(value);
}
