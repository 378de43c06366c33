import { onnxRuntime } from './onnx.js';
import type { Runtime } from './runtime.js';

/** Runtimes by format. Imported only by worker threads, which hold the native libraries. */
const RUNTIMES: ReadonlyMap<string, Runtime> = new Map([[onnxRuntime.format, onnxRuntime]]);

export function runtimeFor(format: string): Runtime {
  const runtime = RUNTIMES.get(format);
  if (!runtime) throw new Error(`no runtime for model format "${format}"`);
  return runtime;
}
