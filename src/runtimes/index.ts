import { kerasRuntime } from './keras/index.js';
import { onnxRuntime } from './onnx.js';
import type { LoadedModel, LoadOptions, Runtime } from './runtime.js';
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

/** Loads a model with its format's runtime. */
export async function loadModel(
  format: string,
  location: string,
  options: LoadOptions,
): Promise<LoadedModel> {
  return runtimeFor(format).load(location, options);
}
