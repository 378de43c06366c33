import type { Logger } from 'pino';
import type { UsageDelta, UsageRepository, ViolationSample } from '../registry/usage.js';
import {
  addRequest,
  emptyFigures,
  type FailureCause,
  type Figures,
  mergeFigures,
  type RequestSummary,
  STAGES,
  type Stage,
} from './figures.js';
import { bucketOf } from './histogram.js';
import { LatencySeries } from './latency-series.js';
import { latencyPercentiles, roundMs, SlidingWindow } from './window.js';

export type { FailureCause, Outcome, RequestSummary } from './figures.js';

/** Usage figures of one version, as the API reports them. */
export interface UsageSnapshot {
  readonly requests: number;
  readonly successes: number;
  readonly failures: Readonly<Record<FailureCause, number>>;
  /** Requests that reached this version and have not finished. */
  readonly inFlight: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly inferenceCount: number;
  readonly executionCount: number;
  /** Successful responses with at least one output violation. */
  readonly invalidResponses: number;
  /** Responses by kind of output violation. */
  readonly violations: Readonly<Record<string, number>>;
  readonly firstUsedAt: string | null;
  readonly lastUsedAt: string | null;
  /** Latency of successful requests since the first request. */
  readonly latencyMs: LatencySummary & { readonly mean: number | null };
  readonly latencySumMs: number;
  readonly window: WindowSnapshot;
  readonly stages: Readonly<Record<Stage, { readonly count: number; readonly ns: number }>>;
  /** All-time latency histogram of successful requests, by bucket index. */
  readonly buckets: ReadonlyMap<number, number>;
}

export interface LatencySummary {
  readonly p50: number | null;
  readonly p95: number | null;
  readonly p99: number | null;
}

/** Requests of the sliding window; rates are null when their denominator is 0. */
export interface WindowSnapshot {
  readonly seconds: number;
  readonly requests: number;
  readonly successes: number;
  readonly failures: Readonly<Record<FailureCause, number>>;
  readonly invalidResponses: number;
  /** Model errors, timeouts and unavailable among the requests that were not bad requests. */
  readonly errorRate: number | null;
  /** Invalid responses among successful requests. */
  readonly invalidOutputRate: number | null;
  readonly latencyMs: LatencySummary;
}

export interface UsageSettings {
  readonly windowMs: number;
  /** Violation samples kept per version; 0 keeps none. */
  readonly samplesPerVersion: number;
}

interface Entry {
  readonly model: string;
  readonly version: number;
  /** Totals: stored figures plus everything recorded since start. */
  readonly total: Figures;
  /** Recorded since the last successful flush. */
  pending: Figures;
  readonly window: SlidingWindow;
  inFlight: number;
  /** Samples this version may take now; refills at one per SAMPLE_INTERVAL_MS. */
  sampleTokens: number;
  sampleTokensAt: number;
}

/** Samples waiting for the next flush, across all versions. */
const MAX_PENDING_SAMPLES = 1000;

/**
 * Sampling rate of a version once its burst is spent: one sample per this many milliseconds.
 * The burst is as large as the number of samples kept.
 */
const SAMPLE_INTERVAL_MS = 1000;

/**
 * Per-version usage counted in memory on the request path and added to the registry on an
 * interval and at shutdown, so a request never waits on the database. The sliding window and
 * the requests in flight live in memory only.
 */
export class UsageTracker {
  readonly #repository: UsageRepository;
  readonly #settings: UsageSettings;
  readonly #logger: Logger;
  readonly #entries = new Map<string, Entry>();
  #pendingSamples: ViolationSample[] = [];
  /** Per-minute latency of the last two hours, for charts; in memory only. */
  readonly series = new LatencySeries();
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> | undefined;

  constructor(repository: UsageRepository, settings: UsageSettings, logger: Logger) {
    this.#repository = repository;
    this.#settings = settings;
    this.#logger = logger;
  }

  get windowMs(): number {
    return this.#settings.windowMs;
  }

  /** Loads the stored totals; call once before recording. */
  async load(): Promise<void> {
    for (const stored of await this.#repository.loadAll()) {
      mergeFigures(this.#entry(stored.model, stored.version).total, stored);
    }
  }

  /** Counts a request that reached a version; `finish` must follow exactly once. */
  begin(model: string, version: number): void {
    this.#entry(model, version).inFlight += 1;
  }

  finish(model: string, version: number, summary: RequestSummary): void {
    const entry = this.#entry(model, version);
    entry.inFlight = Math.max(0, entry.inFlight - 1);
    const at = new Date().toISOString();
    const bucket = bucketOf(summary.latencyMs);
    addRequest(entry.total, summary, bucket, at);
    addRequest(entry.pending, summary, bucket, at);
    entry.window.add(summary.outcome, bucket, summary.violations.length > 0);
    if (summary.outcome !== 'bad_request') {
      this.series.add(model, version, summary.latencyMs, summary.outcome !== 'success');
    }
  }

  /**
   * Keeps a sample of a response that broke an output check. `build` runs only when the
   * sample is kept: a version may take as many samples at once as it keeps, then one per
   * second, so a model that fails every response does not rebuild samples on every request.
   */
  sample(
    model: string,
    version: number,
    build: () => Omit<ViolationSample, 'model' | 'version' | 'recordedAt'>,
  ): void {
    if (this.#settings.samplesPerVersion <= 0) return;
    const entry = this.#entry(model, version);
    const now = Date.now();
    const refill = (now - entry.sampleTokensAt) / SAMPLE_INTERVAL_MS;
    entry.sampleTokens = Math.min(this.#settings.samplesPerVersion, entry.sampleTokens + refill);
    entry.sampleTokensAt = now;
    if (entry.sampleTokens < 1) return;
    entry.sampleTokens -= 1;
    this.#pendingSamples.push({
      ...build(),
      model,
      version,
      recordedAt: new Date(now).toISOString(),
    });
    // Bounds memory while flushes fail; the oldest samples would be trimmed first anyway.
    if (this.#pendingSamples.length > MAX_PENDING_SAMPLES) this.#pendingSamples.shift();
  }

  /** Returns the kept samples of a version, newest first, after writing pending ones. */
  async samples(model: string, version: number): Promise<ViolationSample[]> {
    await this.flush();
    return this.#repository.samples(model, version);
  }

  snapshot(model: string, version: number): UsageSnapshot {
    const entry = this.#entries.get(key(model, version));
    const total = entry?.total ?? emptyFigures();
    const failures = {
      bad_request: total.badRequests,
      model_error: total.modelErrors,
      timeout: total.timeouts,
      unavailable: total.unavailable,
    };
    const failed = total.badRequests + total.modelErrors + total.timeouts + total.unavailable;
    const stages = Object.fromEntries(
      STAGES.map((stage) => [stage, total.stages.get(stage) ?? { count: 0, ns: 0 }]),
    ) as Record<Stage, { count: number; ns: number }>;
    return {
      requests: total.requests,
      successes: total.requests - failed,
      failures,
      inFlight: entry?.inFlight ?? 0,
      bytesIn: total.bytesIn,
      bytesOut: total.bytesOut,
      inferenceCount: total.inferenceCount,
      executionCount: total.executionCount,
      invalidResponses: total.invalidResponses,
      violations: Object.fromEntries(total.violations),
      firstUsedAt: total.firstUsedAt,
      lastUsedAt: total.lastUsedAt,
      latencyMs: {
        mean: total.executionCount > 0 ? roundMs(total.latencySumMs / total.executionCount) : null,
        ...latencyPercentiles(total.buckets),
      },
      latencySumMs: total.latencySumMs,
      window: this.#windowSnapshot(entry),
      stages,
      buckets: total.buckets,
    };
  }

  /** Drops the figures of a deleted version, stored and pending. */
  async forget(model: string, version: number): Promise<void> {
    this.#entries.delete(key(model, version));
    this.#pendingSamples = this.#pendingSamples.filter(
      (sample) => sample.model !== model || sample.version !== version,
    );
    this.series.forget(model, version);
    await this.#repository.deleteVersion(model, version);
  }

  start(intervalMs: number): void {
    this.#timer = setInterval(() => {
      // A failed flush is logged in #flush and retried on the next tick.
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

  #windowSnapshot(entry: Entry | undefined): WindowSnapshot {
    const seconds = this.#settings.windowMs / 1000;
    const figures = entry?.window.figures();
    const failures = figures?.failures ?? {
      bad_request: 0,
      model_error: 0,
      timeout: 0,
      unavailable: 0,
    };
    const requests = figures?.requests ?? 0;
    const successes = figures?.successes ?? 0;
    const invalidResponses = figures?.invalidResponses ?? 0;
    const served = requests - failures.bad_request;
    const errors = failures.model_error + failures.timeout + failures.unavailable;
    return {
      seconds,
      requests,
      successes,
      failures,
      invalidResponses,
      errorRate: served > 0 ? errors / served : null,
      invalidOutputRate: successes > 0 ? invalidResponses / successes : null,
      latencyMs: latencyPercentiles(figures?.buckets ?? new Map()),
    };
  }

  async #flush(): Promise<void> {
    const batch: Array<{ entry: Entry; pending: Figures }> = [];
    for (const entry of this.#entries.values()) {
      if (entry.pending.requests === 0) continue;
      batch.push({ entry, pending: entry.pending });
      entry.pending = emptyFigures();
    }
    const samples = this.#pendingSamples;
    this.#pendingSamples = [];
    if (batch.length === 0 && samples.length === 0) return;
    const deltas: UsageDelta[] = batch.map(({ entry, pending }) => ({
      ...pending,
      model: entry.model,
      version: entry.version,
    }));
    try {
      await this.#repository.addDeltas(deltas, samples, this.#settings.samplesPerVersion);
    } catch (error) {
      for (const { entry, pending } of batch) mergeFigures(entry.pending, pending);
      this.#pendingSamples = [...samples, ...this.#pendingSamples];
      this.#logger.error({ err: error, versions: batch.length }, 'usage flush failed; will retry');
      throw error;
    }
  }

  #entry(model: string, version: number): Entry {
    const id = key(model, version);
    let entry = this.#entries.get(id);
    if (!entry) {
      entry = {
        model,
        version,
        total: emptyFigures(),
        pending: emptyFigures(),
        window: new SlidingWindow(this.#settings.windowMs),
        inFlight: 0,
        sampleTokens: this.#settings.samplesPerVersion,
        sampleTokensAt: Date.now(),
      };
      this.#entries.set(id, entry);
    }
    return entry;
  }
}

function key(model: string, version: number): string {
  return `${model}:${version}`;
}
