import type { IncomingHttpHeaders } from 'node:http';
import type { Logger } from 'pino';
import { StewardError } from '../errors.js';
import type { VersionRecord } from '../registry/records.js';
import { InvalidInputError } from '../runtimes/runtime.js';
import type { UsageTracker } from '../telemetry/usage.js';
import { copyTensors } from '../tensors/copy.js';
import { parseInferenceRequest } from '../tensors/request.js';
import { type EncodedResponse, encodeInferenceResponse } from '../tensors/response.js';
import type { Lease, ModelManager } from './model-manager.js';
import type { StagingRouter } from './staging/routing.js';
import type { ShadowRequest } from './staging/shadow.js';
import { WorkerLostError } from './worker-pool.js';
import type { RunReply } from './worker-protocol.js';

export interface InferenceResult {
  readonly record: VersionRecord;
  readonly response: EncodedResponse;
  /** Set when the request is to be mirrored to the staging version once the response is sent. */
  readonly shadow: ShadowRequest | undefined;
}

/** Runs one inference request: route, validate, acquire, run, encode, record usage. */
export class InferenceService {
  readonly #router: StagingRouter;
  readonly #manager: ModelManager;
  readonly #usage: UsageTracker;
  readonly #logger: Logger;

  constructor(router: StagingRouter, manager: ModelManager, usage: UsageTracker, logger: Logger) {
    this.#router = router;
    this.#manager = manager;
    this.#usage = usage;
    this.#logger = logger;
  }

  /**
   * Runs a request on the version that `reference` (a number or alias) names, or that the
   * model's aliases and canary weight pick when it names none. `headers` carry the canary's
   * sticky key.
   */
  async infer(
    modelName: string,
    reference: string | undefined,
    body: unknown,
    binary?: Buffer,
    headers: IncomingHttpHeaders = {},
  ): Promise<InferenceResult> {
    const route = this.#router.route(modelName, reference, headers);
    const record = route.record;
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

    // The run hands the input buffers to the worker thread, so a shadow run needs its own copy.
    const shadowInputs = route.shadow ? copyTensors(request.inputs) : undefined;
    let reply: RunReply;
    try {
      reply = await lease.run(request.inputs, request.outputs);
    } catch (error) {
      lease.release();
      throw this.#runFailure(record, error, elapsed());
    }
    lease.release();

    let response: EncodedResponse;
    try {
      response = encodeInferenceResponse({
        modelName: record.model,
        modelVersion: String(record.version),
        id: request.id,
        outputs: reply.outputs,
        binaryOutputs: request.binaryOutputs,
      });
    } catch (error) {
      if (!(error instanceof RangeError)) throw error;
      this.#usage.record(record.model, record.version, 'client_error', elapsed());
      throw new StewardError(
        'INVALID_ARGUMENT',
        'the outputs are too large to send as JSON; request them with the binary tensor extension ' +
          '("parameters": {"binary_data": true} on each output)',
        { field: 'outputs', cause: error },
      );
    }
    this.#usage.record(record.model, record.version, 'success', elapsed());
    const shadow =
      route.shadow && shadowInputs
        ? {
            ...route.shadow,
            production: record,
            requestId: request.id,
            inputs: shadowInputs,
            outputNames: request.outputs,
            outputs: reply.outputs,
            productionComputeMs: reply.computeNs / 1e6,
          }
        : undefined;
    return { record, response, shadow };
  }

  /**
   * Classifies a failed run. onnxruntime-node reports only a message, so input problems that
   * the signature cannot catch (an index out of range, a dimension a later node rejects) are
   * recognized by their wording and get a 400, not counted against the model.
   */
  #runFailure(record: VersionRecord, error: unknown, latencyMs: number): StewardError {
    const message = error instanceof Error ? error.message : String(error);
    if (error instanceof InvalidInputError) {
      this.#usage.record(record.model, record.version, 'client_error', latencyMs);
      return new StewardError('INVALID_TENSOR', message, { field: 'inputs', cause: error });
    }
    // NOTE: the patterns follow onnxruntime 1.30's messages; other wordings count as model errors.
    if (!(error instanceof WorkerLostError) && INPUT_ERROR_PATTERN.test(message)) {
      this.#usage.record(record.model, record.version, 'client_error', latencyMs);
      return new StewardError(
        'INVALID_TENSOR',
        `model "${record.model}" version ${record.version} rejected the input: ${message}`,
        { field: 'inputs', cause: error },
      );
    }
    this.#usage.record(record.model, record.version, 'model_error', latencyMs);
    this.#logger.error(
      { model: record.model, version: record.version, err: error },
      'inference failed in the model runtime',
    );
    const what = error instanceof WorkerLostError ? 'lost its worker thread' : 'failed';
    return new StewardError(
      'MODEL_FAILED',
      `model "${record.model}" version ${record.version} ${what}: ${message}`,
      {
        cause: error,
      },
    );
  }
}

/** onnxruntime messages that blame the request's data rather than the model. */
const INPUT_ERROR_PATTERN =
  /invalid dimensions|out of (data )?bounds|out of range|must be within|Unexpected input data type|Invalid input|invalid argument/i;
