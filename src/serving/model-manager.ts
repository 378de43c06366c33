import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import { formatBytes } from '../config/units.js';
import { CapacityError, StewardError } from '../errors.js';
import { SYSTEM_ACTOR } from '../registry/audit.js';
import type { VersionRecord } from '../registry/records.js';
import type { Tensor } from '../tensors/types.js';
import { Mutex, TimeoutError, withTimeout } from '../util/async.js';
import { type LoadState, ManagedVersion, type Transition, versionKey } from './managed-version.js';
import type { ModelFiles } from './model-files.js';
import type { WorkerPool } from './worker-pool.js';
import type { RunReply } from './worker-protocol.js';

/** A version held for one request: it cannot be evicted or unloaded until released. */
export interface Lease {
  readonly record: VersionRecord;
  run(inputs: readonly Tensor[], outputNames: readonly string[]): Promise<RunReply>;
  release(): void;
}

/** The load state and use of a version in this process, as the API reports it. */
export interface VersionStatus {
  readonly model: string;
  readonly version: number;
  readonly state: LoadState;
  readonly reason: string;
  readonly memoryBytes: number;
  readonly lastMeasuredBytes: number;
  readonly loadMs: number;
  readonly loadCount: number;
  readonly loadedAt: string | null;
  readonly lastUsedAt: string | null;
  readonly inFlight: number;
  readonly pinned: boolean;
  readonly instances: number;
  readonly retryAt: string | null;
  readonly transitions: readonly Transition[];
}

/** The actor that requested a load or unload, and the reason. */
export interface Cause {
  readonly actor: string;
  readonly reason: string;
}

/** A version entering or leaving memory, reported for the audit log. */
export interface LoadActivity {
  readonly action: 'load' | 'load_failed' | 'unload' | 'evict';
  readonly model: string;
  readonly version: number;
  readonly actor: string;
  readonly reason: string;
  readonly details: Readonly<Record<string, unknown>>;
}

export interface UnloadOptions {
  /** Unloads even a pinned version, as deleting one does. */
  readonly force?: boolean;
  /** Checked once the requests in flight finish: true cancels the unload. */
  readonly keep?: () => boolean;
}

export type ManagerSettings = Pick<
  Config,
  | 'memoryBudgetBytes'
  | 'loadTimeoutMs'
  | 'loadWaitMs'
  | 'loadRetryBackoffMs'
  | 'idleUnloadMs'
  | 'instances'
  | 'intraOpThreads'
>;

const MAX_BACKOFF_MS = 3_600_000;

/**
 * How long a request may wait for its version: the limit, and when it ends (epoch ms), with
 * the reason recorded for a load that the request starts.
 */
interface LoadWait {
  readonly deadline: number;
  readonly limitMs: number;
  readonly reason: string;
}

/**
 * Keeps the loaded versions within the memory budget. Loads are lazy and single-flight, run one
 * at a time so each load's memory growth is its own, and evict least-recently-used versions
 * that are neither pinned nor in use.
 *
 * Events: `transition` (version: ManagedVersion, transition: Transition),
 * `activity` (activity: LoadActivity) when a load ends or a version leaves memory,
 * `released` () whenever a request lets go of a version.
 */
export class ModelManager extends EventEmitter {
  readonly #versions = new Map<string, ManagedVersion>();
  readonly #pool: WorkerPool;
  readonly #files: ModelFiles;
  readonly #settings: ManagerSettings;
  readonly #logger: Logger;
  readonly #loadLock = new Mutex();
  /** Memory set aside for the load in progress, counted against the budget. */
  #reservedBytes = 0;
  #sweeper: NodeJS.Timeout | undefined;

  constructor(pool: WorkerPool, files: ModelFiles, settings: ManagerSettings, logger: Logger) {
    super();
    this.#pool = pool;
    this.#files = files;
    this.#settings = settings;
    this.#logger = logger;
    pool.on('instances-lost', (ids: string[], reason: string) =>
      this.#onInstancesLost(ids, reason),
    );
  }

  get budgetBytes(): number {
    return this.#settings.memoryBudgetBytes;
  }

  /** Measured memory of every loaded version plus the reservation of a load in progress. */
  usedBytes(): number {
    let total = this.#reservedBytes;
    for (const managed of this.#versions.values()) total += managed.memoryBytes;
    return total;
  }

  /** Returns the managed entry of a version, creating it from the record on first sight. */
  track(record: VersionRecord): ManagedVersion {
    const key = versionKey(record.model, record.version);
    let managed = this.#versions.get(key);
    if (!managed) {
      managed = new ManagedVersion(record);
      this.#versions.set(key, managed);
    } else {
      managed.record = record;
    }
    return managed;
  }

  get(model: string, version: number): ManagedVersion | undefined {
    return this.#versions.get(versionKey(model, version));
  }

  status(record: VersionRecord): VersionStatus {
    return describe(this.track(record));
  }

  /** Versions with at least one loaded copy, most recently used first. */
  loaded(): VersionStatus[] {
    return [...this.#versions.values()]
      .filter((managed) => managed.instances.length > 0)
      .sort((a, b) => (b.lastUsedAt ?? 0) - (a.lastUsedAt ?? 0))
      .map(describe);
  }

  /**
   * Returns whether `record` is loaded, or could load by evicting only versions other than
   * `keep`. Shadow runs check this before they load a staging version, so the load does not
   * evict production.
   */
  fitsBeside(record: VersionRecord, keep: VersionRecord): boolean {
    // NOTE: the check and the load are not atomic. A version that becomes busy in between
    // can leave `keep` as the only version to evict.
    const managed = this.track(record);
    if (managed.state === 'ready') return true;
    const keepKey = versionKey(keep.model, keep.version);
    let held = this.#reservedBytes;
    for (const other of this.#versions.values()) {
      if (other === managed) continue;
      if (!other.evictable || other.key === keepKey) held += other.memoryBytes;
    }
    const estimate = Math.max(managed.lastMeasuredBytes, record.sizeBytes);
    return held + estimate <= this.#settings.memoryBudgetBytes;
  }

  /** Whether a request for this version would run now without waiting for a load. */
  isReady(record: VersionRecord): boolean {
    return this.#versions.get(versionKey(record.model, record.version))?.state === 'ready';
  }

  /**
   * Holds a version for one request, loading it first when needed. Waits at most `waitMs`
   * (default: the configured load wait), then fails with 503 while the load itself goes on.
   * `reason` is recorded with a load that the request starts.
   */
  async acquire(
    record: VersionRecord,
    options: { waitMs?: number; reason?: string } = {},
  ): Promise<Lease> {
    const managed = this.track(record);
    const limitMs = options.waitMs ?? this.#settings.loadWaitMs;
    const wait: LoadWait = {
      deadline: Date.now() + limitMs,
      limitMs,
      reason: options.reason ?? 'an inference request needs it',
    };
    // Counted as waiting until leased, so the load this request waits for cannot be evicted
    // by the next load before the request gets to use it.
    managed.lastTicket += 1;
    const ticket = managed.lastTicket;
    managed.waiting.add(ticket);
    try {
      return await this.#acquire(managed, ticket, wait);
    } finally {
      managed.waiting.delete(ticket);
    }
  }

  async #acquire(managed: ManagedVersion, ticket: number, wait: LoadWait): Promise<Lease> {
    for (;;) {
      if (managed.forgotten) {
        throw new StewardError(
          'VERSION_NOT_FOUND',
          `model "${managed.model}" version ${managed.version} was deleted while the request waited for it`,
          { field: 'version' },
        );
      }
      switch (managed.state) {
        case 'ready':
          if (managed.admits(ticket)) return this.#lease(managed);
          await this.#waitFor(managed.nextTransition(), managed, wait);
          continue;
        case 'archived':
          throw new StewardError(
            'MODEL_NOT_READY',
            `model "${managed.model}" version ${managed.version} is archived and does not serve requests; ` +
              `restore it to serve it again (steward restore ${managed.model} ${managed.version})`,
          );
        case 'failed':
          if (Date.now() < managed.retryAt) {
            const seconds = Math.ceil((managed.retryAt - Date.now()) / 1000);
            throw new StewardError(
              'MODEL_NOT_READY',
              `model "${managed.model}" version ${managed.version} failed to load: ${managed.reason} ` +
                `(next automatic retry in ${seconds} s, or load it explicitly)`,
            );
          }
          break;
        case 'unloading':
          await this.#waitFor(managed.unloading, managed, wait);
          continue;
        default:
          break;
      }
      try {
        const load = this.#startLoad(managed, { reason: wait.reason });
        await this.#waitFor(load, managed, wait);
      } catch (error) {
        if ((managed.state as LoadState) === 'ready') continue;
        throw error;
      }
    }
  }

  /**
   * Holds a loaded version for work that is not a client request, such as golden probes. It
   * never loads, skips a draining version, and leaves the last use as it was, so the work
   * keeps no version from eviction or idle unload once it ends.
   */
  leaseIfReady(record: VersionRecord): Lease | undefined {
    const managed = this.#versions.get(versionKey(record.model, record.version));
    if (managed?.state !== 'ready' || managed.draining) return undefined;
    return this.#lease(managed, false);
  }

  /**
   * Loads a version unless it is loaded or loading; an explicit load also skips the back-off.
   * `actor` (default `steward`) and `reason` are reported with the load's activity event.
   */
  load(
    record: VersionRecord,
    options: { explicit?: boolean; actor?: string; reason?: string } = {},
  ): Promise<void> {
    return this.#startLoad(this.track(record), options);
  }

  #startLoad(
    managed: ManagedVersion,
    options: { explicit?: boolean; actor?: string; reason?: string },
  ): Promise<void> {
    if (managed.forgotten) {
      return Promise.reject(
        new StewardError(
          'VERSION_NOT_FOUND',
          `model "${managed.model}" version ${managed.version} was deleted`,
        ),
      );
    }
    // A load never overlaps an unload of the same version: it starts once the unload ends,
    // which may also have been cancelled, leaving the version ready.
    if (managed.unloading) {
      return managed.unloading.then(() => this.#startLoad(managed, options));
    }
    if (managed.state === 'archived') {
      return Promise.reject(
        new StewardError(
          'CONFLICT',
          `model "${managed.model}" version ${managed.version} is archived; it cannot be loaded`,
        ),
      );
    }
    if (managed.state === 'ready') return Promise.resolve();
    if (managed.loading) return managed.loading;
    if (managed.state === 'failed' && !options.explicit && Date.now() < managed.retryAt) {
      return Promise.reject(new StewardError('MODEL_NOT_READY', managed.reason));
    }
    const cause = {
      actor: options.actor ?? SYSTEM_ACTOR,
      reason: options.reason ?? 'load requested',
    };
    managed.loading = this.#load(managed, cause).finally(() => {
      managed.loading = undefined;
    });
    return managed.loading;
  }

  /**
   * Unloads a version once its requests finish. Returns false when it was not loaded or the
   * unload was cancelled. After the requests finish the unload is cancelled, and the version
   * stays ready, when it is pinned by then or `keep` returns true, unless `force` is set.
   */
  unload(
    model: string,
    version: number,
    reason: string,
    actor = SYSTEM_ACTOR,
    options: UnloadOptions = {},
  ): Promise<boolean> {
    return this.#unloadAs(model, version, { actor, reason }, 'unload', options);
  }

  async #unloadAs(
    model: string,
    version: number,
    cause: Cause,
    action: 'unload' | 'evict',
    options: UnloadOptions = {},
  ): Promise<boolean> {
    const managed = this.get(model, version);
    if (!managed) return false;
    if (managed.loading) await managed.loading.catch(() => undefined);
    if (managed.unloading) return managed.unloading;
    if (managed.state !== 'ready') return false;
    managed.unloading = this.#unload(managed, cause, action, options).finally(() => {
      managed.unloading = undefined;
    });
    return managed.unloading;
  }

  /** Clears the back-off of a failed version, so its next request loads it again. */
  allowRetry(record: VersionRecord): void {
    this.track(record).retryAt = 0;
  }

  /**
   * Adds or removes a pin; `reason` is `user` for explicit pins, `preload` for hot aliases.
   * An archived version cannot be pinned.
   */
  setPinned(record: VersionRecord, pinned: boolean, reason = 'user'): void {
    const managed = this.track(record);
    if (pinned && managed.state === 'archived') {
      throw new StewardError(
        'CONFLICT',
        `model "${managed.model}" version ${managed.version} is archived; restore it before pinning it`,
        { field: 'version' },
      );
    }
    if (pinned) managed.pins.add(reason);
    else managed.pins.delete(reason);
  }

  /**
   * Moves a version to `archived` once no load or unload of it is running. From then on it takes
   * no new request, load or pin; requests already running keep their copy until
   * `releaseArchived`. Rejects a pinned version with CONFLICT.
   */
  async markArchived(record: VersionRecord, reason: string): Promise<void> {
    const managed = this.track(record);
    while (managed.loading || managed.unloading) {
      await (managed.loading ?? managed.unloading)?.catch(() => undefined);
    }
    // No await from this check to the transition, so no pin or load can slip in between.
    if (managed.pinned) {
      throw new StewardError(
        'CONFLICT',
        `model "${managed.model}" version ${managed.version} is pinned (${[...managed.pins].join(', ')}); ` +
          'unpin it before archiving it',
        { field: 'version' },
      );
    }
    this.#transition(managed, 'archived', reason);
  }

  /** Frees the copies of an archived version once its requests in flight finish. */
  async releaseArchived(model: string, version: number, cause: Cause): Promise<void> {
    const managed = this.get(model, version);
    if (managed?.state !== 'archived') return;
    await managed.drained();
    // A restore while the requests finished keeps the copies: the version serves again.
    if (managed.state !== 'archived' || managed.instances.length === 0) return;
    const memoryBytes = managed.memoryBytes;
    await this.#dropInstances(managed);
    this.#report('unload', managed, cause, { memory_bytes: memoryBytes });
    this.#logger.info({ model, version, reason: cause.reason }, 'model unloaded');
  }

  /**
   * Moves an archived version back to `registered`, so its next request loads it, or to `ready`
   * when its copies are still loaded because the archive has not released them yet.
   */
  restore(record: VersionRecord, reason: string): void {
    const managed = this.track(record);
    if (managed.state !== 'archived') return;
    this.#transition(managed, managed.instances.length > 0 ? 'ready' : 'registered', reason);
  }

  /** Forgets a deleted version after unloading it. */
  async forget(
    model: string,
    version: number,
    reason: string,
    actor = SYSTEM_ACTOR,
  ): Promise<void> {
    const managed = this.get(model, version);
    if (!managed) return;
    managed.forgotten = true;
    managed.pins.clear();
    managed.stopDraining();
    if (managed.state === 'archived') {
      await this.releaseArchived(model, version, { actor, reason });
    }
    await this.unload(model, version, reason, actor, { force: true });
    this.#versions.delete(versionKey(model, version));
  }

  /** Starts the timer that unloads versions idle for longer than the idle-unload setting. */
  startIdleSweeper(): void {
    if (this.#settings.idleUnloadMs <= 0 || this.#sweeper) return;
    const every = Math.min(30_000, Math.max(250, Math.floor(this.#settings.idleUnloadMs / 4)));
    this.#sweeper = setInterval(() => this.#sweepIdle(), every);
    this.#sweeper.unref();
  }

  /** Waits until no request has a version leased, or until `deadline` (epoch milliseconds). */
  async drain(deadline: number): Promise<boolean> {
    const busy = () => [...this.#versions.values()].some((managed) => managed.inFlight > 0);
    while (busy()) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await this.#nextRelease(Math.min(left, 1000));
    }
    return true;
  }

  /** Stops the idle timer and frees every loaded copy without waiting for requests. */
  async close(): Promise<void> {
    if (this.#sweeper) clearInterval(this.#sweeper);
    this.#sweeper = undefined;
    const cause = { actor: SYSTEM_ACTOR, reason: 'server stopping' };
    for (const managed of this.#versions.values()) {
      if (managed.instances.length === 0) continue;
      const memoryBytes = managed.memoryBytes;
      this.#transition(managed, 'unloading', cause.reason);
      await this.#dropInstances(managed);
      this.#transition(managed, 'unloaded', cause.reason);
      this.#report('unload', managed, cause, { memory_bytes: memoryBytes });
    }
  }

  #lease(managed: ManagedVersion, touch = true): Lease {
    managed.inFlight += 1;
    if (touch) managed.lastUsedAt = Date.now();
    let released = false;
    return {
      record: managed.record,
      run: (inputs, outputNames) => {
        const instance = managed.nextInstance();
        return this.#pool.run(instance.slot, instance.id, inputs, outputNames);
      },
      release: () => {
        if (released) return;
        released = true;
        managed.release();
        this.emit('released');
      },
    };
  }

  async #waitFor(
    work: Promise<unknown> | undefined,
    managed: ManagedVersion,
    wait: LoadWait,
  ): Promise<void> {
    if (!work) return;
    try {
      await withTimeout(work, wait.deadline - Date.now(), 'load wait exceeded');
    } catch (error) {
      if (!(error instanceof TimeoutError)) throw error;
      throw new StewardError(
        'MODEL_NOT_READY',
        `model "${managed.model}" version ${managed.version} is still ${managed.state} after ` +
          `${wait.limitMs} ms; retry later`,
        { cause: error },
      );
    }
  }

  async #load(managed: ManagedVersion, cause: Cause): Promise<void> {
    this.#transition(managed, 'loading', cause.reason);
    const release = await this.#loadLock.lock();
    const started = performance.now();
    try {
      const estimate = Math.max(managed.lastMeasuredBytes, managed.record.sizeBytes);
      this.#checkFitsBudget(managed, estimate);
      await this.#makeRoom(estimate, managed);
      this.#reservedBytes = estimate;
      const location = await this.#files.open(managed.record.sha256);
      const measured = await this.#loadInstances(managed, location);
      this.#reservedBytes = 0;
      managed.memoryBytes = Math.max(measured, managed.record.sizeBytes);
      managed.lastMeasuredBytes = managed.memoryBytes;
      this.#checkFitsBudget(managed, managed.memoryBytes);
      await this.#makeRoom(0, managed);
      managed.loadMs = performance.now() - started;
      managed.loadedAt = Date.now();
      managed.loadCount += 1;
      managed.failures = 0;
      managed.retryAt = 0;
      this.#transition(managed, 'ready', `loaded in ${Math.round(managed.loadMs)} ms`);
      this.#report('load', managed, cause, {
        load_ms: Math.round(managed.loadMs * 10) / 10,
        memory_bytes: managed.memoryBytes,
        instances: managed.instances.length,
      });
      this.#logger.info(
        {
          model: managed.model,
          version: managed.version,
          loadMs: Math.round(managed.loadMs),
          memoryBytes: managed.memoryBytes,
          instances: managed.instances.length,
        },
        'model loaded',
      );
    } catch (error) {
      this.#reservedBytes = 0;
      await this.#dropInstances(managed);
      if (error instanceof CapacityError) {
        // Lack of room is no fault of the version: no failed state and no back-off. A model
        // measured larger than the budget keeps that size, so its next load fails at once.
        this.#transition(managed, managed.loadCount > 0 ? 'unloaded' : 'registered', error.message);
        this.#report(
          'load_failed',
          managed,
          { actor: cause.actor, reason: error.message },
          {
            requested_because: cause.reason,
          },
        );
        this.#logger.warn(
          { model: managed.model, version: managed.version, reason: error.message },
          'model load refused',
        );
        throw error;
      }
      managed.failures += 1;
      const backoff = Math.min(
        MAX_BACKOFF_MS,
        this.#settings.loadRetryBackoffMs * 2 ** (managed.failures - 1),
      );
      managed.retryAt = Date.now() + backoff;
      const reason = error instanceof Error ? error.message : String(error);
      this.#transition(managed, 'failed', reason);
      this.#report(
        'load_failed',
        managed,
        { actor: cause.actor, reason },
        { requested_because: cause.reason, retry_in_ms: backoff },
      );
      this.#logger.error(
        { model: managed.model, version: managed.version, err: error, retryInMs: backoff },
        'model load failed',
      );
      throw error instanceof StewardError
        ? error
        : new StewardError(
            'MODEL_NOT_READY',
            `model "${managed.model}" version ${managed.version} failed to load: ${reason}`,
            { cause: error },
          );
    } finally {
      release();
    }
  }

  /** Loads each copy on its own worker and returns the memory they added together. */
  async #loadInstances(managed: ManagedVersion, location: string): Promise<number> {
    const used = new Set<number>();
    const siblings = this.#siblingSlots(managed);
    let measured = 0;
    const copies = Math.min(this.#settings.instances, this.#pool.size);
    for (let copy = 0; copy < copies; copy += 1) {
      const avoid = new Set([...used, ...siblings]);
      const slot = this.#pool.leastBusy(avoid.size < this.#pool.size ? avoid : used);
      used.add(slot);
      const id = `${managed.key}#${randomUUID()}`;
      const timeoutMs = this.#settings.loadTimeoutMs;
      const loading = this.#pool.load(
        slot,
        id,
        managed.record.format,
        location,
        this.#settings.intraOpThreads,
      );
      try {
        const reply = await withTimeout(loading, timeoutMs, `load timed out after ${timeoutMs} ms`);
        managed.instances.push({ id, slot });
        measured += reply.residentGrowthBytes;
      } catch (error) {
        if (error instanceof TimeoutError) this.#discardLateLoad(managed, slot, id, loading);
        throw error;
      }
    }
    return measured;
  }

  /**
   * Returns the workers that hold copies of other versions of the same model. A new version
   * goes elsewhere when a worker is free of them, so a slow staging version running shadow
   * requests does not hold up the production version's requests on the same worker thread.
   */
  #siblingSlots(managed: ManagedVersion): Set<number> {
    const slots = new Set<number>();
    for (const other of this.#versions.values()) {
      if (other === managed || other.model !== managed.model) continue;
      for (const instance of other.instances) slots.add(instance.slot);
    }
    return slots;
  }

  /**
   * Frees a copy whose load finishes after its timeout. A native load cannot be interrupted:
   * stopping its worker thread would abort the process, so the worker finishes the load and
   * the copy is unloaded at once.
   */
  #discardLateLoad(
    managed: ManagedVersion,
    slot: number,
    id: string,
    loading: Promise<unknown>,
  ): void {
    // NOTE: until the late load ends, requests for other versions on the same worker wait.
    loading
      .then(
        () => this.#pool.unload(slot, id),
        () => undefined,
      )
      .catch((error: unknown) => {
        this.#logger.error(
          { model: managed.model, version: managed.version, worker: slot, err: error },
          'unloading a copy that finished loading after its timeout failed',
        );
      });
  }

  #checkFitsBudget(managed: ManagedVersion, bytes: number): void {
    if (bytes <= this.#settings.memoryBudgetBytes) return;
    throw new CapacityError(
      'MODEL_TOO_LARGE',
      `model "${managed.model}" version ${managed.version} needs ${formatBytes(bytes)}, more than ` +
        `the whole memory budget of ${formatBytes(this.#settings.memoryBudgetBytes)}; ` +
        'raise --memory-budget to serve it',
    );
  }

  /**
   * Evicts least-recently-used versions until `need` more bytes fit in the budget. Versions in
   * use or pinned are never evicted; when only those remain, waits for a request to finish
   * until the load timeout.
   */
  async #makeRoom(need: number, loading: ManagedVersion): Promise<void> {
    try {
      await this.#evictUntilFits(need, loading);
    } finally {
      for (const managed of this.#versions.values()) managed.stopDraining();
    }
  }

  async #evictUntilFits(need: number, loading: ManagedVersion): Promise<void> {
    const deadline = Date.now() + this.#settings.loadTimeoutMs;
    while (this.usedBytes() + need > this.#settings.memoryBudgetBytes) {
      const victim = this.#leastRecentlyUsed(loading);
      if (victim) {
        const reason = `evicted to make room for ${loading.model} version ${loading.version}`;
        await this.#unloadAs(
          victim.model,
          victim.version,
          { actor: SYSTEM_ACTOR, reason },
          'evict',
        );
        continue;
      }
      // Pins never lift on their own, so a load they leave no room for fails now, not at the
      // deadline.
      const pinned = this.#pinnedLoaded(loading);
      const pinnedBytes = pinned.reduce((sum, managed) => sum + managed.memoryBytes, 0);
      if (pinnedBytes + need > this.#settings.memoryBudgetBytes) {
        const names = pinned.map((managed) => `${managed.model} version ${managed.version}`);
        throw new CapacityError(
          'MODEL_NOT_READY',
          `${loading.model} version ${loading.version} needs ${formatBytes(need)}, but pinned ` +
            `versions hold ${formatBytes(pinnedBytes)} of the memory budget of ` +
            `${formatBytes(this.#settings.memoryBudgetBytes)} (${names.join(', ')}); unpin a ` +
            'version or raise --memory-budget',
        );
      }
      this.#drainLeastRecentlyUsed(loading);
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new CapacityError(
          'MODEL_NOT_READY',
          `memory budget of ${formatBytes(this.#settings.memoryBudgetBytes)} is held by pinned ` +
            'versions or versions in use; unpin a version or raise --memory-budget',
        );
      }
      await this.#nextRelease(Math.min(left, 1000));
    }
  }

  /** Waits until a request releases a version, or `ms` passes. */
  #nextRelease(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.off('released', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.on('released', done);
    });
  }

  /** Marks the least recently used busy version to drain, unless one is draining already. */
  #drainLeastRecentlyUsed(exclude: ManagedVersion): void {
    let candidate: ManagedVersion | undefined;
    for (const managed of this.#versions.values()) {
      if (managed.draining) return;
      if (managed === exclude || managed.state !== 'ready' || managed.pinned) continue;
      if (!candidate || (managed.lastUsedAt ?? 0) < (candidate.lastUsedAt ?? 0))
        candidate = managed;
    }
    if (!candidate) return;
    candidate.startDraining();
    this.#logger.debug(
      { model: candidate.model, version: candidate.version, for: exclude.key },
      'draining a busy version to make room',
    );
  }

  /** Pinned versions that hold memory, apart from `exclude`. */
  #pinnedLoaded(exclude: ManagedVersion): ManagedVersion[] {
    return [...this.#versions.values()].filter(
      (managed) => managed !== exclude && managed.pinned && managed.memoryBytes > 0,
    );
  }

  #leastRecentlyUsed(exclude: ManagedVersion): ManagedVersion | undefined {
    let victim: ManagedVersion | undefined;
    for (const managed of this.#versions.values()) {
      if (managed === exclude || !managed.evictable) continue;
      if (!victim || (managed.lastUsedAt ?? 0) < (victim.lastUsedAt ?? 0)) victim = managed;
    }
    return victim;
  }

  async #unload(
    managed: ManagedVersion,
    cause: Cause,
    action: 'unload' | 'evict',
    options: UnloadOptions,
  ): Promise<boolean> {
    this.#transition(managed, 'unloading', cause.reason);
    await managed.drained();
    if (!options.force && (managed.pinned || options.keep?.())) {
      this.#transition(
        managed,
        'ready',
        `unload cancelled (${cause.reason}): the version is needed again`,
      );
      return false;
    }
    const memoryBytes = managed.memoryBytes;
    await this.#dropInstances(managed);
    this.#transition(managed, 'unloaded', cause.reason);
    this.#report(action, managed, cause, { memory_bytes: memoryBytes });
    this.#logger.info(
      { model: managed.model, version: managed.version, reason: cause.reason },
      'model unloaded',
    );
    return true;
  }

  async #dropInstances(managed: ManagedVersion): Promise<void> {
    const instances = managed.instances;
    managed.instances = [];
    managed.memoryBytes = 0;
    for (const instance of instances) {
      try {
        await this.#pool.unload(instance.slot, instance.id);
      } catch (error) {
        this.#logger.error(
          { model: managed.model, version: managed.version, worker: instance.slot, err: error },
          'unloading a model copy failed',
        );
      }
    }
  }

  #sweepIdle(): void {
    const cutoff = Date.now() - this.#settings.idleUnloadMs;
    for (const managed of this.#versions.values()) {
      if (!managed.evictable) continue;
      const lastActive = Math.max(managed.lastUsedAt ?? 0, managed.loadedAt ?? 0);
      if (lastActive > cutoff) continue;
      const idleFor = Math.round((Date.now() - lastActive) / 1000);
      this.unload(managed.model, managed.version, `idle for ${idleFor} s`).catch((error) => {
        this.#logger.error(
          { model: managed.model, version: managed.version, err: error },
          'idle unload failed',
        );
      });
    }
  }

  #onInstancesLost(ids: readonly string[], reason: string): void {
    const lost = new Set(ids);
    for (const managed of this.#versions.values()) {
      const before = managed.instances.length;
      managed.instances = managed.instances.filter((instance) => !lost.has(instance.id));
      if (managed.instances.length === before) continue;
      if (managed.instances.length === 0 && managed.state === 'ready') {
        const memoryBytes = managed.memoryBytes;
        managed.memoryBytes = 0;
        this.#transition(managed, 'unloaded', reason);
        this.#report(
          'unload',
          managed,
          { actor: SYSTEM_ACTOR, reason },
          { memory_bytes: memoryBytes },
        );
      }
    }
  }

  #report(
    action: LoadActivity['action'],
    managed: ManagedVersion,
    cause: Cause,
    details: Record<string, unknown>,
  ): void {
    const activity: LoadActivity = {
      action,
      model: managed.model,
      version: managed.version,
      actor: cause.actor,
      reason: cause.reason,
      details,
    };
    this.emit('activity', activity);
  }

  #transition(managed: ManagedVersion, to: LoadState, reason: string): void {
    const transition = managed.transition(to, reason);
    if (!transition) return;
    this.#logger.debug(
      { model: managed.model, version: managed.version, from: transition.from, to, reason },
      'version state changed',
    );
    this.emit('transition', managed, transition);
  }
}

function describe(managed: ManagedVersion): VersionStatus {
  const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());
  return {
    model: managed.model,
    version: managed.version,
    state: managed.state,
    reason: managed.reason,
    memoryBytes: managed.memoryBytes,
    lastMeasuredBytes: managed.lastMeasuredBytes,
    loadMs: Math.round(managed.loadMs * 10) / 10,
    loadCount: managed.loadCount,
    loadedAt: iso(managed.loadedAt),
    lastUsedAt: iso(managed.lastUsedAt),
    inFlight: managed.inFlight,
    pinned: managed.pinned,
    instances: managed.instances.length,
    retryAt: managed.retryAt > Date.now() ? new Date(managed.retryAt).toISOString() : null,
    transitions: managed.transitions,
  };
}
