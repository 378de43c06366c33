import type { Logger } from 'pino';
import { messageOf, StewardError } from '../../errors.js';
import type { ChecksRepository } from '../../registry/checks.js';
import { nowIso, type VersionRecord } from '../../registry/records.js';
import type { Catalog } from '../../serving/catalog.js';
import type { ManagedVersion, Transition } from '../../serving/managed-version.js';
import type { Lease, ModelManager } from '../../serving/model-manager.js';
import { parseInferenceRequest } from '../../tensors/request.js';
import { toJsonTensor } from '../../tensors/values.js';
import { withTimeout } from '../../util/async.js';
import { compareOutputs, outputsDigest, requestDigest } from './compare.js';
import type { ProbeResult, ProbeRun, ProbeRunSummary, ProbeTrigger } from './results.js';
import type { ProbeSpec } from './spec.js';

interface StoredSpecs {
  readonly probes: readonly ProbeSpec[];
  readonly updatedAt: string;
}

/**
 * Runs the golden probes of a version after each load, on a schedule for loaded versions,
 * and on request. A probe runs on a version that is already loaded and never loads one, and
 * probes count neither as usage nor as a use that keeps a version in memory. The latest run
 * of each version is kept: a summary in memory for the health rules, and the full outputs in
 * the registry.
 */
export class ProbeService {
  readonly #repository: ChecksRepository;
  readonly #catalog: Catalog;
  readonly #manager: ModelManager;
  readonly #intervalMs: number;
  readonly #logger: Logger;
  readonly #specs = new Map<string, StoredSpecs>();
  readonly #runs = new Map<string, ProbeRunSummary>();
  readonly #running = new Map<string, Promise<ProbeRun>>();
  readonly #onTransition = (managed: ManagedVersion, transition: Transition) => {
    const id = key(managed.model, managed.version);
    if (transition.to !== 'ready' || !this.#specs.has(id)) return;
    // An explicit run that is loading the version covers the load. Checked now, not in the
    // callback below: a fast run can finish before that callback runs.
    if (this.#explicit.has(id)) return;
    // The transition fires inside the load, so the probes start once the load has finished.
    setImmediate(() => {
      if (this.#running.has(id)) return;
      this.#runInBackground(managed.record, 'load');
    });
  };
  /** Versions that an explicit run is loading: that run covers the load, so none starts for it. */
  readonly #explicit = new Set<string>();
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(options: {
    repository: ChecksRepository;
    catalog: Catalog;
    manager: ModelManager;
    intervalMs: number;
    logger: Logger;
  }) {
    this.#repository = options.repository;
    this.#catalog = options.catalog;
    this.#manager = options.manager;
    this.#intervalMs = options.intervalMs;
    this.#logger = options.logger;
  }

  async load(): Promise<void> {
    for (const row of await this.#repository.listProbes<ProbeSpec[]>()) {
      this.#specs.set(key(row.model, row.version), { probes: row.value, updatedAt: row.updatedAt });
    }
    for (const run of await this.#repository.listProbeRuns<ProbeResult[]>()) {
      this.#runs.set(key(run.model, run.version), summarize(run));
    }
  }

  /** Starts running probes after loads and, with a non-zero interval, on a schedule. */
  start(): void {
    this.#manager.on('transition', this.#onTransition);
    if (this.#intervalMs <= 0) return;
    this.#timer = setInterval(() => this.#runScheduled(), this.#intervalMs);
    this.#timer.unref();
  }

  /** Stops starting runs and waits for the ones in progress. */
  /**
   * Stops starting runs and waits for the ones in progress until `deadline` (epoch
   * milliseconds); a run still going then is left to finish or fail on its own.
   */
  async stop(deadline = Number.POSITIVE_INFINITY): Promise<void> {
    this.#stopped = true;
    this.#manager.off('transition', this.#onTransition);
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    const running = Promise.allSettled([...this.#running.values()]);
    const left = deadline - Date.now();
    if (left === Number.POSITIVE_INFINITY) {
      await running;
      return;
    }
    await withTimeout(running, Math.max(0, left), 'probe runs outlasted the drain').catch(() => {
      this.#logger.warn(
        'probe runs still running at the drain timeout; their results are not kept',
      );
    });
  }

  probes(model: string, version: number): readonly ProbeSpec[] {
    return this.#specs.get(key(model, version))?.probes ?? [];
  }

  updatedAt(model: string, version: number): string | null {
    return this.#specs.get(key(model, version))?.updatedAt ?? null;
  }

  lastRun(model: string, version: number): ProbeRunSummary | undefined {
    return this.#runs.get(key(model, version));
  }

  /** Returns the latest run with every probe's outputs, read from the registry. */
  async latestRun(model: string, version: number): Promise<ProbeRun | undefined> {
    const stored = await this.#repository.getProbeRun<ProbeResult[]>(model, version);
    if (!stored) return undefined;
    return {
      ranAt: stored.ranAt,
      trigger: stored.trigger as ProbeTrigger,
      passed: stored.passed,
      results: stored.results,
    };
  }

  /**
   * Replaces the probes of a version and drops the results of the old ones. A loaded version
   * runs the new probes at once, in the background.
   */
  async set(record: VersionRecord, probes: readonly ProbeSpec[]): Promise<void> {
    if (probes.length === 0) {
      await this.clear(record.model, record.version);
      return;
    }
    const at = nowIso();
    await this.#repository.setProbes(record.model, record.version, probes, at);
    await this.#repository.deleteProbeRun(record.model, record.version);
    this.#specs.set(key(record.model, record.version), { probes, updatedAt: at });
    this.#runs.delete(key(record.model, record.version));
    if (this.#manager.isReady(record)) this.#runInBackground(record, 'change');
  }

  async clear(model: string, version: number): Promise<void> {
    await this.#repository.deleteProbes(model, version);
    await this.#repository.deleteProbeRun(model, version);
    this.#specs.delete(key(model, version));
    this.#runs.delete(key(model, version));
  }

  /** Loads the version when needed, then runs its probes and returns the run. */
  async runNow(record: VersionRecord): Promise<ProbeRun> {
    if (this.probes(record.model, record.version).length === 0) {
      throw new StewardError(
        'CONFLICT',
        `model "${record.model}" version ${record.version} has no probes; set them with PUT .../probes first`,
        { field: 'probes' },
      );
    }
    const id = key(record.model, record.version);
    this.#explicit.add(id);
    try {
      await this.#manager.load(record, { explicit: true });
      return await this.run(record, 'request');
    } finally {
      this.#explicit.delete(id);
    }
  }

  /**
   * Runs the probes of a loaded version. A run waits for the one in progress on the same
   * version, so its results never mix with probes that were replaced meanwhile.
   */
  run(record: VersionRecord, trigger: ProbeTrigger): Promise<ProbeRun> {
    const id = key(record.model, record.version);
    const previous = this.#running.get(id);
    const run = (previous ?? Promise.resolve())
      .catch(() => undefined)
      .then(() => this.#execute(record, trigger))
      .finally(() => {
        if (this.#running.get(id) === run) this.#running.delete(id);
      });
    this.#running.set(id, run);
    return run;
  }

  /** Drops a deleted version; its probes went with the version row. */
  async forget(model: string, version: number): Promise<void> {
    this.#specs.delete(key(model, version));
    this.#runs.delete(key(model, version));
    await this.#repository.deleteProbeRun(model, version);
  }

  #runScheduled(): void {
    for (const id of this.#specs.keys()) {
      if (this.#running.has(id)) continue;
      const [model, version] = splitKey(id);
      const record = this.#catalog.getVersion(model, version);
      if (record && this.#manager.isReady(record)) this.#runInBackground(record, 'schedule');
    }
  }

  #runInBackground(record: VersionRecord, trigger: ProbeTrigger): void {
    // A load that finished just before the stop may still schedule a run.
    if (this.#stopped) return;
    this.run(record, trigger).catch((error: unknown) => {
      this.#logger.warn(
        { model: record.model, version: record.version, trigger, err: error },
        'golden probes did not run',
      );
    });
  }

  async #execute(record: VersionRecord, trigger: ProbeTrigger): Promise<ProbeRun> {
    const id = key(record.model, record.version);
    const specs = this.#specs.get(id)?.probes ?? [];
    if (specs.length === 0) {
      throw new StewardError(
        'CONFLICT',
        `model "${record.model}" version ${record.version} has no probes`,
      );
    }
    const lease = this.#manager.leaseIfReady(record);
    if (!lease) {
      throw new StewardError(
        'MODEL_NOT_READY',
        `model "${record.model}" version ${record.version} is not loaded; probes run only on loaded versions`,
      );
    }
    const results: ProbeResult[] = [];
    try {
      for (const spec of specs) results.push(await runProbe(lease, record, spec));
    } finally {
      lease.release();
    }
    const run: ProbeRun = {
      ranAt: nowIso(),
      trigger,
      passed: results.every((result) => result.passed),
      results,
    };
    // Probes replaced or removed during the run leave its results without meaning.
    if (this.#specs.get(id)?.probes !== specs) return run;
    this.#runs.set(id, summarize(run));
    this.#log(record, run);
    try {
      await this.#repository.setProbeRun({ ...run, model: record.model, version: record.version });
    } catch (error) {
      this.#logger.error(
        { model: record.model, version: record.version, err: error },
        'storing the probe results failed; the health rules still use them',
      );
    }
    return run;
  }

  #log(record: VersionRecord, run: ProbeRun): void {
    const failed = run.results.filter((result) => !result.passed);
    const fields = { model: record.model, version: record.version, trigger: run.trigger };
    if (failed.length === 0) {
      this.#logger.debug({ ...fields, probes: run.results.length }, 'golden probes passed');
      return;
    }
    this.#logger.warn(
      {
        ...fields,
        failed: failed.map((result) => ({ probe: result.name, reason: result.message })),
      },
      'golden probes failed',
    );
  }
}

async function runProbe(
  lease: Lease,
  record: VersionRecord,
  spec: ProbeSpec,
): Promise<ProbeResult> {
  const started = performance.now();
  const requestSha256 = requestDigest(spec.request);
  const elapsed = () => Math.round((performance.now() - started) * 1000) / 1000;
  try {
    const request = parseInferenceRequest(spec.request, record.signature);
    const reply = await lease.run(request.inputs, request.outputs);
    const comparison = compareOutputs(spec, reply.outputs);
    return {
      name: spec.name,
      passed: comparison.passed,
      message: comparison.mismatches.join('; '),
      maxDifference: comparison.maxDifference,
      durationMs: elapsed(),
      requestSha256,
      outputsSha256: outputsDigest(reply.outputs),
      outputs: reply.outputs.map((tensor) => toJsonTensor(tensor)),
    };
  } catch (error) {
    return {
      name: spec.name,
      passed: false,
      message: `the probe request failed: ${messageOf(error)}`,
      maxDifference: null,
      durationMs: elapsed(),
      requestSha256,
      outputsSha256: null,
      outputs: [],
    };
  }
}

function summarize(run: {
  ranAt: string;
  trigger: string;
  passed: boolean;
  results: readonly ProbeResult[];
}): ProbeRunSummary {
  return {
    ranAt: run.ranAt,
    trigger: run.trigger as ProbeTrigger,
    passed: run.passed,
    results: run.results.map(({ outputs: _outputs, ...rest }) => rest),
  };
}

function key(model: string, version: number): string {
  return `${model}\u0000${version}`;
}

function splitKey(id: string): [string, number] {
  const separator = id.lastIndexOf('\u0000');
  return [id.slice(0, separator), Number(id.slice(separator + 1))];
}
