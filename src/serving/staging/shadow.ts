import type { Logger } from 'pino';
import type { Config } from '../../config/config.js';
import { messageOf, StewardError } from '../../errors.js';
import type { VersionRecord } from '../../registry/records.js';
import type { ExpectationStore } from '../../telemetry/expectation-store.js';
import { checkOutputs, type Violation } from '../../telemetry/output-checks.js';
import type { Outcome, RequestSummary, UsageTracker } from '../../telemetry/usage.js';
import { copyTensors } from '../../tensors/copy.js';
import type { Tensor } from '../../tensors/types.js';
import { TimeoutError } from '../../util/async.js';
import type { Lease, ModelManager } from '../model-manager.js';
import type { RunReply } from '../worker-protocol.js';
import { compareOutputs } from './compare.js';
import type { Comparison, DropReason } from './comparison.js';
import type { ComparisonBook } from './comparison-book.js';
import type { StagingRouter } from './routing.js';
import { toSampleTensor } from './samples.js';

/** A production request that succeeded, to run again on the staging version. */
export interface ShadowRequest {
  readonly comparison: Comparison;
  readonly production: VersionRecord;
  readonly staging: VersionRecord;
  readonly requestId: string | undefined;
  /** Copies of the request's inputs: the production run took the originals to its worker. */
  readonly inputs: readonly Tensor[];
  /** Outputs the client requested; empty for all of them. */
  readonly outputNames: readonly string[];
  /** The outputs production returned to the client. */
  readonly outputs: readonly Tensor[];
  /** Time production spent inside its runtime, in milliseconds. */
  readonly productionComputeMs: number;
  /** Elements of the batch dimension, as production counted them. */
  readonly batchSize: number;
  /** Size of the production request's body, counted as the shadow run's bytes in. */
  readonly bytesIn: number;
}

interface Job extends ShadowRequest {
  readonly bytes: number;
  /** Set once the job is counted as compared, failed or dropped, so it is counted once. */
  settled: boolean;
}

export type ShadowSettings = Pick<
  Config,
  'shadowQueueSize' | 'shadowQueueBytes' | 'shadowConcurrency' | 'shadowLoadWaitMs'
>;

/** Repeated shadow failures of one model log at most once per this interval. */
const LOG_INTERVAL_MS = 10_000;

/**
 * Runs production requests again on the staging version, after their responses were sent,
 * and feeds the comparison. Work waits in a bounded queue and runs a few at a time. A request
 * that does not fit, or whose staging version cannot load in time, is dropped and counted by
 * reason. Nothing here can reach a client, so failures only count and log.
 *
 * Shadow runs count in the shadow usage of the staging version, with the causes, stage timings
 * and output checks of live usage, but keep no violation samples. A request dropped before it
 * waited for the staging version (queue full, memory budget, incompatible, shutting down) never
 * reached the version and is not counted there.
 */
export class ShadowRunner {
  readonly #manager: ModelManager;
  readonly #comparisons: ComparisonBook;
  readonly #router: StagingRouter;
  readonly #usage: UsageTracker;
  readonly #expectations: ExpectationStore;
  readonly #settings: ShadowSettings;
  readonly #logger: Logger;
  readonly #queue: Job[] = [];
  #queuedBytes = 0;
  readonly #running = new Map<Job, Promise<void>>();
  readonly #lastLogAt = new Map<string, number>();
  #closing = false;

  constructor(options: {
    manager: ModelManager;
    comparisons: ComparisonBook;
    router: StagingRouter;
    usage: UsageTracker;
    expectations: ExpectationStore;
    settings: ShadowSettings;
    logger: Logger;
  }) {
    this.#manager = options.manager;
    this.#comparisons = options.comparisons;
    this.#router = options.router;
    this.#usage = options.usage;
    this.#expectations = options.expectations;
    this.#settings = options.settings;
    this.#logger = options.logger;
  }

  /** Shadow requests waiting and running now, and the tensor bytes the waiting ones hold. */
  stats(): { queued: number; queuedBytes: number; running: number } {
    return {
      queued: this.#queue.length,
      queuedBytes: this.#queuedBytes,
      running: this.#running.size,
    };
  }

  /** Queues a shadow run; never throws, and drops the request when it cannot run. */
  submit(request: ShadowRequest): void {
    const job: Job = { ...request, bytes: bytesOf(request), settled: false };
    job.comparison.countMirrored();
    if (this.#closing) {
      this.#drop(job, 'shutting_down');
      return;
    }
    if (!this.#accepts(job)) {
      this.#drop(job, 'incompatible');
      return;
    }
    const full =
      this.#queue.length >= this.#settings.shadowQueueSize ||
      this.#queuedBytes + job.bytes > this.#settings.shadowQueueBytes;
    if (full) {
      this.#drop(job, 'queue_full');
      return;
    }
    this.#queue.push(job);
    this.#queuedBytes += job.bytes;
    this.#pump();
  }

  /**
   * Stops taking shadow requests, drops the waiting ones, and waits for the running ones
   * until `deadline` (epoch milliseconds); those still running then count as dropped.
   */
  async close(deadline: number): Promise<void> {
    this.#closing = true;
    for (const job of this.#queue.splice(0)) this.#drop(job, 'shutting_down');
    this.#queuedBytes = 0;
    const running = Promise.allSettled(this.#running.values());
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise((resolve) => {
      timer = setTimeout(resolve, Math.max(0, deadline - Date.now()));
    });
    await Promise.race([running, timeout]);
    clearTimeout(timer);
    for (const job of this.#running.keys()) this.#drop(job, 'shutting_down');
  }

  /** Whether staging takes production's inputs and has every output the client requested. */
  #accepts(job: Job): boolean {
    if (!this.#router.compatible(job.production, job.staging)) return false;
    const outputs = new Set(job.staging.signature.outputs.map((spec) => spec.name));
    const wanted =
      job.outputNames.length > 0
        ? job.outputNames
        : job.production.signature.outputs.map((spec) => spec.name);
    return wanted.every((name) => outputs.has(name));
  }

  #pump(): void {
    while (this.#running.size < this.#settings.shadowConcurrency && this.#queue.length > 0) {
      const job = this.#queue.shift()!;
      this.#queuedBytes -= job.bytes;
      const run = this.#run(job)
        .catch((error: unknown) => {
          if (!job.settled) {
            job.settled = true;
            job.comparison.countError();
          }
          this.#logger.error(
            { model: job.staging.model, version: job.staging.version, err: error },
            'shadow run failed unexpectedly',
          );
        })
        .finally(() => {
          this.#running.delete(job);
          if (!this.#closing) this.#pump();
        });
      this.#running.set(job, run);
    }
  }

  async #run(job: Job): Promise<void> {
    // The comparison ended while the job waited: its result belongs to no current pair.
    if (!this.#comparisons.isCurrent(job.comparison)) {
      job.settled = true;
      return;
    }
    if (!this.#manager.fitsBeside(job.staging, job.production)) {
      this.#drop(job, 'memory_budget', 'the staging version does not fit beside production');
      return;
    }
    const { model, version } = job.staging;
    const started = performance.now();
    this.#usage.begin(model, version);
    let lease: Lease;
    try {
      lease = await this.#manager.acquire(job.staging, {
        waitMs: this.#settings.shadowLoadWaitMs,
        reason: 'a shadow request needs it',
      });
    } catch (error) {
      const timedOut = error instanceof StewardError && error.cause instanceof TimeoutError;
      this.#finishUsage(job, timedOut ? 'timeout' : 'unavailable', started);
      this.#drop(job, timedOut ? 'load_timeout' : 'load_failed', messageOf(error));
      return;
    }

    // The stages are timed as for live requests: the queue stage includes the wait for the
    // load, and compute_input and compute_output are the input copy and the output checks.
    const copyStarted = performance.now();
    const inputs = copyTensors(job.inputs);
    const computeInputNs = (performance.now() - copyStarted) * 1e6;
    let reply: RunReply;
    try {
      reply = await lease.run(inputs, job.outputNames);
    } catch (error) {
      // Production ran these inputs, so a failure counts against the staging version as a
      // model error, even where a live request with the same failure would count as invalid.
      this.#finishUsage(job, 'model_error', started);
      this.#fail(job, error);
      return;
    } finally {
      lease.release();
    }
    const ranAt = performance.now();
    const queueNs = (ranAt - started) * 1e6 - computeInputNs - reply.computeNs;
    let violations: Violation[];
    try {
      violations = checkOutputs(
        job.staging.signature,
        job.outputNames,
        reply.outputs,
        this.#expectations.get(model, version),
      );
    } catch (error) {
      // Finished here so the run does not stay in flight; the caller counts the error.
      this.#finishUsage(job, 'model_error', started);
      throw error;
    }
    this.#finishUsage(job, 'success', started, {
      stageNs: {
        compute_input: computeInputNs,
        queue: Math.max(0, queueNs),
        compute_infer: reply.computeNs,
        compute_output: (performance.now() - ranAt) * 1e6,
      },
      violations: [...new Set(violations.map((violation) => violation.kind))],
    });
    if (job.settled) return;
    job.settled = true;
    if (!this.#comparisons.isCurrent(job.comparison)) return;

    try {
      const difference = compareOutputs(job.outputs, reply.outputs, job.comparison.tolerance);
      job.comparison.record(
        difference,
        { productionMs: job.productionComputeMs, stagingMs: reply.computeNs / 1e6 },
        () => ({
          requestId: job.requestId ?? null,
          inputs: job.inputs.map(toSampleTensor),
          production: job.outputs.map(toSampleTensor),
          staging: reply.outputs.map(toSampleTensor),
        }),
      );
    } catch (error) {
      // Counted, so the request does not stay pending in the comparison forever.
      job.comparison.countError();
      this.#logger.error({ model, version, err: error }, 'comparing shadow outputs failed');
    }
  }

  /**
   * Counts a shadow run that reached the staging version in its shadow usage. Shadow runs send
   * no response, so bytes out stay 0.
   */
  #finishUsage(
    job: Job,
    outcome: Outcome,
    started: number,
    success?: Pick<RequestSummary, 'stageNs' | 'violations'>,
  ): void {
    this.#usage.finish(job.staging.model, job.staging.version, {
      outcome,
      latencyMs: performance.now() - started,
      bytesIn: job.bytesIn,
      bytesOut: 0,
      batchSize: success ? job.batchSize : 0,
      stageNs: success?.stageNs ?? {},
      violations: success?.violations ?? [],
    });
  }

  #drop(job: Job, reason: DropReason, detail?: string): void {
    if (job.settled) return;
    job.settled = true;
    job.comparison.countDropped(reason);
    if (reason === 'shutting_down') return;
    this.#logThrottled(job.staging, `drop:${reason}`, () => {
      this.#logger.warn(
        { model: job.staging.model, version: job.staging.version, reason, detail },
        'shadow request dropped',
      );
    });
  }

  #fail(job: Job, error: unknown): void {
    if (job.settled) return;
    job.settled = true;
    job.comparison.countError();
    this.#logThrottled(job.staging, 'error', () => {
      this.#logger.warn(
        { model: job.staging.model, version: job.staging.version, err: error },
        'shadow run failed on the staging version',
      );
    });
  }

  /** Logs at most once per LOG_INTERVAL_MS per version and kind; the comparison counts every one. */
  #logThrottled(staging: VersionRecord, kind: string, log: () => void): void {
    const key = `${staging.model}:${staging.version}:${kind}`;
    const now = Date.now();
    if (now - (this.#lastLogAt.get(key) ?? 0) < LOG_INTERVAL_MS) return;
    this.#lastLogAt.set(key, now);
    log();
  }
}

function bytesOf(request: ShadowRequest): number {
  let bytes = 0;
  for (const tensor of [...request.inputs, ...request.outputs]) {
    const data = tensor.data;
    if (!Array.isArray(data)) bytes += data.byteLength;
    else for (const value of data) bytes += value.length;
  }
  return bytes;
}
