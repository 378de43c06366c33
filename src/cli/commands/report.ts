import type { Command } from 'commander';
import { formatBytes } from '../../config/units.js';
import { type ClientOptions, requestJson } from '../client.js';
import { renderTable } from '../table.js';

interface ReportView {
  generated_at: string;
  rules: { outdated_days: number; idle_days: number };
  totals: {
    models: number;
    versions: number;
    archived_versions: number;
    loaded_versions: number;
    memory_used_bytes: number;
    memory_budget_bytes: number;
    disk_used_bytes: number;
  };
  counts: Record<string, number>;
  findings: Array<{ kind: string; model: string; version: number; reason: string; action: string }>;
  staging: Array<{ model: string; canary_percent: number; summary: string }>;
}

export function registerReportCommand(program: Command, client: () => ClientOptions): void {
  program
    .command('report')
    .description(
      'show the fleet report: what exists, what is outdated, redundant, unused, failing or slow, and how staging versions compare',
    )
    .option('--json', 'print the API response as JSON')
    .action(async (options: { json?: boolean }) => {
      const report = await requestJson<ReportView>(client(), 'GET', '/api/v1/report');
      if (options.json) {
        console.log(JSON.stringify(report, null, 2));
        return;
      }
      const totals = report.totals;
      console.log(
        `${totals.models} models, ${totals.versions} versions (${totals.archived_versions} archived), ` +
          `${totals.loaded_versions} loaded using ${formatBytes(totals.memory_used_bytes)} of ` +
          `${formatBytes(totals.memory_budget_bytes)}, ${formatBytes(totals.disk_used_bytes)} on disk`,
      );
      const counted = Object.entries(report.counts)
        .filter(([, count]) => count > 0)
        .map(([kind, count]) => `${count} ${kind.replace('_', ' ')}`);
      console.log(counted.length > 0 ? `findings: ${counted.join(', ')}` : 'findings: none');
      for (const entry of report.staging) {
        console.log(`staging: ${entry.model}: ${entry.summary}; canary ${entry.canary_percent}%`);
      }
      if (report.findings.length === 0) return;
      console.log('');
      const rows = report.findings.map((finding) => [
        finding.kind.replace('_', ' '),
        finding.model,
        String(finding.version),
        finding.reason,
        finding.action,
      ]);
      console.log(
        renderTable(['FINDING', 'MODEL', 'VERSION', 'REASON', 'RECOMMENDED ACTION'], rows),
      );
    });
}
