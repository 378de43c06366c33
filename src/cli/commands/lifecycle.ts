import { type Command, InvalidArgumentError } from 'commander';
import { formatBytes } from '../../config/units.js';
import { type ClientOptions, requestJson } from '../client.js';
import { ago, renderTable } from '../table.js';

interface LoadedView {
  budget_bytes: number;
  used_bytes: number;
  versions: Array<{
    model: string;
    version: number;
    aliases: string[];
    memory_bytes: number;
    load_ms: number;
    last_used_at: string | null;
    in_flight: number;
    pinned: boolean;
  }>;
}

interface HistoryView {
  history: Array<{
    alias: string;
    from_version: number | null;
    to_version: number | null;
    actor: string;
    reason: string;
    changed_at: string;
  }>;
}

const model = (name: string) => `/api/v1/models/${encodeURIComponent(name)}`;
const version = (name: string, v: string) => `${model(name)}/versions/${encodeURIComponent(v)}`;

/** Parses a version number argument. The alias API takes a number, not another alias. */
function versionNumber(text: string): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value < 1) {
    throw new InvalidArgumentError(
      'use a whole version number of 1 or more, such as 2; steward show NAME lists the versions',
    );
  }
  return value;
}

export function registerLifecycleCommands(program: Command, client: () => ClientOptions): void {
  const alias = program
    .command('alias')
    .description('point aliases such as production at versions');
  alias
    .command('set')
    .description('point an alias at a version; production loads the new version before it switches')
    .argument('<name>', 'model name')
    .argument('<alias>', 'alias name')
    .argument('<version>', 'version number', versionNumber)
    .option('-r, --reason <text>', 'reason recorded in the history')
    .action(
      async (name: string, aliasName: string, target: number, options: { reason?: string }) => {
        const result = await requestJson<{ previous_version: number | null; changed: boolean }>(
          client(),
          'PUT',
          `${model(name)}/aliases/${encodeURIComponent(aliasName)}`,
          { version: target, reason: options.reason },
        );
        const from =
          result.previous_version === null ? 'nothing' : `version ${result.previous_version}`;
        console.log(
          result.changed
            ? `${name} ${aliasName}: ${from} -> version ${target}`
            : `${name} ${aliasName} already points at version ${target}`,
        );
      },
    );
  alias
    .command('rm')
    .description('remove an alias')
    .argument('<name>', 'model name')
    .argument('<alias>', 'alias name')
    .action(async (name: string, aliasName: string) => {
      const result = await requestJson<{ previous_version: number | null }>(
        client(),
        'DELETE',
        `${model(name)}/aliases/${encodeURIComponent(aliasName)}`,
      );
      console.log(`${name} ${aliasName} removed (was version ${result.previous_version})`);
    });

  program
    .command('load')
    .description('load a version now (default: production, else the newest)')
    .argument('<name>', 'model name')
    .argument('[version]', 'version number or alias')
    .action(async (name: string, target: string | undefined) => {
      const path =
        target === undefined
          ? `/v2/repository/models/${encodeURIComponent(name)}/load`
          : `${version(name, target)}/load`;
      await requestJson(client(), 'POST', path);
      console.log(`${name}${target ? ` ${target}` : ''} loaded`);
    });

  program
    .command('unload')
    .description('unload a version, or every loaded version of the model')
    .argument('<name>', 'model name')
    .argument('[version]', 'version number or alias')
    .action(async (name: string, target: string | undefined) => {
      const path =
        target === undefined
          ? `/v2/repository/models/${encodeURIComponent(name)}/unload`
          : `${version(name, target)}/unload`;
      await requestJson(client(), 'POST', path);
      console.log(`${name}${target ? ` ${target}` : ''} unloaded`);
    });

  for (const [command, method] of [
    ['pin', 'PUT'],
    ['unpin', 'DELETE'],
  ] as const) {
    program
      .command(command)
      .description(
        command === 'pin'
          ? 'keep a version loaded: it is never evicted or unloaded when idle'
          : 'let a pinned version be evicted again',
      )
      .argument('<name>', 'model name')
      .argument('<version>', 'version number or alias')
      .action(async (name: string, target: string) => {
        await requestJson(client(), method, `${version(name, target)}/pin`);
        console.log(`${name} ${target} ${command === 'pin' ? 'pinned' : 'unpinned'}`);
      });
  }

  program
    .command('delete')
    .description('delete a version, or a whole model when no version is given')
    .argument('<name>', 'model name')
    .argument('[version]', 'version number')
    .option('-f, --force', 'also remove aliases that point at it')
    .action(async (name: string, target: string | undefined, options: { force?: boolean }) => {
      const query = options.force ? '?force=true' : '';
      const path = target === undefined ? model(name) : version(name, target);
      await requestJson(client(), 'DELETE', `${path}${query}`);
      console.log(`${name}${target ? ` version ${target}` : ''} deleted`);
    });

  program
    .command('loaded')
    .description('list loaded versions with their memory, last use and pins')
    .option('--json', 'print the API response as JSON')
    .action(async (options: { json?: boolean }) => {
      const loaded = await requestJson<LoadedView>(client(), 'GET', '/api/v1/loaded');
      if (options.json) {
        console.log(JSON.stringify(loaded, null, 2));
        return;
      }
      console.log(
        `memory: ${formatBytes(loaded.used_bytes)} of ${formatBytes(loaded.budget_bytes)} budget`,
      );
      const rows = loaded.versions.map((v) => [
        v.model,
        String(v.version),
        v.aliases.join(',') || '-',
        formatBytes(v.memory_bytes),
        v.load_ms.toFixed(1),
        ago(v.last_used_at),
        String(v.in_flight),
        v.pinned ? 'yes' : 'no',
      ]);
      console.log(
        renderTable(
          ['MODEL', 'VERSION', 'ALIASES', 'MEMORY', 'LOAD MS', 'LAST USED', 'IN FLIGHT', 'PINNED'],
          rows,
        ),
      );
    });

  program
    .command('history')
    .description('show the alias history of a model, newest first')
    .argument('<name>', 'model name')
    .option('--json', 'print the API response as JSON')
    .action(async (name: string, options: { json?: boolean }) => {
      const result = await requestJson<HistoryView>(client(), 'GET', `${model(name)}/history`);
      if (options.json) {
        console.log(JSON.stringify(result, null, 2));
        return;
      }
      const rows = result.history.map((change) => [
        change.changed_at,
        change.alias,
        change.from_version === null ? '-' : String(change.from_version),
        change.to_version === null ? '-' : String(change.to_version),
        change.actor,
        change.reason,
      ]);
      console.log(renderTable(['WHEN', 'ALIAS', 'FROM', 'TO', 'ACTOR', 'REASON'], rows));
    });
}
