import type { StageTiming, UsageCounts } from '../registry/usage.js';

/** Causes of a failed request that reached a version, one per HTTP status family. */
export const FAILURE_CAUSES = ['bad_request', 'model_error', 'timeout', 'unavailable'] as const;
export type FailureCause = (typeof FAILURE_CAUSES)[number];
export type Outcome = 'success' | FailureCause;

/** The stages of Triton's statistics extension, each a count and a total duration. */
export const STAGES = [
  'success',
  'fail',
  'queue',
  'compute_input',
  'compute_infer',
  'compute_output',
] as const;
export type Stage = (typeof STAGES)[number];

/** The contribution of one finished request to the figures of its version. */
export interface RequestSummary {
  readonly outcome: Outcome;
  /** From the version's resolution to the encoded response or the error. */
  readonly latencyMs: number;
  readonly bytesIn: number;
  /** Response body bytes; 0 for a failure. */
  readonly bytesOut: number;
  /** Elements of the batch dimension; 0 for a failure. */
  readonly batchSize: number;
  /** Durations of the stages of a successful request, in nanoseconds. */
  readonly stageNs: Readonly<
    Partial<Record<'queue' | 'compute_input' | 'compute_infer' | 'compute_output', number>>
  >;
  /** Kinds of output violation in a successful response, each once. */
  readonly violations: readonly string[];
}

type MutableCounts = { -readonly [K in keyof UsageCounts]: number };

/** Usage figures of one version, added to as requests finish. */
export interface Figures extends MutableCounts {
  firstUsedAt: string | null;
  lastUsedAt: string | null;
  readonly buckets: Map<number, number>;
  readonly stages: Map<string, StageTiming>;
  readonly violations: Map<string, number>;
}

export function emptyFigures(): Figures {
  return {
    requests: 0,
    badRequests: 0,
    modelErrors: 0,
    timeouts: 0,
    unavailable: 0,
    bytesIn: 0,
    bytesOut: 0,
    inferenceCount: 0,
    executionCount: 0,
    invalidResponses: 0,
    latencySumMs: 0,
    firstUsedAt: null,
    lastUsedAt: null,
    buckets: new Map(),
    stages: new Map(),
    violations: new Map(),
  };
}

const CAUSE_FIELDS = {
  bad_request: 'badRequests',
  model_error: 'modelErrors',
  timeout: 'timeouts',
  unavailable: 'unavailable',
} as const satisfies Record<FailureCause, keyof MutableCounts>;

/** Adds one finished request; `bucket` is its latency bucket, used for successes only. */
export function addRequest(
  figures: Figures,
  summary: RequestSummary,
  bucket: number,
  at: string,
): void {
  figures.requests += 1;
  figures.bytesIn += summary.bytesIn;
  figures.firstUsedAt ??= at;
  figures.lastUsedAt = at;
  const ns = summary.latencyMs * 1e6;
  if (summary.outcome !== 'success') {
    figures[CAUSE_FIELDS[summary.outcome]] += 1;
    addStage(figures.stages, 'fail', 1, ns);
    return;
  }
  figures.bytesOut += summary.bytesOut;
  figures.inferenceCount += summary.batchSize;
  figures.executionCount += 1;
  figures.latencySumMs += summary.latencyMs;
  figures.buckets.set(bucket, (figures.buckets.get(bucket) ?? 0) + 1);
  addStage(figures.stages, 'success', 1, ns);
  for (const [stage, stageNs] of Object.entries(summary.stageNs)) {
    addStage(figures.stages, stage, 1, stageNs);
  }
  if (summary.violations.length > 0) figures.invalidResponses += 1;
  for (const kind of summary.violations) {
    figures.violations.set(kind, (figures.violations.get(kind) ?? 0) + 1);
  }
}

/** Adds `source` into `target`: counts add up, first use takes the earlier, last use the later. */
export function mergeFigures(target: Figures, source: UsageCountsWithMaps): void {
  for (const field of Object.values(COUNT_FIELDS)) target[field] += source[field];
  target.firstUsedAt = earliest(target.firstUsedAt, source.firstUsedAt);
  target.lastUsedAt = latest(target.lastUsedAt, source.lastUsedAt);
  for (const [bucket, count] of source.buckets) {
    target.buckets.set(bucket, (target.buckets.get(bucket) ?? 0) + count);
  }
  for (const [stage, timing] of source.stages)
    addStage(target.stages, stage, timing.count, timing.ns);
  for (const [kind, count] of source.violations) {
    target.violations.set(kind, (target.violations.get(kind) ?? 0) + count);
  }
}

/** Figures as loaded from or written to the registry. */
export interface UsageCountsWithMaps extends UsageCounts {
  readonly firstUsedAt: string | null;
  readonly lastUsedAt: string | null;
  readonly buckets: ReadonlyMap<number, number>;
  readonly stages: ReadonlyMap<string, StageTiming>;
  readonly violations: ReadonlyMap<string, number>;
}

const COUNT_FIELDS = {
  requests: 'requests',
  badRequests: 'badRequests',
  modelErrors: 'modelErrors',
  timeouts: 'timeouts',
  unavailable: 'unavailable',
  bytesIn: 'bytesIn',
  bytesOut: 'bytesOut',
  inferenceCount: 'inferenceCount',
  executionCount: 'executionCount',
  invalidResponses: 'invalidResponses',
  latencySumMs: 'latencySumMs',
} as const satisfies Record<keyof UsageCounts, keyof MutableCounts>;

function addStage(
  stages: Map<string, StageTiming>,
  stage: string,
  count: number,
  ns: number,
): void {
  const current = stages.get(stage);
  stages.set(stage, { count: (current?.count ?? 0) + count, ns: (current?.ns ?? 0) + ns });
}

/** ISO-8601 UTC strings sort in time order, so the smaller string is the earlier time. */
function earliest(a: string | null, b: string | null): string | null {
  if (a === null) return b;
  if (b === null) return a;
  return a < b ? a : b;
}

function latest(a: string | null, b: string | null): string | null {
  if (a === null) return b;
  if (b === null) return a;
  return a > b ? a : b;
}
