import { bucketOf, percentile } from './histogram.js';

/** Latency of one version in one interval. */
export interface LatencyPoint {
  /** Start of the interval, ISO-8601. */
  readonly start: string;
  /** Requests that reached the model in the interval, failed ones included. */
  readonly requests: number;
  readonly errors: number;
  readonly p50Ms: number | null;
  readonly p95Ms: number | null;
}

interface Interval {
  /** Start of the interval, epoch milliseconds. */
  start: number;
  requests: number;
  errors: number;
  /** Latency histogram counts by bucket index, as in the all-time usage histogram. */
  readonly buckets: Map<number, number>;
}

/** One minute per point, and the last two hours of points per version. */
export const SERIES_INTERVAL_MS = 60_000;
export const SERIES_INTERVALS = 120;

/**
 * Per-version latency over time, in memory only: a ring of the last `intervals` fixed
 * intervals per version, each with a latency histogram, so memory per version is bounded.
 * Nothing is stored across restarts.
 */
export class LatencySeries {
  readonly #intervalMs: number;
  readonly #intervals: number;
  readonly #rings = new Map<string, Array<Interval | undefined>>();

  constructor(intervalMs = SERIES_INTERVAL_MS, intervals = SERIES_INTERVALS) {
    this.#intervalMs = intervalMs;
    this.#intervals = intervals;
  }

  get intervalMs(): number {
    return this.#intervalMs;
  }

  get intervals(): number {
    return this.#intervals;
  }

  /** Adds one request that reached the model; `at` is epoch milliseconds. */
  add(model: string, version: number, latencyMs: number, failed: boolean, at = Date.now()): void {
    const id = key(model, version);
    let ring = this.#rings.get(id);
    if (!ring) {
      ring = new Array(this.#intervals);
      this.#rings.set(id, ring);
    }
    const index = Math.floor(at / this.#intervalMs);
    const slot = index % this.#intervals;
    const start = index * this.#intervalMs;
    let interval = ring[slot];
    if (!interval || interval.start !== start) {
      // The slot held an interval that has left the window: reuse it for this one.
      interval = { start, requests: 0, errors: 0, buckets: new Map() };
      ring[slot] = interval;
    }
    interval.requests += 1;
    if (failed) interval.errors += 1;
    const bucket = bucketOf(latencyMs);
    interval.buckets.set(bucket, (interval.buckets.get(bucket) ?? 0) + 1);
  }

  /** Returns the intervals with requests within the window that ends at `now`, oldest first. */
  points(model: string, version: number, now = Date.now()): LatencyPoint[] {
    const ring = this.#rings.get(key(model, version));
    if (!ring) return [];
    const oldest = (Math.floor(now / this.#intervalMs) - this.#intervals + 1) * this.#intervalMs;
    return ring
      .filter((interval): interval is Interval => interval !== undefined)
      .filter((interval) => interval.start >= oldest && interval.start <= now)
      .sort((a, b) => a.start - b.start)
      .map((interval) => ({
        start: new Date(interval.start).toISOString(),
        requests: interval.requests,
        errors: interval.errors,
        p50Ms: round(percentile(interval.buckets, 50)),
        p95Ms: round(percentile(interval.buckets, 95)),
      }));
  }

  forget(model: string, version: number): void {
    this.#rings.delete(key(model, version));
  }
}

function key(model: string, version: number): string {
  return `${model}:${version}`;
}

function round(value: number | null): number | null {
  return value === null ? null : Math.round(value * 1000) / 1000;
}
