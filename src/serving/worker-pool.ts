import { EventEmitter } from 'node:events';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { InvalidInputError, InvalidModelError } from '../runtimes/runtime.js';
import type { Signature, Tensor } from '../tensors/types.js';
import type {
  LoadReply,
  RunReply,
  WorkerRequest,
  WorkerResponse,
  WorkerStarted,
} from './worker-protocol.js';

interface PendingCall {
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: Error) => void;
}

interface Slot {
  readonly index: number;
  worker: Worker;
  readonly pending: Map<number, PendingCall>;
  /** Instances loaded in this worker, by id. */
  readonly instances: Set<string>;
  /** True once the worker finished its start-up work and may be stopped safely. */
  started: boolean;
}

/** Raised for every call that was waiting on a worker thread when it stopped. */
export class WorkerLostError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WorkerLostError';
  }
}

type DistributiveOmit<T, K extends keyof T> = T extends unknown ? Omit<T, K> : never;

/**
 * A fixed set of worker threads that hold and run models. Each loaded instance lives in one
 * worker; the pool routes calls to it and reports instances lost when a worker stops. One more
 * worker checks uploaded files, so a slow upload never delays a served model.
 *
 * Events: `instances-lost` (instanceIds: string[], reason: string).
 */
export class WorkerPool extends EventEmitter {
  readonly #slots: Slot[] = [];
  /** Index of the worker that checks uploads; the serving workers come before it. */
  readonly #inspector: number;
  readonly #logger: Logger;
  readonly #script = new URL('./worker.js', import.meta.url);
  #nextId = 1;
  #closing = false;

  constructor(size: number, logger: Logger) {
    super();
    this.#logger = logger;
    this.#inspector = size;
    for (let index = 0; index <= size; index += 1) {
      this.#slots.push(this.#spawn(index));
    }
  }

  /** The number of workers that serve models. */
  get size(): number {
    return this.#inspector;
  }

  /** Picks the worker with the fewest waiting calls, then the fewest instances, skipping `exclude`. */
  leastBusy(exclude: ReadonlySet<number> = new Set()): number {
    let best: Slot | undefined;
    for (const slot of this.#slots) {
      if (slot.index === this.#inspector || exclude.has(slot.index)) continue;
      if (
        !best ||
        slot.pending.size < best.pending.size ||
        (slot.pending.size === best.pending.size && slot.instances.size < best.instances.size)
      ) {
        best = slot;
      }
    }
    return (best ?? this.#slots[0]!).index;
  }

  async load(
    slot: number,
    instanceId: string,
    format: string,
    file: string,
    intraOpThreads: number,
  ): Promise<LoadReply> {
    const reply = (await this.#call(slot, {
      op: 'load',
      instanceId,
      format,
      file,
      intraOpThreads,
    })) as LoadReply;
    this.#slots[slot]!.instances.add(instanceId);
    return reply;
  }

  async run(
    slot: number,
    instanceId: string,
    inputs: readonly Tensor[],
    outputNames: readonly string[],
  ): Promise<RunReply> {
    const transfer: ArrayBuffer[] = [];
    for (const input of inputs) {
      if (!Array.isArray(input.data) && input.data.buffer instanceof ArrayBuffer) {
        transfer.push(input.data.buffer);
      }
    }
    return (await this.#call(
      slot,
      { op: 'run', instanceId, inputs, outputNames },
      transfer,
    )) as RunReply;
  }

  async unload(slot: number, instanceId: string): Promise<void> {
    const target = this.#slots[slot]!;
    if (!target.instances.has(instanceId)) return;
    target.instances.delete(instanceId);
    await this.#call(slot, { op: 'unload', instanceId });
  }

  /** Loads a file in the upload worker to read its signature, then frees it. */
  async inspect(format: string, file: string): Promise<Signature> {
    return (await this.#call(this.#inspector, { op: 'inspect', format, file })) as Signature;
  }

  /**
   * Waits for the calls in flight (at most `timeoutMs`), then stops every worker. Terminating
   * a worker inside a native call aborts the whole process, so the wait comes first.
   */
  async close(timeoutMs = 30_000): Promise<void> {
    this.#closing = true;
    const deadline = Date.now() + timeoutMs;
    // A worker still warming up is inside a native call too.
    const busy = (slot: Slot) => slot.pending.size > 0 || !slot.started;
    while (this.#slots.some(busy) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await Promise.all(this.#slots.map((slot) => slot.worker.terminate()));
  }

  #spawn(index: number): Slot {
    const worker = new Worker(this.#script, { name: `steward-model-worker-${index}` });
    const slot: Slot = { index, worker, pending: new Map(), instances: new Set(), started: false };
    worker.on('message', (message: WorkerResponse | WorkerStarted) => {
      if ('started' in message) {
        slot.started = true;
        return;
      }
      this.#settle(slot, message);
    });
    worker.on('error', (error) => {
      this.#logger.error({ worker: index, err: error }, 'model worker failed');
    });
    worker.on('exit', (code) => {
      if (this.#closing) return;
      const reason = `model worker ${index} exited with code ${code}`;
      this.#logger.error({ worker: index, code }, 'model worker exited; starting a new one');
      this.#failSlot(slot, reason);
      this.#slots[index] = this.#spawn(index);
    });
    // An idle pool must not keep the process alive on its own.
    worker.unref();
    return slot;
  }

  #failSlot(slot: Slot, reason: string): void {
    for (const call of slot.pending.values()) call.reject(new WorkerLostError(reason));
    slot.pending.clear();
    const lost = [...slot.instances];
    slot.instances.clear();
    if (lost.length > 0) this.emit('instances-lost', lost, reason);
  }

  #call(
    slot: number,
    request: DistributiveOmit<WorkerRequest, 'id'>,
    transfer: ArrayBuffer[] = [],
  ): Promise<unknown> {
    const target = this.#slots[slot];
    if (!target) return Promise.reject(new Error(`no model worker ${slot}`));
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      target.pending.set(id, { resolve, reject });
      target.worker.ref();
      target.worker.postMessage({ ...request, id }, transfer);
    });
  }

  #settle(slot: Slot, response: WorkerResponse): void {
    const call = slot.pending.get(response.id);
    if (!call) return;
    slot.pending.delete(response.id);
    if (slot.pending.size === 0) slot.worker.unref();
    if (response.ok) {
      call.resolve(response.value);
    } else if (response.error.invalidModel) {
      call.reject(new InvalidModelError(response.error.message));
    } else if (response.error.invalidInput) {
      call.reject(new InvalidInputError(response.error.message));
    } else {
      call.reject(new Error(response.error.message));
    }
  }
}
