#!/usr/bin/env node
import { Command, InvalidArgumentError, Option } from 'commander';
import { type ConfigOverrides, resolveConfig, SETTINGS } from '../config/config.js';
import { STEWARD_VERSION } from '../version.js';
import type { ClientOptions } from './client.js';
import { registerGovernanceCommands } from './commands/governance.js';
import { registerInferCommand } from './commands/infer.js';
import { registerLifecycleCommands } from './commands/lifecycle.js';
import { registerRegistryCommands } from './commands/registry.js';
import { registerReportCommand } from './commands/report.js';
import { registerStagingCommands } from './commands/staging.js';
import { serve } from './serve.js';

const program = new Command()
  .name('steward')
  .description('Steward serves ONNX models over the Open Inference Protocol and governs the fleet.')
  .version(STEWARD_VERSION)
  .showHelpAfterError()
  .option(
    '--url <url>',
    'server URL for client commands (env STEWARD_URL)',
    process.env.STEWARD_URL ?? 'http://127.0.0.1:8080',
  )
  .option('--token <token>', 'admin token for client writes (env STEWARD_ADMIN_TOKEN)');

const client = (): ClientOptions => {
  const options = program.opts<{ url: string; token?: string }>();
  return { url: options.url, token: options.token ?? process.env.STEWARD_ADMIN_TOKEN };
};

const serveCommand = program
  .command('serve')
  .description('start the server')
  .option(
    '-c, --config <file>',
    'JSON file of settings, keyed by the names in docs/configuration.md',
  );
const attributeOf = new Map<string, string>();
for (const setting of SETTINGS) {
  const option = new Option(setting.flag, `${setting.help} (env ${setting.env})`);
  attributeOf.set(setting.key, option.attributeName());
  if (setting.flag.includes('<')) {
    option.argParser((text: string) => {
      try {
        return setting.parse(text);
      } catch (error) {
        throw new InvalidArgumentError((error as Error).message);
      }
    });
  }
  serveCommand.addOption(option);
}
serveCommand.action(async (options: Record<string, unknown> & { config?: string }) => {
  const overrides: Record<string, unknown> = {};
  for (const setting of SETTINGS) {
    const value = options[attributeOf.get(setting.key)!];
    if (value !== undefined) overrides[setting.key] = value;
  }
  const config = resolveConfig(overrides as ConfigOverrides, process.env, options.config);
  await serve(config);
});

registerRegistryCommands(program, client);
registerInferCommand(program, client);
registerLifecycleCommands(program, client);
registerReportCommand(program, client);
registerGovernanceCommands(program, client);
registerStagingCommands(program, client);

program.parseAsync(process.argv).catch((error: unknown) => {
  console.error(`steward: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
