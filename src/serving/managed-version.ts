import type { VersionRecord } from '../registry/records.js';

/**
 * Load states of a version. `registered` has never been loaded by this process; `unloaded`
 * was loaded and let go; `failed` carries the reason of the last failed load.
 */
export type LoadState =
  | 'registered'
  | 'loading'
  | 'ready'
  | 'unloading'
  | 'unloaded'
  | 'failed'
  | 'archived';

export interface Transition {
  readonly from: LoadState;
  readonly to: LoadState;
  readonly at: string;
  readonly reason: string;
}

export interface Instance {
  readonly id: string;
  /** Index of the worker thread that contains this copy. */
  readonly slot: number;
}

const MAX_TRANSITIONS = 50;

/** The in-memory lifecycle of one version: its state, loaded copies, and use. */
export class ManagedVersion {
  readonly key: string;
  record: VersionRecord;
  state: LoadState = 'registered';
  reason = '';
  /** The latest transitions, oldest first. */
  readonly transitions: Transition[] = [];
  instances: Instance[] = [];
  /** Measured memory of the loaded copies; 0 while not loaded. */
  memoryBytes = 0;
  /** Measured memory of the last load, kept after unloading to size the next load. */
  lastMeasuredBytes = 0;
  loadMs = 0;
  loadedAt: number | undefined;
  /** Epoch milliseconds of the last request that acquired this version. */
  lastUsedAt: number | undefined;
  inFlight = 0;
  /** Tickets of requests waiting for this version; like requests in flight, they block eviction. */
  readonly waiting = new Set<number>();
  /** The last ticket handed to a request; tickets order arrivals. */
  lastTicket = 0;
  /** Requests with a ticket up to this one arrived before the drain began and still get served. */
  drainTicket = 0;
  /** Set when the version is deleted: requests still waiting for it get a 404. */
  forgotten = false;
  /** Successful loads in this process. */
  loadCount = 0;
  /**
   * Set when a load needs this version's memory but it is busy: new requests wait instead of
   * taking a lease, so the version drains and can be evicted. Two hot versions that do not fit
   * together then take turns instead of one starving the other.
   */
  draining = false;
  /** Why the version may not be evicted: `user` for an explicit pin, `preload` for a hot alias. */
  readonly pins = new Set<string>();
  loading: Promise<void> | undefined;
  /** Resolves to true when the version left memory, false when the unload was cancelled. */
  unloading: Promise<boolean> | undefined;
  failures = 0;
  /** Epoch milliseconds before which a failed load is not retried by a request. */
  retryAt = 0;
  #drainWaiters: Array<() => void> = [];
  #transitionWaiters: Array<() => void> = [];
  #nextInstance = 0;

  constructor(record: VersionRecord) {
    this.key = versionKey(record.model, record.version);
    this.record = record;
    if (record.state === 'archived') this.state = 'archived';
    if (record.state === 'failed') {
      this.state = 'failed';
      this.reason = record.stateReason;
    }
  }

  get model(): string {
    return this.record.model;
  }

  get version(): number {
    return this.record.version;
  }

  get pinned(): boolean {
    return this.pins.size > 0;
  }

  /** Moves to a new state and returns the transition, or undefined when nothing changes. */
  transition(to: LoadState, reason: string): Transition | undefined {
    if (to === this.state && reason === this.reason) return undefined;
    const transition = { from: this.state, to, at: new Date().toISOString(), reason };
    this.state = to;
    this.reason = reason;
    this.transitions.push(transition);
    if (this.transitions.length > MAX_TRANSITIONS) this.transitions.shift();
    if (to !== 'ready') this.draining = false;
    this.#wakeTransitionWaiters();
    return transition;
  }

  /** Lets requests lease this version again after a drain that is no longer needed. */
  stopDraining(): void {
    if (!this.draining) return;
    this.draining = false;
    this.#wakeTransitionWaiters();
  }

  #wakeTransitionWaiters(): void {
    const waiters = this.#transitionWaiters;
    this.#transitionWaiters = [];
    for (const wake of waiters) wake();
  }

  /** Resolves at the next state change, or when a drain ends. */
  nextTransition(): Promise<void> {
    return new Promise((resolve) => this.#transitionWaiters.push(resolve));
  }

  /** Picks the next copy in turn, so several copies share the requests. */
  nextInstance(): Instance {
    const instance = this.instances[this.#nextInstance % this.instances.length]!;
    this.#nextInstance += 1;
    return instance;
  }

  /** Whether eviction may pick this version: loaded, unpinned, and no request uses or awaits it. */
  get evictable(): boolean {
    if (this.state !== 'ready' || this.pinned || this.inFlight > 0) return false;
    for (const ticket of this.waiting) {
      if (!this.draining || ticket <= this.drainTicket) return false;
    }
    return true;
  }

  /** Starts a drain: requests that arrive from now on wait until the version is evicted. */
  startDraining(): void {
    this.draining = true;
    this.drainTicket = this.lastTicket;
  }

  /** Returns whether a request with this ticket may take a lease now. */
  admits(ticket: number): boolean {
    return !this.draining || ticket <= this.drainTicket;
  }

  /** Resolves once no request has this version leased. */
  drained(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.#drainWaiters.push(resolve));
  }

  release(): void {
    this.inFlight -= 1;
    if (this.inFlight === 0) {
      const waiters = this.#drainWaiters;
      this.#drainWaiters = [];
      for (const wake of waiters) wake();
    }
  }
}

export function versionKey(model: string, version: number): string {
  return `${model}:${version}`;
}
