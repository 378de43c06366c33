import fs from 'node:fs/promises';
import path from 'node:path';
import type { LoadedModel, LoadOptions, Runtime } from './runtime.js';

/**
 * Runtimes by format, imported by worker threads on first use. TF.js, h5wasm and the
 * tokenizer add about 64 MB and a second of startup to a worker (measured on Node 20 on the
 * 2-core development machine), so workers that serve only ONNX models never load them.
 */
const RUNTIMES: Readonly<Record<string, () => Promise<Runtime>>> = {
  onnx: async () => (await import('./onnx.js')).onnxRuntime,
  keras_h5: async () => (await import('./keras/index.js')).kerasRuntime,
  tfjs_layers: async () => (await import('./tfjs/index.js')).tfjsLayersRuntime,
  tfjs_graph: async () => (await import('./tfjs/index.js')).tfjsGraphRuntime,
};

async function runtimeFor(format: string): Promise<Runtime> {
  const importRuntime = RUNTIMES[format];
  if (!importRuntime) throw new Error(`no runtime for model format "${format}"`);
  return importRuntime();
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
  const model = await (await runtimeFor(format)).load(location, options);
  const tokenizerFile = path.join(location, 'tokenizer.json');
  if (!(await exists(tokenizerFile))) return model;
  try {
    const { readTokenizer } = await import('./text/tokenizer-file.js');
    const { withTextInput } = await import('./text/text-model.js');
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
