import fs from 'node:fs/promises';
import type { Command } from 'commander';
import { type ClientOptions, requestJson } from '../client.js';

async function readInput(source: string): Promise<string> {
  if (source !== '-') {
    try {
      return await fs.readFile(source, 'utf8');
    } catch (error) {
      throw new Error(
        `cannot read ${source}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
      );
    }
  }
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export function registerInferCommand(program: Command, client: () => ClientOptions): void {
  program
    .command('infer')
    .description('send an Open Inference Protocol request and print the response')
    .argument('<name>', 'model name')
    .requiredOption('-i, --input <file>', 'JSON request body, or - to read it from standard input')
    .option(
      '-v, --version <version>',
      'version number or alias; default: production, else the newest',
    )
    .action(async (name: string, options: { input: string; version?: string }) => {
      const text = await readInput(options.input);
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch (error) {
        throw new Error(`${options.input} is not valid JSON: ${(error as Error).message}`);
      }
      const base = `/v2/models/${encodeURIComponent(name)}`;
      const path = options.version
        ? `${base}/versions/${encodeURIComponent(options.version)}/infer`
        : `${base}/infer`;
      const response = await requestJson<unknown>(client(), 'POST', path, body);
      console.log(JSON.stringify(response, null, 2));
    });
}
