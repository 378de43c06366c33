import type { Generated } from 'kysely';

/**
 * Table types of the registry. Timestamps are ISO-8601 UTC strings with milliseconds, which
 * sort in time order in both SQLite and PostgreSQL; JSON columns are text.
 */
export interface Database {
  models: ModelTable;
  versions: VersionTable;
  aliases: AliasTable;
  alias_history: AliasHistoryTable;
  version_usage: VersionUsageTable;
  usage_latency_buckets: LatencyBucketTable;
  usage_stage_timings: StageTimingTable;
  output_violation_counts: ViolationCountTable;
  output_violation_samples: ViolationSampleTable;
  output_expectations: OutputExpectationTable;
  version_probes: VersionProbeTable;
  probe_results: ProbeResultTable;
  model_health_thresholds: HealthThresholdTable;
  shadow_usage: VersionUsageTable;
  shadow_latency_buckets: LatencyBucketTable;
  shadow_stage_timings: StageTimingTable;
  shadow_violation_counts: ViolationCountTable;
  staging_settings: StagingSettingsTable;
  staging_comparisons: StagingComparisonTable;
  meta: MetaTable;
  audit_log: AuditLogTable;
}

export interface ModelTable {
  name: string;
  description: string;
  /** JSON object of string labels. */
  labels: string;
  created_at: string;
  /** The number the next version gets; only ever grows, so numbers are never reused. */
  next_version: number;
}

export type VersionState = 'ready' | 'failed' | 'archived';

export interface VersionTable {
  model_name: string;
  version: number;
  format: string;
  sha256: string;
  size_bytes: number;
  /** JSON of the Signature type. */
  signature: string;
  source_name: string;
  description: string;
  state: VersionState;
  state_reason: string;
  created_at: string;
  /** When the version was last archived; null unless its state is `archived`. */
  archived_at: string | null;
  /** When the version was last restored from the archive; null if it never was. */
  restored_at: string | null;
}

export interface AliasTable {
  model_name: string;
  alias: string;
  version: number;
  updated_at: string;
}

export interface AliasHistoryTable {
  id: Generated<number>;
  model_name: string;
  alias: string;
  from_version: number | null;
  to_version: number | null;
  actor: string;
  reason: string;
  changed_at: string;
}

export interface VersionUsageTable {
  model_name: string;
  version: number;
  request_count: number;
  /** Requests the model failed to run (runtime errors, a lost worker thread). */
  error_count: number;
  /** Requests rejected as invalid: bad tensors, wrong datatypes, inputs the runtime refused. */
  client_error_count: number;
  /** Requests that waited longer than the load wait for their version to load. */
  timeout_count: number;
  /** Requests for a version that could not serve: failed load, archived, no memory. */
  unavailable_count: number;
  /** Request body bytes of every counted request. */
  bytes_in: number;
  /** Response body bytes of successful requests. */
  bytes_out: number;
  /** Successful inferences, each counted once per element of the batch dimension. */
  inference_count: number;
  /** Successful model runs. */
  execution_count: number;
  /** Successful responses with at least one output violation. */
  invalid_output_count: number;
  /** Latency sum of successful requests. */
  latency_sum_ms: number;
  first_used_at: string | null;
  last_used_at: string | null;
}

export interface LatencyBucketTable {
  model_name: string;
  version: number;
  /** Index into the fixed bucket bounds of the latency histogram. */
  bucket: number;
  count: number;
}

/** Count and total duration of one stage of successful requests, as Triton's statistics report them. */
export interface StageTimingTable {
  model_name: string;
  version: number;
  /** `success`, `fail`, `queue`, `compute_input`, `compute_infer` or `compute_output`. */
  stage: string;
  count: number;
  total_ns: number;
}

/** Responses with one kind of output violation, such as `nan` or `range`. */
export interface ViolationCountTable {
  model_name: string;
  version: number;
  kind: string;
  count: number;
}

/** A response that broke an output check, kept with its request for inspection. */
export interface ViolationSampleTable {
  id: Generated<number>;
  model_name: string;
  version: number;
  recorded_at: string;
  /** JSON array of the violations. */
  violations: string;
  /** JSON array of the input tensors, data possibly truncated. */
  inputs: string;
  /** JSON array of the output tensors, data possibly truncated. */
  outputs: string;
}

export interface OutputExpectationTable {
  model_name: string;
  version: number;
  /** JSON object of expectations by output name. */
  expectations: string;
  updated_at: string;
}

export interface VersionProbeTable {
  model_name: string;
  version: number;
  /** JSON array of probe definitions. */
  probes: string;
  updated_at: string;
}

/** The latest probe run of a version. */
export interface ProbeResultTable {
  model_name: string;
  version: number;
  ran_at: string;
  /** The cause of the run: `load`, `schedule`, `change` or `request`. */
  trigger: string;
  /** 1 when every probe passed, else 0. */
  passed: number;
  /** JSON array of per-probe results with their outputs. */
  results: string;
}

/** Per-model overrides of the health thresholds; null keeps the server default. */
export interface HealthThresholdTable {
  model_name: string;
  max_error_rate: number | null;
  max_p95_ms: number | null;
  max_invalid_output_rate: number | null;
  min_requests: number | null;
  updated_at: string;
}

/** Per-model overrides of the staging defaults; null keeps the configured default. */
export interface StagingSettingsTable {
  model_name: string;
  shadow_percent: number | null;
  canary_percent: number | null;
  canary_header: string | null;
  tolerance: number | null;
  updated_at: string;
}

/** Running comparison totals of one model's staging version against its production version. */
export interface StagingComparisonTable {
  model_name: string;
  production_version: number;
  staging_version: number;
  started_at: string;
  updated_at: string;
  /** JSON of the totals: counts, per-output figures and latency histograms. */
  totals: string;
}

export interface MetaTable {
  key: string;
  value: string;
}

export interface AuditLogTable {
  id: Generated<number>;
  at: string;
  actor: string;
  action: string;
  /** Null for actions on no single model, such as a gc run. */
  model_name: string | null;
  /** Null for actions on a whole model. */
  version: number | null;
  reason: string;
  /** JSON object with the facts of the action. */
  details: string;
}
