import path from 'node:path';
import pino, { type Logger } from 'pino';
import type { Config } from './config/config.js';
import { AuditLog } from './governance/audit-log.js';
import { GarbageCollector } from './governance/gc.js';
import { EMPTY_POLICY, type RetirementPolicy, readPolicyFile } from './governance/policy.js';
import { ProbeService } from './governance/probes/service.js';
import { parseProbes } from './governance/probes/spec.js';
import { ThresholdStore } from './governance/thresholds.js';
import { Registry } from './registry/registry.js';
import { AliasService } from './serving/aliases.js';
import { ArchiveService } from './serving/archiving.js';
import { Catalog } from './serving/catalog.js';
import { InferenceService } from './serving/inference.js';
import { LifecycleService } from './serving/lifecycle.js';
import type { ManagedVersion, Transition } from './serving/managed-version.js';
import { ModelFiles } from './serving/model-files.js';
import { type LoadActivity, ModelManager } from './serving/model-manager.js';
import type { UploadCheckHandler } from './serving/publisher.js';
import { Publisher } from './serving/publisher.js';
import { Staging } from './serving/staging/staging.js';
import { WorkerPool } from './serving/worker-pool.js';
import { type DataDirLock, lockDataDir } from './storage/data-dir-lock.js';
import { LocalArtifactStore } from './storage/local-store.js';
import { removeOrphanArtifacts } from './storage/orphans.js';
import { UnpackedArchives } from './storage/unpacked-archives.js';
import { ExpectationStore } from './telemetry/expectation-store.js';
import { UsageTracker } from './telemetry/usage.js';
import { KeyedMutex } from './util/async.js';

/**
 * One Steward instance: the registry, artifact store, worker pool and the services built on
 * them. `open` prepares everything and `close` drains and releases it; the HTTP server and
 * the tests both start from here.
 */
export class Steward {
  readonly config: Config;
  readonly logger: Logger;
  readonly registry: Registry;
  readonly store: LocalArtifactStore;
  readonly unpacked: UnpackedArchives;
  readonly pool: WorkerPool;
  readonly catalog: Catalog;
  readonly manager: ModelManager;
  readonly usage: UsageTracker;
  readonly expectations: ExpectationStore;
  readonly thresholds: ThresholdStore;
  readonly probes: ProbeService;
  /** Usage of shadow runs on staging versions, apart from live usage. */
  readonly shadowUsage: UsageTracker;
  readonly aliases: AliasService;
  readonly staging: Staging;
  readonly publisher: Publisher;
  readonly inference: InferenceService;
  readonly lifecycle: LifecycleService;
  readonly audit: AuditLog;
  readonly archive: ArchiveService;
  readonly gc: GarbageCollector;
  readonly startedAt = new Date();
  /** Set when a shutdown begins: new requests get 503 while the ones in flight finish. */
  draining = false;
  #closed = false;
  #lock: DataDirLock | undefined;

  private constructor(
    config: Config,
    logger: Logger,
    registry: Registry,
    store: LocalArtifactStore,
    unpacked: UnpackedArchives,
    policy: RetirementPolicy,
  ) {
    this.config = config;
    this.logger = logger;
    this.registry = registry;
    this.store = store;
    this.unpacked = unpacked;
    this.audit = new AuditLog(registry.audit, logger.child({ component: 'audit' }));
    this.pool = new WorkerPool(config.workers, logger.child({ component: 'workers' }));
    this.catalog = new Catalog(registry);
    this.manager = new ModelManager(
      this.pool,
      new ModelFiles(store, unpacked),
      config,
      logger.child({ component: 'models' }),
    );
    this.usage = new UsageTracker(
      registry.usage,
      { windowMs: config.statsWindowMs, samplesPerVersion: config.violationSamples },
      logger.child({ component: 'usage' }),
    );
    // Shadow runs keep no violation samples: the comparison keeps its own disagreements.
    this.shadowUsage = new UsageTracker(
      registry.shadowUsage,
      { windowMs: config.statsWindowMs, samplesPerVersion: 0 },
      logger.child({ component: 'usage', traffic: 'shadow' }),
    );
    this.expectations = new ExpectationStore(registry.checks);
    this.thresholds = new ThresholdStore(registry.checks, {
      maxErrorRate: config.healthMaxErrorRate,
      maxP95Ms: config.healthMaxP95Ms,
      maxInvalidOutputRate: config.healthMaxInvalidOutputRate,
      minRequests: config.healthMinRequests,
    });
    this.probes = new ProbeService({
      repository: registry.checks,
      catalog: this.catalog,
      manager: this.manager,
      intervalMs: config.probeIntervalMs,
      logger: logger.child({ component: 'probes' }),
    });
    this.aliases = new AliasService({
      registry,
      catalog: this.catalog,
      manager: this.manager,
      preloadAliases: config.preloadAliases,
      audit: this.audit,
      logger: logger.child({ component: 'aliases' }),
    });
    this.staging = new Staging({
      registry,
      catalog: this.catalog,
      manager: this.manager,
      aliases: this.aliases,
      shadowUsage: this.shadowUsage,
      expectations: this.expectations,
      audit: this.audit,
      config,
      logger: logger.child({ component: 'staging' }),
    });
    const artifactLocks = new KeyedMutex();
    this.lifecycle = new LifecycleService({
      registry,
      catalog: this.catalog,
      manager: this.manager,
      store,
      unpacked,
      versionData: {
        forgetVersion: (model, version) => this.#forgetVersion(model, version),
        forgetModel: (model) => {
          this.thresholds.forget(model);
          this.staging.forgetModel(model);
        },
      },
      audit: this.audit,
      artifactLocks,
      logger: logger.child({ component: 'lifecycle' }),
    });
    this.archive = new ArchiveService({
      registry,
      catalog: this.catalog,
      manager: this.manager,
      audit: this.audit,
      logger: logger.child({ component: 'lifecycle' }),
    });
    this.gc = new GarbageCollector({
      policy,
      catalog: this.catalog,
      manager: this.manager,
      usage: this.usage,
      archive: this.archive,
      lifecycle: this.lifecycle,
      audit: this.audit,
      logger: logger.child({ component: 'gc' }),
    });
    this.publisher = new Publisher({
      registry,
      catalog: this.catalog,
      store,
      unpacked,
      pool: this.pool,
      aliases: this.aliases,
      lifecycle: this.lifecycle,
      manager: this.manager,
      checks: this.#uploadChecks(),
      maxUploadBytes: config.maxUploadBytes,
      inspectTimeoutMs: config.loadTimeoutMs,
      audit: this.audit,
      artifactLocks,
      logger: logger.child({ component: 'registry' }),
    });
    this.inference = new InferenceService(
      this.staging.router,
      this.manager,
      this.usage,
      this.expectations,
      logger,
    );
    this.manager.on('activity', (activity: LoadActivity) => this.audit.record(activity));
    this.manager.on('transition', (managed: ManagedVersion, transition: Transition) => {
      this.#persistLoadOutcome(managed, transition).catch((error: unknown) => {
        logger.error(
          { model: managed.model, version: managed.version, err: error },
          'recording the load outcome in the registry failed',
        );
      });
    });
  }

  /** Drops what a deleted version leaves outside its registry row. */
  async #forgetVersion(model: string, version: number): Promise<void> {
    this.expectations.forget(model, version);
    await this.probes.forget(model, version);
    await this.usage.forget(model, version);
    await this.shadowUsage.forget(model, version);
  }

  /** Expectations and probes sent with an upload: checked before, stored after registration. */
  #uploadChecks(): UploadCheckHandler {
    return {
      prepare: (signature, checks) => {
        const expectations =
          checks.expectations === undefined
            ? undefined
            : this.expectations.parse({ signature }, checks.expectations, 'expectations');
        const probes =
          checks.probes === undefined ? undefined : parseProbes(checks.probes, signature, 'probes');
        return async (record) => {
          if (expectations) await this.expectations.set(record, expectations);
          if (probes) await this.probes.set(record, probes);
        };
      },
    };
  }

  /**
   * Records a failed load in the registry, and clears it after a successful one, so the
   * failure and its reason survive a restart.
   */
  async #persistLoadOutcome(managed: ManagedVersion, transition: Transition): Promise<void> {
    const record = this.catalog.getVersion(managed.model, managed.version);
    if (!record) return;
    if (transition.to === 'failed') {
      await this.registry.models.setVersionState(
        record.model,
        record.version,
        'failed',
        transition.reason,
      );
    } else if (transition.to === 'ready' && record.state === 'failed') {
      await this.registry.models.setVersionState(record.model, record.version, 'ready', '');
    } else {
      return;
    }
    await this.catalog.refreshModel(record.model);
    const refreshed = this.catalog.getVersion(record.model, record.version);
    if (refreshed) this.manager.track(refreshed);
  }

  static async open(config: Config, logger: Logger = createLogger(config)): Promise<Steward> {
    // Read before anything opens, so an invalid policy file stops the start with its reason.
    const policy = config.policyFile ? readPolicyFile(config.policyFile) : EMPTY_POLICY;
    const lock = await lockDataDir(config.dataDir, logger);
    try {
      return await Steward.#openLocked(config, logger, policy, lock);
    } catch (error) {
      await lock.release();
      throw error;
    }
  }

  static async #openLocked(
    config: Config,
    logger: Logger,
    policy: RetirementPolicy,
    lock: DataDirLock,
  ): Promise<Steward> {
    const registry = await Registry.openSqlite(config.dataDir);
    const store = new LocalArtifactStore(path.join(config.dataDir, 'artifacts'));
    await store.init();
    const unpacked = new UnpackedArchives(path.join(config.dataDir, 'artifacts', 'unpacked'), {
      maxEntries: config.maxArchiveEntries,
      maxBytes: config.maxUnpackedBytes,
    });
    await unpacked.init();
    const steward = new Steward(config, logger, registry, store, unpacked, policy);
    steward.#lock = lock;
    await steward.catalog.refreshAll();
    const used = new Set(steward.catalog.allVersions().map((record) => record.sha256));
    await removeOrphanArtifacts(store, unpacked, used, logger);
    for (const record of steward.catalog.allVersions()) steward.manager.track(record);
    await steward.usage.load();
    await steward.expectations.load();
    await steward.thresholds.load();
    await steward.probes.load();
    await steward.staging.open();
    steward.usage.start(config.usageFlushMs);
    steward.probes.start();
    steward.audit.start();
    steward.manager.startIdleSweeper();
    return steward;
  }

  /**
   * Waits for requests in flight (up to the drain timeout), flushes usage, frees the models and
   * closes the registry. Usage of requests that outlast the drain timeout is not recorded.
   * Safe to call twice.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const deadline = Date.now() + this.config.drainTimeoutMs;
    await this.probes.stop(deadline);
    // Shadow work stops first, so no new shadow run takes a version during the drain.
    await this.staging.close(deadline);
    if (!(await this.manager.drain(deadline))) {
      this.logger.warn(
        { drainTimeoutMs: this.config.drainTimeoutMs },
        'requests still running at the drain timeout; their usage is not recorded',
      );
    }
    try {
      await this.usage.stop();
    } catch (error) {
      this.logger.error({ err: error }, 'final usage flush failed');
    }
    await this.manager.close();
    // After the manager, so the unloads at shutdown are in the log too.
    await this.audit.stop();
    await this.pool.close(Math.max(0, deadline - Date.now()));
    await this.registry.close();
    await this.#lock?.release();
  }
}

export function createLogger(config: Pick<Config, 'logLevel'>): Logger {
  return pino({
    level: config.logLevel,
    base: { service: 'steward' },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: ['req.headers.authorization'], censor: '[redacted]' },
  });
}
