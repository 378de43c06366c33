import type { FailureCause, Outcome } from './figures.js';
import { percentile } from './histogram.js';

/** The window is cut into this many slots; a slot leaves the window as a whole. */
export const WINDOW_SLOTS = 10;

interface Slot {
  /** `floor(time / slotMs)` of the slot's start. */
  readonly index: number;
  readonly outcomes: Map<Outcome, number>;
  invalidResponses: number;
  /** Latency bucket counts of successful requests. */
  readonly buckets: Map<number, number>;
}

/** Recent requests of one version in the window. */
export interface WindowFigures {
  readonly requests: number;
  readonly successes: number;
  readonly failures: Readonly<Record<FailureCause, number>>;
  readonly invalidResponses: number;
  /** Latency bucket counts of the successful requests in the window. */
  readonly buckets: ReadonlyMap<number, number>;
}

/**
 * Request outcomes and latencies of the last `windowMs`, in WINDOW_SLOTS slots. Slots older
 * than the window are dropped as a whole, so the figures cover between `windowMs` minus one
 * slot and `windowMs`.
 */
export class SlidingWindow {
  readonly #slotMs: number;
  readonly #slots: Slot[] = [];

  constructor(windowMs: number) {
    this.#slotMs = Math.max(1, windowMs / WINDOW_SLOTS);
  }

  add(outcome: Outcome, bucket: number, invalid: boolean, now = Date.now()): void {
    const slot = this.#current(now);
    slot.outcomes.set(outcome, (slot.outcomes.get(outcome) ?? 0) + 1);
    if (outcome !== 'success') return;
    slot.buckets.set(bucket, (slot.buckets.get(bucket) ?? 0) + 1);
    if (invalid) slot.invalidResponses += 1;
  }

  figures(now = Date.now()): WindowFigures {
    this.#prune(now);
    const outcomes = new Map<Outcome, number>();
    const buckets = new Map<number, number>();
    let invalidResponses = 0;
    for (const slot of this.#slots) {
      for (const [outcome, count] of slot.outcomes) {
        outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + count);
      }
      for (const [bucket, count] of slot.buckets) {
        buckets.set(bucket, (buckets.get(bucket) ?? 0) + count);
      }
      invalidResponses += slot.invalidResponses;
    }
    const count = (outcome: Outcome) => outcomes.get(outcome) ?? 0;
    const failures = {
      bad_request: count('bad_request'),
      model_error: count('model_error'),
      timeout: count('timeout'),
      unavailable: count('unavailable'),
    };
    const failed = Object.values(failures).reduce((sum, value) => sum + value, 0);
    return {
      requests: count('success') + failed,
      successes: count('success'),
      failures,
      invalidResponses,
      buckets,
    };
  }

  #current(now: number): Slot {
    const index = Math.floor(now / this.#slotMs);
    const last = this.#slots[this.#slots.length - 1];
    if (last?.index === index) return last;
    this.#prune(now);
    const slot: Slot = { index, outcomes: new Map(), invalidResponses: 0, buckets: new Map() };
    this.#slots.push(slot);
    return slot;
  }

  #prune(now: number): void {
    const oldest = Math.floor(now / this.#slotMs) - WINDOW_SLOTS + 1;
    while (this.#slots.length > 0 && this.#slots[0]!.index < oldest) this.#slots.shift();
  }
}

/** Returns p50, p95 and p99 of bucket counts in milliseconds, rounded to microseconds. */
export function latencyPercentiles(buckets: ReadonlyMap<number, number>): {
  p50: number | null;
  p95: number | null;
  p99: number | null;
} {
  return {
    p50: roundMs(percentile(buckets, 50)),
    p95: roundMs(percentile(buckets, 95)),
    p99: roundMs(percentile(buckets, 99)),
  };
}

export function roundMs(value: number | null): number | null {
  return value === null ? null : Math.round(value * 1000) / 1000;
}
