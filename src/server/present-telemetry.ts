import { type Health, healthOf } from '../governance/health.js';
import type { ProbeRun, ProbeRunSummary } from '../governance/probes/results.js';
import { type HealthThresholds, presentThresholds } from '../governance/thresholds.js';
import type { VersionRecord } from '../registry/records.js';
import type { VersionStatus } from '../serving/model-manager.js';
import type { Steward } from '../steward.js';
import { VIOLATION_KINDS } from '../telemetry/output-checks.js';
import type { UsageSnapshot } from '../telemetry/usage.js';

/** Computes a version's health from its load state, usage, latest probe run and thresholds. */
export function versionHealth(
  steward: Steward,
  record: VersionRecord,
  load: VersionStatus = steward.manager.status(record),
  usage: UsageSnapshot = steward.usage.snapshot(record.model, record.version),
): Health {
  return healthOf({
    record,
    load,
    usage,
    probes: steward.probes.lastRun(record.model, record.version),
    thresholds: steward.thresholds.for(record.model),
  });
}

export function presentHealth(health: Health, thresholds: HealthThresholds) {
  return {
    status: health.status,
    reasons: health.reasons,
    thresholds: presentThresholds(thresholds),
  };
}

export function presentUsage(usage: UsageSnapshot) {
  const { failures, window } = usage;
  return {
    requests: usage.requests,
    successes: usage.successes,
    errors: failures.model_error + failures.timeout + failures.unavailable,
    client_errors: failures.bad_request,
    failures,
    in_flight: usage.inFlight,
    bytes_in: usage.bytesIn,
    bytes_out: usage.bytesOut,
    first_used_at: usage.firstUsedAt,
    last_used_at: usage.lastUsedAt,
    latency_ms: usage.latencyMs,
    window: {
      seconds: window.seconds,
      requests: window.requests,
      successes: window.successes,
      failures: window.failures,
      invalid_responses: window.invalidResponses,
      error_rate: window.errorRate,
      invalid_output_rate: window.invalidOutputRate,
      latency_ms: window.latencyMs,
    },
  };
}

/**
 * Presents the usage of shadow runs on a version: the live usage fields, plus the responses
 * that broke the version's output checks. Shadow runs send no response, so bytes out stay 0.
 */
export function presentShadowUsage(usage: UsageSnapshot) {
  return {
    ...presentUsage(usage),
    invalid_responses: usage.invalidResponses,
    violations: presentViolationCounts(usage),
  };
}

/** Violation counts with every kind listed, so a zero is explicit. */
export function presentViolationCounts(usage: UsageSnapshot): Record<string, number> {
  return Object.fromEntries(VIOLATION_KINDS.map((kind) => [kind, usage.violations[kind] ?? 0]));
}

export function presentValidity(steward: Steward, record: VersionRecord, usage: UsageSnapshot) {
  return {
    invalid_responses: usage.invalidResponses,
    violations: presentViolationCounts(usage),
    expectations: presentExpectations(steward, record),
  };
}

export function presentExpectations(steward: Steward, record: VersionRecord) {
  const expectations = steward.expectations.get(record.model, record.version);
  if (!expectations) return null;
  return {
    outputs: expectations,
    updated_at: steward.expectations.updatedAt(record.model, record.version),
  };
}

export function presentProbeSummary(steward: Steward, record: VersionRecord) {
  const probes = steward.probes.probes(record.model, record.version);
  const run = steward.probes.lastRun(record.model, record.version);
  return {
    count: probes.length,
    updated_at: steward.probes.updatedAt(record.model, record.version),
    last_run: run ? presentProbeRun(run) : null,
  };
}

/** Converts a probe run to the API's snake_case; only a full run has outputs. */
export function presentProbeRun(run: ProbeRun | ProbeRunSummary) {
  return {
    ran_at: run.ranAt,
    trigger: run.trigger,
    passed: run.passed,
    results: run.results.map((result) => ({
      name: result.name,
      passed: result.passed,
      message: result.message,
      max_difference: result.maxDifference,
      duration_ms: result.durationMs,
      request_sha256: result.requestSha256,
      outputs_sha256: result.outputsSha256,
      ...('outputs' in result ? { outputs: result.outputs } : {}),
    })),
  };
}
