import type { Logger } from 'pino';
import { StewardError } from '../errors.js';
import type { VersionRecord } from '../registry/records.js';
import { InvalidInputError } from '../runtimes/runtime.js';
import type { UsageTracker } from '../telemetry/usage.js';
import { parseInferenceRequest } from '../tensors/request.js';
import { type EncodedResponse, encodeInferenceResponse } from '../tensors/response.js';
import type { Catalog } from './catalog.js';
import type { Lease, ModelManager } from './model-manager.js';
import { WorkerLostError } from './worker-pool.js';

export interface InferenceResult {
  readonly record: VersionRecord;
  readonly response: EncodedResponse;
}

/** Runs one inference request: resolve, validate, acquire, run, encode, record usage. */
export class InferenceService {
  readonly #catalog: Catalog;
  readonly #manager: ModelManager;
  readonly #usage: UsageTracker;
  readonly #logger: Logger;

  constructor(catalog: Catalog, manager: ModelManager, usage: UsageTracker, logger: Logger) {
    this.#catalog = catalog;
    this.#manager = manager;
    this.#usage = usage;
    this.#logger = logger;
  }

  async infer(
    modelName: string,
    reference: string | undefined,
    body: unknown,
    binary?: Buffer,
  ): Promise<InferenceResult> {
    const record = this.#catalog.resolve(modelName, reference);
    const started = performance.now();
    const elapsed = () => performance.now() - started;

    let request: ReturnType<typeof parseInferenceRequest>;
    try {
      request = parseInferenceRequest(body, record.signature, binary);
    } catch (error) {
      this.#usage.record(record.model, record.version, 'client_error', elapsed());
      throw error;
    }

    let lease: Lease;
    try {
      lease = await this.#manager.acquire(record);
    } catch (error) {
      this.#usage.record(record.model, record.version, 'model_error', elapsed());
      throw error;
    }

    try {
      const reply = await lease.run(request.inputs, request.outputs);
      const response = encodeInferenceResponse({
        modelName: record.model,
        modelVersion: String(record.version),
        id: request.id,
        outputs: reply.outputs,
        binaryOutputs: request.binaryOutputs,
      });
      this.#usage.record(record.model, record.version, 'success', elapsed());
      return { record, response };
    } catch (error) {
      if (error instanceof InvalidInputError) {
        this.#usage.record(record.model, record.version, 'client_error', elapsed());
        throw new StewardError('INVALID_TENSOR', error.message, { cause: error });
      }
      this.#usage.record(record.model, record.version, 'model_error', elapsed());
      this.#logger.error(
        { model: record.model, version: record.version, err: error },
        'inference failed in the model runtime',
      );
      const message = error instanceof Error ? error.message : String(error);
      const what = error instanceof WorkerLostError ? 'lost its worker thread' : 'failed';
      throw new StewardError(
        'MODEL_FAILED',
        `model "${record.model}" version ${record.version} ${what}: ${message}`,
        { cause: error },
      );
    } finally {
      lease.release();
    }
  }
}
