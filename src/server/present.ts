import type { ModelRecord, VersionRecord } from '../registry/records.js';
import { platformOf } from '../runtimes/formats.js';
import type { Steward } from '../steward.js';
import { presentStaging } from './present-staging.js';
import {
  presentHealth,
  presentProbeSummary,
  presentShadowUsage,
  presentUsage,
  presentValidity,
  versionHealth,
} from './present-telemetry.js';

/** The management API's view of a version: registry facts, load state, usage and health. */
export function presentVersion(steward: Steward, record: VersionRecord) {
  const load = steward.manager.status(record);
  const usage = steward.usage.snapshot(record.model, record.version);
  const health = versionHealth(steward, record, load, usage);
  return {
    model: record.model,
    version: record.version,
    format: record.format,
    platform: platformOf(record.format),
    sha256: record.sha256,
    size_bytes: record.sizeBytes,
    source_name: record.sourceName,
    description: record.description,
    created_at: record.createdAt,
    state: record.state,
    state_reason: record.stateReason,
    archived_at: record.archivedAt,
    restored_at: record.restoredAt,
    aliases: steward.catalog.aliasesOf(record.model, record.version),
    status: health.status,
    status_reasons: health.reasons.map((reason) => reason.message),
    health: presentHealth(health, steward.thresholds.for(record.model)),
    load: {
      state: load.state,
      reason: load.reason,
      loaded: load.instances > 0,
      memory_bytes: load.memoryBytes,
      measured_memory_bytes: load.lastMeasuredBytes,
      load_ms: load.loadMs,
      load_count: load.loadCount,
      loaded_at: load.loadedAt,
      in_flight: load.inFlight,
      pinned: load.pinned,
      instances: load.instances,
      retry_at: load.retryAt,
    },
    usage: presentUsage(usage),
    validity: presentValidity(steward, record, usage),
    probes: presentProbeSummary(steward, record),
    shadow_usage: presentShadowUsage(steward.shadowUsage.snapshot(record.model, record.version)),
    signature: record.signature,
  };
}

export function presentModel(steward: Steward, model: ModelRecord) {
  const aliases: Record<string, number> = {};
  for (const alias of steward.catalog.aliases(model.name)) aliases[alias.alias] = alias.version;
  return {
    name: model.name,
    description: model.description,
    labels: model.labels,
    created_at: model.createdAt,
    aliases,
    staging: presentStaging(steward, model.name),
    versions: steward.catalog.versions(model.name).map((record) => presentVersion(steward, record)),
  };
}

/** Lists the loaded versions, most recently used first, with their memory against the budget. */
export function presentLoaded(steward: Steward) {
  return {
    budget_bytes: steward.manager.budgetBytes,
    used_bytes: steward.manager.usedBytes(),
    versions: steward.manager.loaded().map((status) => ({
      model: status.model,
      version: status.version,
      state: status.state,
      aliases: steward.catalog.aliasesOf(status.model, status.version),
      memory_bytes: status.memoryBytes,
      load_ms: status.loadMs,
      loaded_at: status.loadedAt,
      // The last client request, as in the model list; it outlives restarts and reloads.
      last_used_at: steward.usage.snapshot(status.model, status.version).lastUsedAt,
      in_flight: status.inFlight,
      pinned: status.pinned,
      instances: status.instances,
    })),
  };
}
