import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Steward } from '../steward.js';

/** One entry of an examples folder's manifest.json. */
interface ExampleEntry {
  readonly model: string;
  readonly file: string;
  readonly alias?: string;
  readonly description?: string;
}

const SEEDED_KEY = 'examples_seeded_at';

/**
 * Registers the models listed in `<dir>/manifest.json` when the registry has no model and was
 * never seeded, so deleting the examples later does not bring them back on the next start.
 * Returns the number of versions registered.
 */
export async function seedExamples(steward: Steward, dir: string): Promise<number> {
  if ((await steward.registry.getMeta(SEEDED_KEY)) !== undefined) return 0;
  if (steward.catalog.modelNames().length > 0) return 0;

  const manifestFile = path.join(dir, 'manifest.json');
  const manifest = JSON.parse(await fs.readFile(manifestFile, 'utf8')) as {
    models: ExampleEntry[];
  };
  let registered = 0;
  for (const entry of manifest.models) {
    const file = path.resolve(dir, entry.file);
    const { created } = await steward.publisher.publish({
      model: entry.model,
      source: createReadStream(file),
      sourceName: path.basename(entry.file),
      description: entry.description ?? '',
      alias: entry.alias,
      actor: 'steward:examples',
    });
    if (created) registered += 1;
  }
  await steward.registry.setMeta(SEEDED_KEY, new Date().toISOString());
  steward.logger.info({ dir, versions: registered }, 'registered the example models');
  return registered;
}
