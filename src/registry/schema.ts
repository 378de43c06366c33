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
  shadow_usage: VersionUsageTable;
  shadow_latency_buckets: LatencyBucketTable;
  staging_settings: StagingSettingsTable;
  staging_comparisons: StagingComparisonTable;
  meta: MetaTable;
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
  /** Requests the model failed to run: runtime errors, load failures. */
  error_count: number;
  /** Requests rejected before the model ran: invalid tensors, wrong datatypes. */
  client_error_count: number;
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
