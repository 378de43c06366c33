import type { IncomingHttpHeaders } from 'node:http';
import type { Logger } from 'pino';
import { StewardError } from '../errors.js';
import type { VersionRecord } from '../registry/records.js';
import { InvalidInputError } from '../runtimes/runtime.js';
import type { ExpectationStore } from '../telemetry/expectation-store.js';
import { checkOutputs, type Violation } from '../telemetry/output-checks.js';
import type { FailureCause, RequestSummary, UsageTracker } from '../telemetry/usage.js';
import { copyTensors } from '../tensors/copy.js';
import { type InferenceRequest, parseInferenceRequest } from '../tensors/request.js';
import { type EncodedResponse, encodeInferenceResponse } from '../tensors/response.js';
import type { Signature } from '../tensors/types.js';
import { toJsonTensor } from '../tensors/values.js';
import { TimeoutError } from '../util/async.js';
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

/** The body of an inference request as it arrived. */
export interface RequestBody {
  /** The parsed JSON part. */
  readonly json: unknown;
  /** Bytes after the JSON header, with the binary tensor extension. */
  readonly binary?: Buffer;
  /** Size of the whole body in bytes. */
  readonly bytes: number;
}

/** Elements of each tensor kept in a violation sample; longer tensors are cut short. */
const SAMPLE_ELEMENTS = 1024;

type StageNs = { -readonly [K in keyof RequestSummary['stageNs']]: number };

/** The parts of a shadow request that come from the production run. */
type MirroredRequest = Pick<
  ShadowRequest,
  'requestId' | 'inputs' | 'outputNames' | 'outputs' | 'productionComputeMs'
>;

/** A failure with the cause it is counted under; the wrapped error goes to the client. */
class CountedFailure extends Error {
  readonly outcome: FailureCause;
  readonly error: unknown;

  constructor(outcome: FailureCause, error: unknown) {
    super(error instanceof Error ? error.message : String(error));
    this.outcome = outcome;
    this.error = error;
  }
}

/**
 * Runs one inference request: route, validate, acquire, run, check the outputs, encode, and
 * record the usage of the version.
 */
export class InferenceService {
  readonly #router: StagingRouter;
  readonly #manager: ModelManager;
  readonly #usage: UsageTracker;
  readonly #expectations: ExpectationStore;
  readonly #logger: Logger;

  constructor(
    router: StagingRouter,
    manager: ModelManager,
    usage: UsageTracker,
    expectations: ExpectationStore,
    logger: Logger,
  ) {
    this.#router = router;
    this.#manager = manager;
    this.#usage = usage;
    this.#expectations = expectations;
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
    body: RequestBody,
    headers: IncomingHttpHeaders = {},
  ): Promise<InferenceResult> {
    const route = this.#router.route(modelName, reference, headers);
    const record = route.record;
    const started = performance.now();
    const stageNs: StageNs = {};
    this.#usage.begin(record.model, record.version);
    let summary: Omit<RequestSummary, 'latencyMs' | 'bytesIn' | 'stageNs'>;
    try {
      const { response, bytesOut, batchSize, violations, mirrored } = await this.#infer(
        record,
        body,
        stageNs,
        route.shadow !== undefined,
      );
      summary = { outcome: 'success', bytesOut, batchSize, violations };
      this.#finish(record, body, started, stageNs, summary);
      const shadow: ShadowRequest | undefined =
        route.shadow && mirrored
          ? {
              ...route.shadow,
              ...mirrored,
              production: record,
              batchSize,
              bytesIn: body.bytes,
            }
          : undefined;
      return { record, response, shadow };
    } catch (error) {
      const failure =
        error instanceof CountedFailure ? error : new CountedFailure('model_error', error);
      summary = { outcome: failure.outcome, bytesOut: 0, batchSize: 0, violations: [] };
      this.#finish(record, body, started, {}, summary);
      throw failure.error;
    }
  }

  #finish(
    record: VersionRecord,
    body: RequestBody,
    started: number,
    stageNs: StageNs,
    summary: Omit<RequestSummary, 'latencyMs' | 'bytesIn' | 'stageNs'>,
  ): void {
    this.#usage.finish(record.model, record.version, {
      ...summary,
      latencyMs: performance.now() - started,
      bytesIn: body.bytes,
      stageNs,
    });
  }

  /** Runs the request on `record`; with `mirror`, also returns what a shadow run needs. */
  async #infer(
    record: VersionRecord,
    body: RequestBody,
    stageNs: StageNs,
    mirror: boolean,
  ): Promise<{
    response: EncodedResponse;
    bytesOut: number;
    batchSize: number;
    violations: string[];
    mirrored: MirroredRequest | undefined;
  }> {
    let mark = performance.now();
    const lap = () => {
      const now = performance.now();
      const ns = (now - mark) * 1e6;
      mark = now;
      return ns;
    };

    let request: InferenceRequest;
    try {
      request = parseInferenceRequest(body.json, record.signature, body.binary);
    } catch (error) {
      throw new CountedFailure('bad_request', error);
    }
    const batchSize = batchSizeOf(request, record.signature);
    // The run hands the input buffers to the worker thread, so a shadow run needs its own copy.
    const shadowInputs = mirror ? copyTensors(request.inputs) : undefined;
    stageNs.compute_input = lap();

    let lease: Lease;
    try {
      lease = await this.#manager.acquire(record);
    } catch (error) {
      // A request that gave up waiting for the load timed out. Any other failure means the
      // version cannot serve: its load failed, it is archived, or the memory budget is full.
      const timedOut = error instanceof StewardError && error.cause instanceof TimeoutError;
      throw new CountedFailure(timedOut ? 'timeout' : 'unavailable', error);
    }
    let reply: RunReply;
    try {
      // NOTE: a run has no time limit, so a model that hangs shows as a request in flight,
      // never as a timeout; only the wait for a load can time out.
      reply = await lease.run(request.inputs, request.outputs);
    } catch (error) {
      throw this.#runFailure(record, error);
    } finally {
      lease.release();
    }
    const runNs = lap();
    stageNs.compute_infer = reply.computeNs;
    stageNs.queue = Math.max(0, runNs - reply.computeNs);

    const violations = checkOutputs(
      record.signature,
      request.outputs,
      reply.outputs,
      this.#expectations.get(record.model, record.version),
    );
    if (violations.length > 0) this.#sample(record, body, reply, violations);
    const response = this.#encode(record, request, reply);
    stageNs.compute_output = lap();
    let bytesOut = Buffer.byteLength(response.json, 'utf8');
    for (const part of response.binary) bytesOut += part.length;
    const kinds = [...new Set(violations.map((violation) => violation.kind))];
    const mirrored = shadowInputs && {
      requestId: request.id,
      inputs: shadowInputs,
      outputNames: request.outputs,
      outputs: reply.outputs,
      productionComputeMs: reply.computeNs / 1e6,
    };
    return { response, bytesOut, batchSize, violations: kinds, mirrored };
  }

  #encode(record: VersionRecord, request: InferenceRequest, reply: RunReply): EncodedResponse {
    try {
      return encodeInferenceResponse({
        modelName: record.model,
        modelVersion: String(record.version),
        id: request.id,
        outputs: reply.outputs,
        binaryOutputs: request.binaryOutputs,
      });
    } catch (error) {
      if (!(error instanceof RangeError)) throw error;
      throw new CountedFailure(
        'bad_request',
        new StewardError(
          'INVALID_ARGUMENT',
          'the outputs are too large to send as JSON; request them with the binary tensor extension ' +
            '("parameters": {"binary_data": true} on each output)',
          { field: 'outputs', cause: error },
        ),
      );
    }
  }

  /**
   * Keeps a sample of a response that broke an output check. The inputs went to the worker
   * thread, so they are decoded again from the body, and only when the sample is kept.
   */
  #sample(
    record: VersionRecord,
    body: RequestBody,
    reply: RunReply,
    violations: Violation[],
  ): void {
    this.#usage.sample(record.model, record.version, () => ({
      violations,
      inputs: parseInferenceRequest(body.json, record.signature, body.binary).inputs.map((tensor) =>
        toJsonTensor(tensor, SAMPLE_ELEMENTS),
      ),
      outputs: reply.outputs.map((tensor) => toJsonTensor(tensor, SAMPLE_ELEMENTS)),
    }));
  }

  /**
   * Classifies a failed run. onnxruntime-node reports only a message, so input problems that
   * the signature cannot catch (an index out of range, a dimension a later node rejects) are
   * recognized by their wording and get a 400, not counted against the model.
   */
  #runFailure(record: VersionRecord, error: unknown): CountedFailure {
    const message = error instanceof Error ? error.message : String(error);
    if (error instanceof InvalidInputError) {
      return new CountedFailure(
        'bad_request',
        new StewardError('INVALID_TENSOR', message, { field: 'inputs', cause: error }),
      );
    }
    // NOTE: the patterns follow onnxruntime 1.30's messages; other wordings count as model errors.
    if (!(error instanceof WorkerLostError) && INPUT_ERROR_PATTERN.test(message)) {
      return new CountedFailure(
        'bad_request',
        new StewardError(
          'INVALID_TENSOR',
          `model "${record.model}" version ${record.version} rejected the input: ${message}`,
          { field: 'inputs', cause: error },
        ),
      );
    }
    this.#logger.error(
      { model: record.model, version: record.version, err: error },
      'inference failed in the model runtime',
    );
    const what = error instanceof WorkerLostError ? 'lost its worker thread' : 'failed';
    return new CountedFailure(
      'model_error',
      new StewardError(
        'MODEL_FAILED',
        `model "${record.model}" version ${record.version} ${what}: ${message}`,
        { cause: error },
      ),
    );
  }
}

/**
 * Elements of the batch dimension: the first dimension of the first input when the signature
 * leaves it variable, else 1, as Triton counts inferences of a model without batching.
 */
function batchSizeOf(request: InferenceRequest, signature: Signature): number {
  const first = request.inputs[0];
  if (!first) return 1;
  const spec = signature.inputs.find((input) => input.name === first.name);
  if (spec?.shape[0] !== -1 || first.shape.length === 0) return 1;
  return first.shape[0]!;
}

/** onnxruntime messages that blame the request's data rather than the model. */
const INPUT_ERROR_PATTERN =
  /invalid dimensions|out of (data )?bounds|out of range|must be within|Unexpected input data type|Invalid input|invalid argument/i;
