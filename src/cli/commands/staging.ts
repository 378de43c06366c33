import { type Command, InvalidArgumentError } from 'commander';
import { parsePercent } from '../../config/config.js';
import { type ClientOptions, requestJson } from '../client.js';
import { renderTable } from '../table.js';

interface SettingsView {
  shadow_percent: number;
  canary_percent: number;
  canary_header: string | null;
  tolerance: number;
  overrides: Record<string, number | string | null>;
}

interface LatencyView {
  p50: number | null;
  p95: number | null;
}

interface ComparisonView {
  active: boolean;
  summary: string;
  started_at?: string;
  shadow?: {
    mirrored: number;
    compared: number;
    errors: number;
    pending: number;
    dropped: Record<string, number>;
  };
  outputs?: Array<{
    name: string;
    kind: string;
    rows: number;
    agreement_percent: number | null;
    max_abs_diff: number | null;
    mean_abs_diff: number | null;
    within_tolerance_percent: number | null;
  }>;
  latency_ms?: { production: LatencyView; staging: LatencyView };
  canary?: { requests_to_staging: number; requests_to_production: number };
  disagreements?: unknown[];
}

const model = (name: string) => `/api/v1/models/${encodeURIComponent(name)}`;

function percentOption(what: string) {
  return (text: string) => {
    try {
      return parsePercent(text, what);
    } catch (error) {
      throw new InvalidArgumentError((error as Error).message);
    }
  };
}

function toleranceOption(text: string): number {
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || value < 0) {
    throw new InvalidArgumentError(
      `invalid tolerance "${text}": use a number of 0 or more, such as 1e-4`,
    );
  }
  return value;
}

function countOption(text: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new InvalidArgumentError(`invalid count "${text}": use a whole number of 0 or more`);
  }
  return value;
}

export function registerStagingCommands(program: Command, client: () => ClientOptions): void {
  program
    .command('staging')
    .description('show or change how a model shadows and canaries its staging version')
    .argument('<name>', 'model name')
    .option(
      '--shadow <percent>',
      'share of production requests also run on staging',
      percentOption('shadow percent'),
    )
    .option(
      '--canary <percent>',
      'share of live traffic that staging serves',
      percentOption('canary percent'),
    )
    .option('--canary-header <name>', 'request header that keeps a caller on one version')
    .option(
      '--tolerance <number>',
      'absolute difference up to which values count as equal',
      toleranceOption,
    )
    .option('--reset', 'return every setting of this model to the server default')
    .option('--json', 'print the API response as JSON')
    .action(async (name: string, options: StagingOptions) => {
      const patch = settingsPatch(options);
      const settings =
        Object.keys(patch).length === 0
          ? await requestJson<SettingsView>(client(), 'GET', `${model(name)}/staging`)
          : await requestJson<SettingsView>(client(), 'PUT', `${model(name)}/staging`, patch);
      if (options.json) {
        console.log(JSON.stringify(settings, null, 2));
        return;
      }
      const mark = (key: string) =>
        settings.overrides[key] === null ? '' : ' (set for this model)';
      console.log(`shadow:        ${settings.shadow_percent}%${mark('shadow_percent')}`);
      console.log(`canary:        ${settings.canary_percent}%${mark('canary_percent')}`);
      console.log(
        `canary header: ${settings.canary_header ?? 'none (random)'}${mark('canary_header')}`,
      );
      console.log(`tolerance:     ${settings.tolerance}${mark('tolerance')}`);
    });

  program
    .command('compare')
    .description('compare the staging version with production on shadowed requests')
    .argument('<name>', 'model name')
    .option('--json', 'print the API response as JSON, with the largest disagreements')
    .action(async (name: string, options: { json?: boolean }) => {
      const view = await requestJson<ComparisonView>(client(), 'GET', `${model(name)}/comparison`);
      if (options.json) {
        console.log(JSON.stringify(view, null, 2));
        return;
      }
      console.log(view.summary);
      if (!view.active) return;
      printComparison(view);
    });

  program
    .command('promote')
    .description('move production to the staging version; the old one becomes previous')
    .argument('<name>', 'model name')
    .option('--min-requests <count>', 'reject below this many compared requests', countOption)
    .option(
      '--min-agreement <percent>',
      'reject below this agreement, such as 98.5',
      percentOption('minimum agreement'),
    )
    .option('--force', 'promote even when staging would reject requests that production takes')
    .option('-r, --reason <text>', 'reason recorded in the alias history')
    .action(async (name: string, options: PromoteOptions) => {
      const result = await requestJson<{
        production_version: number;
        previous_version: number | null;
      }>(client(), 'POST', `${model(name)}/promote`, {
        min_requests: options.minRequests,
        min_agreement_percent: options.minAgreement,
        reason: options.reason,
        force: options.force,
      });
      const from =
        result.previous_version === null ? 'nothing' : `version ${result.previous_version}`;
      console.log(`${name} production: ${from} -> version ${result.production_version}`);
    });

  program
    .command('rollback')
    .description('move production back to the previous version')
    .argument('<name>', 'model name')
    .option('-r, --reason <text>', 'reason recorded in the alias history')
    .action(async (name: string, options: { reason?: string }) => {
      const result = await requestJson<{
        production_version: number;
        previous_version: number | null;
      }>(client(), 'POST', `${model(name)}/rollback`, { reason: options.reason });
      const from =
        result.previous_version === null ? '' : ` (was version ${result.previous_version})`;
      console.log(`${name} production rolled back to version ${result.production_version}${from}`);
    });
}

interface StagingOptions {
  shadow?: number;
  canary?: number;
  canaryHeader?: string;
  tolerance?: number;
  reset?: boolean;
  json?: boolean;
}

interface PromoteOptions {
  minRequests?: number;
  minAgreement?: number;
  force?: boolean;
  reason?: string;
}

function settingsPatch(options: StagingOptions): Record<string, unknown> {
  const patch: Record<string, unknown> = {};
  if (options.reset) {
    for (const key of ['shadow_percent', 'canary_percent', 'canary_header', 'tolerance'])
      patch[key] = null;
  }
  if (options.shadow !== undefined) patch.shadow_percent = options.shadow;
  if (options.canary !== undefined) patch.canary_percent = options.canary;
  if (options.canaryHeader !== undefined) patch.canary_header = options.canaryHeader;
  if (options.tolerance !== undefined) patch.tolerance = options.tolerance;
  return patch;
}

function printComparison(view: ComparisonView): void {
  printCounts(view);
  printOutputs(view);
}

/** Prints what became of the shadow requests, the latency of both versions, and the canary split. */
function printCounts(view: ComparisonView): void {
  const shadow = view.shadow!;
  const dropped = Object.entries(shadow.dropped)
    .filter(([, count]) => count > 0)
    .map(([reason, count]) => `${count} ${reason.replaceAll('_', ' ')}`);
  console.log(
    `shadow: ${shadow.mirrored} mirrored, ${shadow.compared} compared, ${shadow.errors} failed, ` +
      `${shadow.pending} pending; dropped: ${dropped.length > 0 ? dropped.join(', ') : 'none'}`,
  );

  const latency = view.latency_ms!;
  const ms = (value: number | null) => (value === null ? '-' : value.toFixed(3));
  console.log(
    `model latency ms: production p50 ${ms(latency.production.p50)} p95 ${ms(latency.production.p95)}, ` +
      `staging p50 ${ms(latency.staging.p50)} p95 ${ms(latency.staging.p95)}`,
  );

  const canary = view.canary!;
  if (canary.requests_to_staging + canary.requests_to_production > 0) {
    console.log(
      `canary: ${canary.requests_to_staging} live requests to staging, ${canary.requests_to_production} to production`,
    );
  }
}

/** Prints the figures of each output and the number of disagreements kept. */
function printOutputs(view: ComparisonView): void {
  const number = (value: number | null, digits: number) =>
    value === null ? '-' : value.toFixed(digits);
  const rows = (view.outputs ?? []).map((output) => [
    output.name,
    output.kind,
    String(output.rows),
    number(output.agreement_percent, 2),
    number(output.max_abs_diff, 6),
    number(output.mean_abs_diff, 6),
    number(output.within_tolerance_percent, 2),
  ]);
  if (rows.length > 0) {
    console.log('');
    console.log(
      renderTable(
        ['OUTPUT', 'KIND', 'ROWS', 'AGREE %', 'MAX DIFF', 'MEAN DIFF', 'WITHIN TOL %'],
        rows,
      ),
    );
  }

  const samples = view.disagreements?.length ?? 0;
  if (samples > 0) {
    console.log(`\n${samples} largest disagreements kept; see them with --json`);
  }
}
