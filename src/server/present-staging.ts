import type { ComparisonReport } from '../serving/staging/comparison.js';
import { inactiveSummary } from '../serving/staging/comparison-book.js';
import type { Disagreement } from '../serving/staging/samples.js';
import type { Steward } from '../steward.js';

/** Lists the staging settings of a model: the values in force, and which of them are overrides. */
export function presentStagingSettings(steward: Steward, model: string) {
  const effective = steward.staging.settings.effective(model);
  const overrides = steward.staging.settings.overrides(model);
  return {
    model,
    shadow_percent: effective.shadowPercent,
    canary_percent: effective.canaryPercent,
    canary_header: effective.canaryHeader ?? null,
    tolerance: effective.tolerance,
    overrides: {
      shadow_percent: overrides.shadowPercent ?? null,
      canary_percent: overrides.canaryPercent ?? null,
      canary_header: overrides.canaryHeader ?? null,
      tolerance: overrides.tolerance ?? null,
    },
  };
}

/** Describes the staging part of a model: its staging aliases, settings and comparison figures. */
export function presentStaging(steward: Steward, model: string) {
  const { model: _model, ...settings } = presentStagingSettings(steward, model);
  const report = steward.staging.comparisons.current(model)?.report();
  return {
    production_version: steward.catalog.aliasTarget(model, 'production') ?? null,
    staging_version: steward.catalog.aliasTarget(model, 'staging') ?? null,
    previous_version: steward.catalog.aliasTarget(model, 'previous') ?? null,
    settings,
    comparison: report ? comparisonFields(report) : null,
  };
}

/**
 * Reports the comparison of a model's staging version with its production version. Without
 * both aliases on different versions, `active` is false and `summary` names what is missing.
 * `disagreements` is null when `withSamples` is false.
 */
export function presentComparison(steward: Steward, model: string, withSamples: boolean) {
  const settings = presentStagingSettings(steward, model);
  const report = steward.staging.comparisons.current(model)?.report();
  if (!report) {
    const production = steward.catalog.aliasTarget(model, 'production') ?? null;
    const staging = steward.catalog.aliasTarget(model, 'staging') ?? null;
    return {
      model,
      active: false as const,
      production_version: production,
      staging_version: staging,
      summary: inactiveSummary(model, production, staging),
      settings,
    };
  }
  return {
    model,
    active: true as const,
    ...comparisonFields(report),
    settings,
    disagreements: withSamples ? report.disagreements.map(presentDisagreement) : null,
  };
}

/** Every figure of a comparison but the disagreement samples. */
function comparisonFields(report: ComparisonReport) {
  return {
    production_version: report.productionVersion,
    staging_version: report.stagingVersion,
    started_at: report.startedAt,
    summary: report.summary,
    tolerance: report.tolerance,
    shadow: report.shadow,
    agreement: {
      requests: report.agreement.requests,
      agreeing: report.agreement.agreeing,
      percent: report.agreement.percent,
      rows: report.agreement.rows,
      rows_agreeing: report.agreement.rowsAgreeing,
      rows_percent: report.agreement.rowsPercent,
    },
    outputs: report.outputs.map((output) => ({
      name: output.name,
      kind: output.kind,
      rows: output.rows,
      rows_agreeing: output.rowsAgreeing,
      agreement_percent: output.agreementPercent,
      elements: output.elements,
      max_abs_diff: output.maxAbsDiff,
      mean_abs_diff: output.meanAbsDiff,
      within_tolerance_percent: output.withinTolerancePercent,
      non_finite_mismatches: output.nonFiniteMismatches,
      mismatches: output.mismatches,
    })),
    latency_ms: {
      production: report.latencyMs.production,
      staging: report.latencyMs.staging,
      p50_ratio: report.latencyMs.p50Ratio,
      p95_ratio: report.latencyMs.p95Ratio,
    },
    canary: {
      requests_to_staging: report.canary.toStaging,
      requests_to_production: report.canary.toProduction,
    },
  };
}

function presentDisagreement(sample: Disagreement) {
  return {
    at: sample.at,
    request_id: sample.requestId,
    rows: sample.rows,
    rows_disagreeing: sample.rowsDisagreeing,
    max_abs_diff: sample.maxAbsDiff,
    inputs: sample.inputs,
    production: sample.production,
    staging: sample.staging,
  };
}
