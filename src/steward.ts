import path from 'node:path';
import pino, { type Logger } from 'pino';
import type { Config } from './config/config.js';
import { Registry } from './registry/registry.js';
import { AliasService } from './serving/aliases.js';
import { Catalog } from './serving/catalog.js';
import { InferenceService } from './serving/inference.js';
import { ModelFiles } from './serving/model-files.js';
import { ModelManager } from './serving/model-manager.js';
import { Publisher } from './serving/publisher.js';
import { WorkerPool } from './serving/worker-pool.js';
import { LocalArtifactStore } from './storage/local-store.js';
import { UnpackedArchives } from './storage/unpacked-archives.js';
import { UsageTracker } from './telemetry/usage.js';

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
  readonly aliases: AliasService;
  readonly publisher: Publisher;
  readonly inference: InferenceService;
  readonly startedAt = new Date();
  #closed = false;

  private constructor(
    config: Config,
    logger: Logger,
    registry: Registry,
    store: LocalArtifactStore,
    unpacked: UnpackedArchives,
  ) {
    this.config = config;
    this.logger = logger;
    this.registry = registry;
    this.store = store;
    this.unpacked = unpacked;
    this.pool = new WorkerPool(config.workers, logger.child({ component: 'workers' }));
    this.catalog = new Catalog(registry);
    this.manager = new ModelManager(
      this.pool,
      new ModelFiles(store, unpacked),
      config,
      logger.child({ component: 'models' }),
    );
    this.usage = new UsageTracker(registry.usage, logger.child({ component: 'usage' }));
    this.aliases = new AliasService(
      registry,
      this.catalog,
      this.manager,
      config.preloadAliases,
      logger.child({ component: 'aliases' }),
    );
    this.publisher = new Publisher({
      registry,
      catalog: this.catalog,
      store,
      unpacked,
      pool: this.pool,
      aliases: this.aliases,
      maxUploadBytes: config.maxUploadBytes,
      logger: logger.child({ component: 'registry' }),
    });
    this.inference = new InferenceService(this.catalog, this.manager, this.usage, logger);
  }

  static async open(config: Config, logger: Logger = createLogger(config)): Promise<Steward> {
    const registry = await Registry.openSqlite(config.dataDir);
    const store = new LocalArtifactStore(path.join(config.dataDir, 'artifacts'));
    await store.init();
    const unpacked = new UnpackedArchives(path.join(config.dataDir, 'artifacts', 'unpacked'), {
      maxEntries: config.maxArchiveEntries,
      maxBytes: config.maxUnpackedBytes,
    });
    await unpacked.init();
    const steward = new Steward(config, logger, registry, store, unpacked);
    await steward.catalog.refreshAll();
    for (const record of steward.catalog.allVersions()) steward.manager.track(record);
    await steward.usage.load();
    steward.usage.start(config.usageFlushMs);
    steward.manager.startIdleSweeper();
    return steward;
  }

  /** Drains loaded models, flushes usage and closes the registry. Safe to call twice. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      await this.usage.stop();
    } catch (error) {
      this.logger.error({ err: error }, 'final usage flush failed');
    }
    await this.manager.close();
    await this.pool.close();
    await this.registry.close();
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
