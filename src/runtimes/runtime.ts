import type { Signature, Tensor } from '../tensors/types.js';

export interface LoadOptions {
  /** Threads the runtime may use inside one run. */
  readonly intraOpThreads: number;
}

/** A model in memory, ready to run. Lives in a worker thread. */
export interface LoadedModel {
  readonly signature: Signature;
  /** Runs the model; `outputNames` selects outputs, all of them when empty. */
  run(inputs: readonly Tensor[], outputNames: readonly string[]): Promise<Tensor[]>;
  /** Frees the model's native memory; the model must not run afterwards. */
  dispose(): Promise<void>;
}

/** One model format: how to turn its artifact into a runnable model. */
export interface Runtime {
  readonly format: string;
  /** Loads from a file, or from a folder for a model unpacked from an archive. */
  load(location: string, options: LoadOptions): Promise<LoadedModel>;
}

/** Thrown by a runtime when a file is not a valid model of its format. */
export class InvalidModelError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'InvalidModelError';
  }
}

/** Thrown by a model when a request's inputs cannot be fed to it, which is the client's fault. */
export class InvalidInputError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'InvalidInputError';
  }
}
