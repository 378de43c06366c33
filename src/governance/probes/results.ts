import type { JsonTensor } from '../../tensors/values.js';

/**
 * The cause of a probe run: a finished load, the schedule, new probes on a loaded version, or
 * a request to the API.
 */
export type ProbeTrigger = 'load' | 'schedule' | 'change' | 'request';

/** The result of one probe in a run. */
export interface ProbeResult {
  readonly name: string;
  readonly passed: boolean;
  /** The differences, or the reason the request failed; empty when the probe passed. */
  readonly message: string;
  /** Largest absolute difference over the numeric elements compared. */
  readonly maxDifference: number | null;
  readonly durationMs: number;
  /** sha256 of the probe's request with sorted keys: equal requests across versions match. */
  readonly requestSha256: string;
  /** sha256 of the exact outputs; null when the request failed. */
  readonly outputsSha256: string | null;
  readonly outputs: readonly JsonTensor[];
}

export interface ProbeRun {
  readonly ranAt: string;
  readonly trigger: ProbeTrigger;
  readonly passed: boolean;
  readonly results: readonly ProbeResult[];
}

/** A run without the outputs, as kept in memory for the health rules and listings. */
export interface ProbeRunSummary {
  readonly ranAt: string;
  readonly trigger: ProbeTrigger;
  readonly passed: boolean;
  readonly results: ReadonlyArray<Omit<ProbeResult, 'outputs'>>;
}
