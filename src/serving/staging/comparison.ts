import { bucketOf, percentile } from '../../telemetry/histogram.js';
import type { OutputKind, OutputMismatch, RequestDifference } from './compare.js';
import { type Disagreement, DisagreementSamples, type DisagreementTensors } from './samples.js';

/**
 * Reason a shadow request was dropped before its comparison. `queue_full`: the shadow queue had no room.
 * `load_timeout`: the staging version was not loaded within the shadow load wait.
 * `load_failed`: the staging version could not load (failed, archived, too large).
 * `memory_budget`: loading the staging version would have evicted the production version.
 * `incompatible`: the staging version lacks an input or a requested output of production's.
 * `shutting_down`: the server stopped before the run.
 */
export type DropReason =
  | 'queue_full'
  | 'load_timeout'
  | 'load_failed'
  | 'memory_budget'
  | 'incompatible'
  | 'shutting_down';

export const DROP_REASONS: readonly DropReason[] = [
  'queue_full',
  'load_timeout',
  'load_failed',
  'memory_budget',
  'incompatible',
  'shutting_down',
];

interface OutputTotals {
  kind: OutputKind;
  rows: number;
  rowsAgreeing: number;
  elements: number;
  withinTolerance: number;
  absDiffSum: number;
  absDiffCount: number;
  maxAbsDiff: number;
  nonFiniteMismatches: number;
  mismatches: Record<OutputMismatch, number>;
}

interface LatencyTotals {
  sumMs: number;
  count: number;
  buckets: Map<number, number>;
}

export interface LatencySummary {
  readonly mean: number | null;
  readonly p50: number | null;
  readonly p95: number | null;
  readonly p99: number | null;
}

/** Every figure of a comparison, as the API reports it. */
export interface ComparisonReport {
  readonly model: string;
  readonly productionVersion: number;
  readonly stagingVersion: number;
  readonly startedAt: string;
  readonly tolerance: number;
  readonly summary: string;
  readonly shadow: {
    readonly mirrored: number;
    readonly compared: number;
    readonly errors: number;
    readonly pending: number;
    readonly dropped: Readonly<Record<DropReason, number>>;
  };
  readonly agreement: {
    readonly requests: number;
    readonly agreeing: number;
    readonly percent: number | null;
    readonly rows: number;
    readonly rowsAgreeing: number;
    readonly rowsPercent: number | null;
  };
  readonly outputs: ReadonlyArray<{
    readonly name: string;
    readonly kind: OutputKind;
    readonly rows: number;
    readonly rowsAgreeing: number;
    readonly agreementPercent: number | null;
    readonly elements: number;
    readonly maxAbsDiff: number | null;
    readonly meanAbsDiff: number | null;
    readonly withinTolerancePercent: number | null;
    readonly nonFiniteMismatches: number;
    readonly mismatches: Readonly<Record<OutputMismatch, number>>;
  }>;
  readonly latencyMs: {
    readonly production: LatencySummary;
    readonly staging: LatencySummary;
    readonly p50Ratio: number | null;
    readonly p95Ratio: number | null;
  };
  readonly canary: { readonly toStaging: number; readonly toProduction: number };
  readonly disagreements: readonly Disagreement[];
}

/** Format of the persisted totals; a stored row of another format is discarded. */
const TOTALS_FORMAT = 1;

/**
 * Running totals of one staging version compared with one production version of a model.
 * A new comparison starts whenever either alias moves, so the figures always describe one
 * pair of versions. Counted on the event loop only, so no field needs a lock.
 */
export class Comparison {
  readonly model: string;
  readonly productionVersion: number;
  readonly stagingVersion: number;
  readonly tolerance: number;
  readonly startedAt: string;
  /** Production requests handed to the shadow queue, whatever became of them. */
  mirrored = 0;
  compared = 0;
  agreeing = 0;
  rows = 0;
  rowsAgreeing = 0;
  /** Shadow runs that failed in or around the staging version. */
  errors = 0;
  readonly dropped: Record<DropReason, number> = emptyDrops();
  /** Live requests that the canary weight sent to each version. */
  readonly canary = { toStaging: 0, toProduction: 0 };
  readonly #outputs = new Map<string, OutputTotals>();
  readonly #productionLatency: LatencyTotals = emptyLatency();
  readonly #stagingLatency: LatencyTotals = emptyLatency();
  readonly #samples: DisagreementSamples;
  /** Set by every change, cleared when the totals are written to the registry. */
  changed = false;

  constructor(options: {
    model: string;
    productionVersion: number;
    stagingVersion: number;
    tolerance: number;
    startedAt: string;
    maxSamples: number;
  }) {
    this.model = options.model;
    this.productionVersion = options.productionVersion;
    this.stagingVersion = options.stagingVersion;
    this.tolerance = options.tolerance;
    this.startedAt = options.startedAt;
    this.#samples = new DisagreementSamples(options.maxSamples);
  }

  /** Shadow requests mirrored but not yet compared, failed or dropped. */
  get pending(): number {
    const dropped = DROP_REASONS.reduce((sum, reason) => sum + this.dropped[reason], 0);
    return this.mirrored - this.compared - this.errors - dropped;
  }

  countMirrored(): void {
    this.mirrored += 1;
    this.changed = true;
  }

  countDropped(reason: DropReason): void {
    this.dropped[reason] += 1;
    this.changed = true;
  }

  countError(): void {
    this.errors += 1;
    this.changed = true;
  }

  countCanary(toStaging: boolean): void {
    if (toStaging) this.canary.toStaging += 1;
    else this.canary.toProduction += 1;
    this.changed = true;
  }

  /**
   * Adds one compared request. `sample` copies the request's tensors, and is called only when
   * the request disagrees and is large enough to enter the sample.
   */
  record(
    difference: RequestDifference,
    latency: { productionMs: number; stagingMs: number },
    sample: () => DisagreementTensors,
  ): void {
    this.compared += 1;
    if (difference.agrees) this.agreeing += 1;
    this.rows += difference.rows;
    this.rowsAgreeing += difference.rowsAgreeing;
    for (const output of difference.outputs) {
      const totals = this.#outputTotals(output.name, output.kind);
      totals.rows += output.rows;
      totals.rowsAgreeing += output.rowsAgreeing;
      totals.elements += output.elements;
      totals.withinTolerance += output.withinTolerance;
      totals.absDiffSum += output.absDiffSum;
      totals.absDiffCount += output.absDiffCount;
      totals.maxAbsDiff = Math.max(totals.maxAbsDiff, output.maxAbsDiff);
      totals.nonFiniteMismatches += output.nonFiniteMismatches;
      if (output.mismatch) totals.mismatches[output.mismatch] += 1;
    }
    addLatency(this.#productionLatency, latency.productionMs);
    addLatency(this.#stagingLatency, latency.stagingMs);
    const rowsDisagreeing = difference.rows - difference.rowsAgreeing;
    if (!difference.agrees && this.#samples.wouldKeep(rowsDisagreeing, difference.maxAbsDiff)) {
      this.#samples.add({
        at: new Date().toISOString(),
        rows: difference.rows,
        rowsDisagreeing,
        maxAbsDiff: difference.maxAbsDiff,
        ...sample(),
      });
    }
    this.changed = true;
  }

  report(): ComparisonReport {
    const production = summarize(this.#productionLatency);
    const staging = summarize(this.#stagingLatency);
    return {
      model: this.model,
      productionVersion: this.productionVersion,
      stagingVersion: this.stagingVersion,
      startedAt: this.startedAt,
      tolerance: this.tolerance,
      summary: this.summary(),
      shadow: {
        mirrored: this.mirrored,
        compared: this.compared,
        errors: this.errors,
        pending: this.pending,
        dropped: { ...this.dropped },
      },
      agreement: {
        requests: this.compared,
        agreeing: this.agreeing,
        percent: percentOf(this.agreeing, this.compared),
        rows: this.rows,
        rowsAgreeing: this.rowsAgreeing,
        rowsPercent: percentOf(this.rowsAgreeing, this.rows),
      },
      outputs: [...this.#outputs.entries()].map(([name, totals]) => ({
        name,
        kind: totals.kind,
        rows: totals.rows,
        rowsAgreeing: totals.rowsAgreeing,
        agreementPercent: percentOf(totals.rowsAgreeing, totals.rows),
        elements: totals.elements,
        maxAbsDiff: totals.absDiffCount > 0 ? totals.maxAbsDiff : null,
        meanAbsDiff: totals.absDiffCount > 0 ? totals.absDiffSum / totals.absDiffCount : null,
        withinTolerancePercent: percentOf(totals.withinTolerance, totals.elements),
        nonFiniteMismatches: totals.nonFiniteMismatches,
        mismatches: { ...totals.mismatches },
      })),
      latencyMs: {
        production,
        staging,
        p50Ratio: ratioOf(staging.p50, production.p50),
        p95Ratio: ratioOf(staging.p95, production.p95),
      },
      canary: { ...this.canary },
      disagreements: this.#samples.all,
    };
  }

  /** Describes the comparison in one line, such as "staging v3 agrees with production v2 on 98.7% of 10,532 requests; p95 latency 1.2x". */
  summary(): string {
    const pair = `staging v${this.stagingVersion}`;
    const problems: string[] = [];
    if (this.errors > 0) problems.push(`${count(this.errors, 'shadow run')} failed`);
    const dropped = DROP_REASONS.reduce((sum, reason) => sum + this.dropped[reason], 0);
    if (dropped > 0) problems.push(`${count(dropped, 'shadow request')} dropped`);
    const tail = problems.length > 0 ? `; ${problems.join('; ')}` : '';
    if (this.compared === 0) {
      return `${pair} has no compared requests yet against production v${this.productionVersion}${tail}`;
    }
    const agreement = formatPercent(this.agreeing, this.compared);
    let line = `${pair} agrees with production v${this.productionVersion} on ${agreement} of ${count(this.compared, 'request')}`;
    const ratio = ratioOf(
      percentile(this.#stagingLatency.buckets, 95),
      percentile(this.#productionLatency.buckets, 95),
    );
    if (ratio !== null) line += `; p95 latency ${ratio.toFixed(1)}x`;
    return line + tail;
  }

  /** Serializes the totals for the registry; the disagreement samples stay in memory. */
  toJson(): string {
    return JSON.stringify({
      format: TOTALS_FORMAT,
      tolerance: this.tolerance,
      mirrored: this.mirrored,
      compared: this.compared,
      agreeing: this.agreeing,
      rows: this.rows,
      rowsAgreeing: this.rowsAgreeing,
      errors: this.errors,
      dropped: this.dropped,
      canary: this.canary,
      outputs: Object.fromEntries(this.#outputs),
      latency: {
        production: latencyJson(this.#productionLatency),
        staging: latencyJson(this.#stagingLatency),
      },
    });
  }

  /**
   * Restores totals written by `toJson`. Throws on a malformed or older format, or totals
   * counted with another tolerance, which cannot be mixed with new ones.
   */
  restore(json: string): void {
    const stored = JSON.parse(json) as StoredTotals;
    if (stored.format !== TOTALS_FORMAT) {
      throw new Error(`stored totals have format ${stored.format}, expected ${TOTALS_FORMAT}`);
    }
    if (stored.tolerance !== this.tolerance) {
      throw new Error(
        `stored totals were counted with tolerance ${stored.tolerance}, not ${this.tolerance}`,
      );
    }
    this.mirrored = stored.mirrored;
    this.compared = stored.compared;
    this.agreeing = stored.agreeing;
    this.rows = stored.rows;
    this.rowsAgreeing = stored.rowsAgreeing;
    this.errors = stored.errors;
    for (const reason of DROP_REASONS) this.dropped[reason] = stored.dropped[reason] ?? 0;
    // Shadow runs that were waiting when the server stopped never ran.
    this.dropped.shutting_down += Math.max(0, this.pending);
    this.canary.toStaging = stored.canary.toStaging;
    this.canary.toProduction = stored.canary.toProduction;
    for (const [name, totals] of Object.entries(stored.outputs)) this.#outputs.set(name, totals);
    restoreLatency(this.#productionLatency, stored.latency.production);
    restoreLatency(this.#stagingLatency, stored.latency.staging);
  }

  #outputTotals(name: string, kind: OutputKind): OutputTotals {
    let totals = this.#outputs.get(name);
    if (!totals) {
      totals = {
        kind,
        rows: 0,
        rowsAgreeing: 0,
        elements: 0,
        withinTolerance: 0,
        absDiffSum: 0,
        absDiffCount: 0,
        maxAbsDiff: 0,
        nonFiniteMismatches: 0,
        mismatches: { missing: 0, shape: 0, datatype: 0 },
      };
      this.#outputs.set(name, totals);
    }
    return totals;
  }
}

interface StoredLatency {
  sumMs: number;
  count: number;
  buckets: Array<[number, number]>;
}

interface StoredTotals {
  format: number;
  tolerance: number;
  mirrored: number;
  compared: number;
  agreeing: number;
  rows: number;
  rowsAgreeing: number;
  errors: number;
  dropped: Partial<Record<DropReason, number>>;
  canary: { toStaging: number; toProduction: number };
  outputs: Record<string, OutputTotals>;
  latency: { production: StoredLatency; staging: StoredLatency };
}

function emptyDrops(): Record<DropReason, number> {
  return {
    queue_full: 0,
    load_timeout: 0,
    load_failed: 0,
    memory_budget: 0,
    incompatible: 0,
    shutting_down: 0,
  };
}

function emptyLatency(): LatencyTotals {
  return { sumMs: 0, count: 0, buckets: new Map() };
}

function addLatency(totals: LatencyTotals, ms: number): void {
  totals.sumMs += ms;
  totals.count += 1;
  const bucket = bucketOf(ms);
  totals.buckets.set(bucket, (totals.buckets.get(bucket) ?? 0) + 1);
}

function latencyJson(totals: LatencyTotals): StoredLatency {
  return { sumMs: totals.sumMs, count: totals.count, buckets: [...totals.buckets.entries()] };
}

function restoreLatency(totals: LatencyTotals, stored: StoredLatency): void {
  totals.sumMs = stored.sumMs;
  totals.count = stored.count;
  totals.buckets = new Map(stored.buckets);
}

function summarize(totals: LatencyTotals): LatencySummary {
  return {
    mean: totals.count > 0 ? round(totals.sumMs / totals.count) : null,
    p50: roundOrNull(percentile(totals.buckets, 50)),
    p95: roundOrNull(percentile(totals.buckets, 95)),
    p99: roundOrNull(percentile(totals.buckets, 99)),
  };
}

function percentOf(part: number, whole: number): number | null {
  return whole > 0 ? Math.round((part / whole) * 10_000) / 100 : null;
}

function ratioOf(staging: number | null, production: number | null): number | null {
  if (staging === null || production === null || production <= 0) return null;
  return Math.round((staging / production) * 100) / 100;
}

/** Formats a share with one decimal, never rounding a partial agreement up to 100%. */
function formatPercent(part: number, whole: number): string {
  const percent = Math.round((part / whole) * 1000) / 10;
  if (percent === 100 && part < whole) return '99.9%';
  return `${percent.toFixed(1)}%`;
}

/** Formats a count with thousands separators and its noun: "1 request", "10,532 requests". */
function count(value: number, noun: string): string {
  return `${value.toLocaleString('en-US')} ${noun}${value === 1 ? '' : 's'}`;
}

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}

function roundOrNull(value: number | null): number | null {
  return value === null ? null : round(value);
}
