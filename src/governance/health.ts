import type { VersionRecord } from '../registry/records.js';
import type { VersionStatus } from '../serving/model-manager.js';
import type { UsageSnapshot } from '../telemetry/usage.js';
import type { ProbeRunSummary } from './probes/results.js';
import type { HealthThresholds } from './thresholds.js';

export type HealthStatus = 'never used' | 'healthy' | 'degraded' | 'unhealthy';

/** The rule behind a health reason; `never_used` explains the `never used` status. */
export type HealthReasonKind =
  | 'load_failed'
  | 'probe_failed'
  | 'invalid_outputs'
  | 'error_rate'
  | 'slow'
  | 'never_used';

export interface HealthReason {
  readonly kind: HealthReasonKind;
  readonly message: string;
  /** The measured value for rules with a threshold: a rate from 0 to 1, or milliseconds. */
  readonly value?: number;
  readonly threshold?: number;
}

export interface Health {
  readonly status: HealthStatus;
  readonly reasons: readonly HealthReason[];
}

export interface HealthInputs {
  readonly record: VersionRecord;
  readonly load: VersionStatus;
  readonly usage: UsageSnapshot;
  readonly probes: ProbeRunSummary | undefined;
  readonly thresholds: HealthThresholds;
}

/**
 * Computes the health of a version; docs/health.md states the rules.
 *
 * - `unhealthy`: its last load failed, a probe of its latest probe run failed, or the share of
 *   invalid responses in the window exceeds the threshold.
 * - `degraded`: the error rate or the p95 latency of the window exceeds its threshold.
 * - `never used`: no request has reached it.
 * - `healthy`: none of the above.
 *
 * Window rules count once the denominator of their rate reaches `minRequests` requests.
 */
export function healthOf(inputs: HealthInputs): Health {
  const unhealthy = [
    ...loadFailure(inputs),
    ...probeFailures(inputs.probes),
    ...invalidOutputs(inputs.usage, inputs.thresholds),
  ];
  if (unhealthy.length > 0) return { status: 'unhealthy', reasons: unhealthy };
  const degraded = [
    ...errorRate(inputs.usage, inputs.thresholds),
    ...slow(inputs.usage, inputs.thresholds),
  ];
  if (degraded.length > 0) return { status: 'degraded', reasons: degraded };
  if (inputs.usage.requests === 0) {
    return {
      status: 'never used',
      reasons: [{ kind: 'never_used', message: 'no request has reached this version' }],
    };
  }
  return { status: 'healthy', reasons: [] };
}

function loadFailure({ record, load }: HealthInputs): HealthReason[] {
  if (load.state !== 'failed' && record.state !== 'failed') return [];
  return [{ kind: 'load_failed', message: `load failed: ${load.reason || record.stateReason}` }];
}

function probeFailures(run: ProbeRunSummary | undefined): HealthReason[] {
  if (!run || run.passed) return [];
  return run.results
    .filter((result) => !result.passed)
    .map((result) => ({
      kind: 'probe_failed' as const,
      message: `probe "${result.name}" failed in the ${run.trigger} run at ${run.ranAt}: ${result.message}`,
      ...(result.maxDifference === null ? {} : { value: result.maxDifference }),
    }));
}

function invalidOutputs(usage: UsageSnapshot, thresholds: HealthThresholds): HealthReason[] {
  const { window } = usage;
  const rate = window.invalidOutputRate;
  if (rate === null || window.successes < thresholds.minRequests) return [];
  if (rate <= thresholds.maxInvalidOutputRate) return [];
  return [
    {
      kind: 'invalid_outputs',
      message:
        `${window.invalidResponses} of ${window.successes} responses in the last ${span(window.seconds)} ` +
        `(${percent(rate)}) broke an output check, above the limit of ${percent(thresholds.maxInvalidOutputRate)}`,
      value: rate,
      threshold: thresholds.maxInvalidOutputRate,
    },
  ];
}

function errorRate(usage: UsageSnapshot, thresholds: HealthThresholds): HealthReason[] {
  const { window } = usage;
  const served = window.requests - window.failures.bad_request;
  const rate = window.errorRate;
  if (rate === null || served < thresholds.minRequests || rate <= thresholds.maxErrorRate)
    return [];
  const failed = served - window.successes;
  return [
    {
      kind: 'error_rate',
      message:
        `${failed} of ${served} requests in the last ${span(window.seconds)} (${percent(rate)}) failed ` +
        `(model errors ${window.failures.model_error}, timeouts ${window.failures.timeout}, ` +
        `unavailable ${window.failures.unavailable}), above the limit of ${percent(thresholds.maxErrorRate)}`,
      value: rate,
      threshold: thresholds.maxErrorRate,
    },
  ];
}

function slow(usage: UsageSnapshot, thresholds: HealthThresholds): HealthReason[] {
  const { window } = usage;
  const p95 = window.latencyMs.p95;
  if (p95 === null || window.successes < thresholds.minRequests || p95 <= thresholds.maxP95Ms) {
    return [];
  }
  return [
    {
      kind: 'slow',
      message:
        `p95 latency of ${round(p95)} ms over the last ${span(window.seconds)} ` +
        `(${window.successes} successful requests) exceeds the limit of ${thresholds.maxP95Ms} ms`,
      value: p95,
      threshold: thresholds.maxP95Ms,
    },
  ];
}

function percent(rate: number): string {
  return `${Math.round(rate * 1000) / 10}%`;
}

function round(value: number): number {
  return Math.round(value * 10) / 10;
}

/** Describes a window length: "5 min", "90 s". */
export function span(seconds: number): string {
  if (seconds >= 60 && seconds % 60 === 0) return `${seconds / 60} min`;
  return `${seconds} s`;
}
