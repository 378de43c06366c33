import fs from 'node:fs/promises';
import path from 'node:path';
import { kerasRuntime } from './keras/index.js';
import { onnxRuntime } from './onnx.js';
import type { LoadedModel, LoadOptions, Runtime } from './runtime.js';
import { withTextInput } from './text/text-model.js';
import { readTokenizer, TOKENIZER_FILE } from './text/tokenizer-file.js';
import { tfjsGraphRuntime, tfjsLayersRuntime } from './tfjs/index.js';

/** Runtimes by format. Imported only by worker threads, which hold the native libraries. */
const RUNTIMES: ReadonlyMap<string, Runtime> = new Map(
  [onnxRuntime, kerasRuntime, tfjsLayersRuntime, tfjsGraphRuntime].map((runtime) => [
    runtime.format,
    runtime,
  ]),
);

export function runtimeFor(format: string): Runtime {
  const runtime = RUNTIMES.get(format);
  if (!runtime) throw new Error(`no runtime for model format "${format}"`);
  return runtime;
}

/**
 * Loads a model with its format's runtime. A model folder that carries a tokenizer.json gets
 * a text input in place of its token inputs.
 */
export async function loadModel(
  format: string,
  location: string,
  options: LoadOptions,
): Promise<LoadedModel> {
  const model = await runtimeFor(format).load(location, options);
  if (!(await exists(path.join(location, TOKENIZER_FILE)))) return model;
  try {
    return withTextInput(model, await readTokenizer(location));
  } catch (error) {
    await model.dispose();
    throw error;
  }
}

async function exists(file: string): Promise<boolean> {
  try {
    await fs.access(file);
    return true;
  } catch {
    return false;
  }
}
