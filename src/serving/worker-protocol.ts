import type { Signature, Tensor } from '../tensors/types.js';

/** Messages from the main thread to a model worker. Every request carries a reply id. */
export type WorkerRequest =
  | {
      readonly id: number;
      readonly op: 'load';
      readonly instanceId: string;
      readonly format: string;
      /** The model file, or the folder of a model unpacked from an archive. */
      readonly file: string;
      readonly intraOpThreads: number;
    }
  | {
      readonly id: number;
      readonly op: 'run';
      readonly instanceId: string;
      readonly inputs: readonly Tensor[];
      readonly outputNames: readonly string[];
    }
  | { readonly id: number; readonly op: 'unload'; readonly instanceId: string }
  | { readonly id: number; readonly op: 'inspect'; readonly format: string; readonly file: string };

export interface LoadReply {
  readonly signature: Signature;
  /** Growth of the process's resident memory across the load, in bytes. */
  readonly residentGrowthBytes: number;
  readonly loadMs: number;
}

export interface RunReply {
  readonly outputs: Tensor[];
  /** Time spent inside the runtime, in nanoseconds. */
  readonly computeNs: number;
}

export type WorkerResponse =
  | { readonly id: number; readonly ok: true; readonly value: unknown }
  | {
      readonly id: number;
      readonly ok: false;
      readonly error: {
        readonly message: string;
        readonly invalidModel: boolean;
        readonly invalidInput: boolean;
      };
    };

/** Sent once by a worker when its start-up work (the runtime warm-up) is done. */
export interface WorkerStarted {
  readonly started: true;
}
