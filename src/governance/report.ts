import { inactiveSummary } from '../serving/staging/comparison-book.js';
import type { Steward } from '../steward.js';
import {
  type Finding,
  type FindingKind,
  findFindings,
  type ReportRules,
  type VersionFacts,
} from './findings.js';
import { healthOf } from './health.js';

/** A model with a `staging` alias: its versions, comparison figures and traffic shares. */
export interface StagingSummary {
  readonly model: string;
  readonly productionVersion: number | null;
  readonly stagingVersion: number;
  /** True while a comparison runs: both aliases set, on different versions. */
  readonly active: boolean;
  /** Shadow requests compared so far in the current comparison. */
  readonly comparedRequests: number;
  /** Share of compared requests on which staging agreed with production; null before the first. */
  readonly agreementPercent: number | null;
  /** Staging's p95 runtime latency over production's, on the compared requests. */
  readonly p95LatencyRatio: number | null;
  readonly shadowPercent: number;
  /** Share of live production traffic that the staging version serves instead. */
  readonly canaryPercent: number;
  /** The comparison in one line, or what keeps it from running. */
  readonly summary: string;
}

export interface FleetTotals {
  readonly models: number;
  readonly versions: number;
  readonly archivedVersions: number;
  readonly loadedVersions: number;
  readonly memoryUsedBytes: number;
  readonly memoryBudgetBytes: number;
  readonly diskUsedBytes: number;
}

export interface FleetReport {
  readonly generatedAt: string;
  readonly rules: ReportRules;
  readonly totals: FleetTotals;
  /** Findings by kind, in the order of FINDING_ORDER, then model and version. */
  readonly findings: readonly Finding[];
  readonly counts: Readonly<Record<FindingKind, number>>;
  /** One entry per model with a `staging` alias, by model name. */
  readonly staging: readonly StagingSummary[];
}

export const FINDING_ORDER: readonly FindingKind[] = [
  'failing',
  'invalid_outputs',
  'slow',
  'outdated',
  'redundant',
  'unused',
];

/**
 * Builds the fleet report from the in-memory catalog, load states, usage, probes and health:
 * what exists and what is loaded, then every finding with its reason and a recommended action.
 */
export async function buildReport(steward: Steward, now = Date.now()): Promise<FleetReport> {
  const rules: ReportRules = {
    outdatedDays: steward.config.reportOutdatedDays,
    idleDays: steward.config.reportIdleDays,
  };
  const records = steward.catalog.allVersions();
  const facts: VersionFacts[] = records.map((record) => {
    const load = steward.manager.status(record);
    const usage = steward.usage.snapshot(record.model, record.version);
    const shadowUsage = steward.shadowUsage.snapshot(record.model, record.version);
    const probes = steward.probes.lastRun(record.model, record.version);
    return {
      model: record.model,
      version: record.version,
      createdAt: record.createdAt,
      sha256: record.sha256,
      state: record.state,
      aliases: steward.catalog.aliasesOf(record.model, record.version),
      requests: usage.requests,
      lastUsedAt: usage.lastUsedAt,
      shadowLastUsedAt: shadowUsage.lastUsedAt,
      health: healthOf({
        record,
        load,
        usage,
        probes,
        thresholds: steward.thresholds.for(record.model),
      }),
      probes,
      productionVersion: steward.catalog.aliasTarget(record.model, 'production'),
    };
  });

  const findings = findFindings(facts, rules, now).sort(
    (a, b) =>
      FINDING_ORDER.indexOf(a.kind) - FINDING_ORDER.indexOf(b.kind) ||
      a.model.localeCompare(b.model) ||
      a.version - b.version,
  );
  const counts = Object.fromEntries(FINDING_ORDER.map((kind) => [kind, 0])) as Record<
    FindingKind,
    number
  >;
  for (const finding of findings) counts[finding.kind] += 1;

  return {
    generatedAt: new Date(now).toISOString(),
    rules,
    totals: {
      models: steward.catalog.modelNames().length,
      versions: records.length,
      archivedVersions: records.filter((record) => record.state === 'archived').length,
      loadedVersions: steward.manager.loaded().length,
      memoryUsedBytes: steward.manager.usedBytes(),
      memoryBudgetBytes: steward.manager.budgetBytes,
      diskUsedBytes: (await steward.store.diskUsage()) + (await steward.unpacked.diskUsage()),
    },
    findings,
    counts,
    staging: stagingSummaries(steward),
  };
}

/** Summarizes the staging of every model with a `staging` alias. */
function stagingSummaries(steward: Steward): StagingSummary[] {
  const summaries: StagingSummary[] = [];
  for (const model of [...steward.catalog.modelNames()].sort()) {
    const stagingVersion = steward.catalog.aliasTarget(model, 'staging');
    if (stagingVersion === undefined) continue;
    const productionVersion = steward.catalog.aliasTarget(model, 'production') ?? null;
    const settings = steward.staging.settings.effective(model);
    const report = steward.staging.comparisons.current(model)?.report();
    summaries.push({
      model,
      productionVersion,
      stagingVersion,
      active: report !== undefined,
      comparedRequests: report?.agreement.requests ?? 0,
      agreementPercent: report?.agreement.percent ?? null,
      p95LatencyRatio: report?.latencyMs.p95Ratio ?? null,
      shadowPercent: settings.shadowPercent,
      canaryPercent: settings.canaryPercent,
      summary: report?.summary ?? inactiveSummary(model, productionVersion, stagingVersion),
    });
  }
  return summaries;
}
