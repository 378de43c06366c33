import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root: compiled tests live in dist/test, three folders below it. */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const EXAMPLES = path.join(REPO_ROOT, 'examples');
/** Shared fixtures beside the repository, present in development and CI. */
export const SHARED_MODELS = path.resolve(REPO_ROOT, '../shared/models');

export function hasSharedModels(): boolean {
  return existsSync(SHARED_MODELS);
}

/** The `skip` option of suites that need the shared fixtures: false, or why they are skipped. */
export const SKIP_WITHOUT_SHARED_MODELS: string | false = hasSharedModels()
  ? false
  : `shared model fixtures not found at ${SHARED_MODELS}`;

export function example(model: string, file = 'model.onnx'): string {
  return path.join(EXAMPLES, model, file);
}
