import type { Command } from 'commander';
import { formatBytes } from '../../config/units.js';
import { type ClientOptions, requestJson, uploadFile } from '../client.js';
import { ago, renderTable } from '../table.js';

/** The fields of a version that the client commands print. */
interface VersionView {
  model: string;
  version: number;
  format: string;
  sha256: string;
  size_bytes: number;
  aliases: string[];
  status: string;
  state: string;
  created_at: string;
  load: { state: string; loaded: boolean; memory_bytes: number };
  usage: {
    requests: number;
    errors: number;
    client_errors: number;
    last_used_at: string | null;
    latency_ms: { p50: number | null; p95: number | null };
  };
  signature: { inputs: TensorView[]; outputs: TensorView[] };
}

interface TensorView {
  name: string;
  datatype: string;
  shape: number[];
}

interface ModelView {
  name: string;
  description: string;
  aliases: Record<string, number>;
  versions: VersionView[];
}

export function registerRegistryCommands(program: Command, client: () => ClientOptions): void {
  program
    .command('push')
    .description('upload a model file as a new version')
    .argument('<file>', 'model file to upload')
    .requiredOption('-m, --model <name>', 'model name')
    .option('-a, --alias <alias>', 'alias to point at the new version, such as production')
    .option('-d, --description <text>', 'description of this version')
    .action(
      async (file: string, options: { model: string; alias?: string; description?: string }) => {
        const query = new URLSearchParams({ filename: file.split('/').pop() ?? file });
        if (options.alias) query.set('alias', options.alias);
        if (options.description) query.set('description', options.description);
        const path = `/api/v1/models/${encodeURIComponent(options.model)}/versions?${query}`;
        const showProgress = process.stderr.isTTY;
        const { status, body } = await uploadFile<VersionView>(
          client(),
          path,
          file,
          (sent, total) => {
            if (!showProgress) return;
            const percent = total === 0 ? 100 : Math.floor((sent / total) * 100);
            process.stderr.write(
              `\ruploading ${formatBytes(sent)} of ${formatBytes(total)} (${percent}%)`,
            );
          },
        );
        if (showProgress) process.stderr.write('\n');
        const what = `${body.model} version ${body.version}`;
        const facts = `sha256 ${body.sha256.slice(0, 12)}, ${formatBytes(body.size_bytes)}`;
        const aliases = body.aliases.length > 0 ? ` [${body.aliases.join(', ')}]` : '';
        if (status === 201) {
          console.log(`${what} registered (${facts})${aliases}`);
        } else {
          console.log(
            `${what} already has these bytes (${facts}); nothing new registered${aliases}`,
          );
        }
      },
    );

  program
    .command('models')
    .description('list every model and version with its status and usage')
    .option('--json', 'print the API response as JSON')
    .action(async (options: { json?: boolean }) => {
      const { models } = await requestJson<{ models: ModelView[] }>(
        client(),
        'GET',
        '/api/v1/models',
      );
      if (options.json) {
        console.log(JSON.stringify(models, null, 2));
        return;
      }
      const rows = models.flatMap((model) => model.versions.map(versionRow));
      console.log(renderTable(VERSION_HEADERS, rows));
    });

  program
    .command('show')
    .description('show one model: its aliases, versions and signatures')
    .argument('<name>', 'model name')
    .option('--json', 'print the API response as JSON')
    .action(async (name: string, options: { json?: boolean }) => {
      const model = await requestJson<ModelView>(
        client(),
        'GET',
        `/api/v1/models/${encodeURIComponent(name)}`,
      );
      if (options.json) {
        console.log(JSON.stringify(model, null, 2));
        return;
      }
      console.log(`model ${model.name}${model.description ? `: ${model.description}` : ''}`);
      const aliases = Object.entries(model.aliases).map(
        ([alias, version]) => `${alias} -> ${version}`,
      );
      console.log(`aliases: ${aliases.length > 0 ? aliases.join(', ') : 'none'}`);
      console.log('');
      console.log(renderTable(VERSION_HEADERS, model.versions.map(versionRow)));
      printSignatures(model.versions);
    });
}

const VERSION_HEADERS = [
  'MODEL',
  'VERSION',
  'ALIASES',
  'STATUS',
  'LOADED',
  'REQUESTS',
  'ERRORS',
  'REJECTED',
  'P95 MS',
  'LAST USED',
  'SIZE',
];

function versionRow(version: VersionView): string[] {
  const loaded = version.load.loaded ? formatBytes(version.load.memory_bytes) : version.load.state;
  return [
    version.model,
    String(version.version),
    version.aliases.join(',') || '-',
    version.status,
    loaded,
    String(version.usage.requests),
    String(version.usage.errors),
    String(version.usage.client_errors),
    version.usage.latency_ms.p95 === null ? '-' : version.usage.latency_ms.p95.toFixed(2),
    ago(version.usage.last_used_at),
    formatBytes(version.size_bytes),
  ];
}

/** Prints each distinct signature once, with the versions that share it. */
function printSignatures(versions: readonly VersionView[]): void {
  const groups = new Map<string, number[]>();
  for (const version of versions) {
    const key = JSON.stringify(version.signature);
    groups.set(key, [...(groups.get(key) ?? []), version.version]);
  }
  for (const [key, numbers] of groups) {
    const signature = JSON.parse(key) as VersionView['signature'];
    const label = numbers.length === 1 ? 'version' : 'versions';
    console.log('');
    console.log(`signature of ${label} ${numbers.join(', ')}:`);
    for (const [role, tensors] of [
      ['input', signature.inputs],
      ['output', signature.outputs],
    ] as const) {
      for (const tensor of tensors) {
        console.log(`  ${role}  ${tensor.name}  ${tensor.datatype}  [${tensor.shape.join(', ')}]`);
      }
    }
  }
}
