import type { Command } from 'commander';
import { type ClientOptions, requestJson } from '../client.js';
import { renderTable } from '../table.js';

interface GcView {
  dry_run: boolean;
  evaluated_at: string;
  policy_source: string | null;
  summary: { archive: number; delete: number; skip: number; failed: number };
  results: Array<{
    model: string;
    version: number;
    action: string;
    outcome: string;
    reasons: string[];
    protected_by: string[];
    error: string | null;
  }>;
}

interface AuditView {
  entries: Array<{
    at: string;
    actor: string;
    action: string;
    model: string | null;
    version: number | null;
    reason: string;
  }>;
}

interface AuditOptions {
  action?: string;
  actor?: string;
  since?: string;
  limit?: string;
  json?: boolean;
}

const versionPath = (name: string, v: string) =>
  `/api/v1/models/${encodeURIComponent(name)}/versions/${encodeURIComponent(v)}`;

export function registerGovernanceCommands(program: Command, client: () => ClientOptions): void {
  for (const operation of ['archive', 'restore'] as const) {
    program
      .command(operation)
      .description(
        operation === 'archive'
          ? 'archive a version: it is unloaded and serves no request, but keeps its row and file'
          : 'bring an archived version back, so requests can load it again',
      )
      .argument('<name>', 'model name')
      .argument('<version>', 'version number')
      .option('-r, --reason <text>', 'reason recorded in the audit log')
      .action(async (name: string, target: string, options: { reason?: string }) => {
        const result = await requestJson<{ version: number; changed: boolean }>(
          client(),
          'POST',
          `${versionPath(name, target)}/${operation}`,
          { reason: options.reason },
        );
        const done = operation === 'archive' ? 'archived' : 'restored';
        const unchanged = operation === 'archive' ? 'already archived' : 'not archived';
        console.log(
          result.changed
            ? `${name} version ${result.version} ${done}`
            : `${name} version ${result.version} is ${unchanged}; nothing changed`,
        );
      });
  }

  program
    .command('gc')
    .description('apply the retirement policy: archive and delete versions, one result per version')
    .option('--dry-run', 'print what gc would do and change nothing')
    .option('--json', 'print the API response as JSON')
    .action(async (options: { dryRun?: boolean; json?: boolean }) => {
      const run = await requestJson<GcView>(client(), 'POST', '/api/v1/gc', {
        dry_run: options.dryRun === true,
      });
      if (options.json) console.log(JSON.stringify(run, null, 2));
      else printRun(run);
      if (run.summary.failed > 0) process.exitCode = 1;
    });

  program
    .command('audit')
    .description('show the audit log of lifecycle actions, newest first')
    .argument('[name]', 'model name; all models when left out')
    .argument('[version]', 'version number; all versions of the model when left out')
    .option('--action <action>', 'only this action, such as archive or load')
    .option('--actor <actor>', 'only entries of this actor, such as admin:alice')
    .option('--since <time>', 'only entries at or after this ISO-8601 time')
    .option('--limit <count>', 'maximum number of entries (1 to 1000)', '100')
    .option('--json', 'print the API response as JSON')
    .action(async (name: string | undefined, target: string | undefined, options: AuditOptions) => {
      const query = new URLSearchParams();
      if (target !== undefined) query.set('version', target);
      for (const field of ['action', 'actor', 'since', 'limit'] as const) {
        const value = options[field];
        if (typeof value === 'string') query.set(field, value);
      }
      const path = name
        ? `/api/v1/models/${encodeURIComponent(name)}/audit?${query}`
        : `/api/v1/audit?${query}`;
      const result = await requestJson<AuditView>(client(), 'GET', path);
      if (options.json) {
        console.log(JSON.stringify(result, null, 2));
        return;
      }
      const rows = result.entries.map((entry) => [
        entry.at,
        entry.action,
        entry.model ?? '-',
        entry.version === null ? '-' : String(entry.version),
        entry.actor,
        entry.reason,
      ]);
      console.log(renderTable(['WHEN', 'ACTION', 'MODEL', 'VERSION', 'ACTOR', 'REASON'], rows));
    });
}

function printRun(run: GcView): void {
  if (run.policy_source === null) {
    console.log(
      'no retirement policy is configured, so gc has nothing to do; start the server with --policy FILE',
    );
    return;
  }
  const { archive, delete: remove, skip, failed } = run.summary;
  const head = run.dry_run
    ? `dry run at ${run.evaluated_at}: would archive ${archive}, would delete ${remove}`
    : `gc at ${run.evaluated_at}: archived ${archive}, deleted ${remove}`;
  console.log(`${head}, protected ${skip}, failed ${failed} (policy ${run.policy_source})`);
  if (run.results.length === 0) return;
  const rows = run.results.map((result) => [
    result.action,
    result.model,
    String(result.version),
    result.outcome,
    describe(result),
  ]);
  console.log(renderTable(['ACTION', 'MODEL', 'VERSION', 'RESULT', 'REASON'], rows));
}

function describe(result: GcView['results'][number]): string {
  const parts = [...result.reasons];
  if (result.protected_by.length > 0)
    parts.unshift(`protected by ${result.protected_by.join(', ')}`);
  if (result.error) parts.unshift(result.error);
  return parts.join('; ');
}
