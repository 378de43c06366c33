import type { FastifyInstance } from 'fastify';
import { buildReport } from '../../governance/report.js';
import type { Steward } from '../../steward.js';

/** Registers the fleet report. */
export function reportRoutes(app: FastifyInstance, steward: Steward): void {
  app.get('/api/v1/report', async () => {
    const report = await buildReport(steward);
    return {
      generated_at: report.generatedAt,
      rules: { outdated_days: report.rules.outdatedDays, idle_days: report.rules.idleDays },
      totals: {
        models: report.totals.models,
        versions: report.totals.versions,
        archived_versions: report.totals.archivedVersions,
        loaded_versions: report.totals.loadedVersions,
        memory_used_bytes: report.totals.memoryUsedBytes,
        memory_budget_bytes: report.totals.memoryBudgetBytes,
        disk_used_bytes: report.totals.diskUsedBytes,
      },
      counts: report.counts,
      findings: report.findings,
      staging: report.staging.map((entry) => ({
        model: entry.model,
        production_version: entry.productionVersion,
        staging_version: entry.stagingVersion,
        active: entry.active,
        compared_requests: entry.comparedRequests,
        agreement_percent: entry.agreementPercent,
        p95_latency_ratio: entry.p95LatencyRatio,
        shadow_percent: entry.shadowPercent,
        canary_percent: entry.canaryPercent,
        summary: entry.summary,
      })),
    };
  });
}
