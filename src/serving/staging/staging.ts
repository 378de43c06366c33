import type { Logger } from 'pino';
import type { Config } from '../../config/config.js';
import { StewardError } from '../../errors.js';
import type { AuditRecorder } from '../../registry/audit.js';
import type { AliasChange } from '../../registry/records.js';
import type { Registry } from '../../registry/registry.js';
import type { StagingOverrides } from '../../registry/staging.js';
import type { ExpectationStore } from '../../telemetry/expectation-store.js';
import type { UsageTracker } from '../../telemetry/usage.js';
import type { AliasService } from '../aliases.js';
import type { Catalog } from '../catalog.js';
import type { ModelManager } from '../model-manager.js';
import { ComparisonBook } from './comparison-book.js';
import { Promotion } from './promotion.js';
import { StagingRouter } from './routing.js';
import { type StagingPatch, StagingSettings } from './settings.js';
import { ShadowRunner } from './shadow.js';

/**
 * Staging of candidate versions: shadow runs of production requests on the version behind the
 * `staging` alias, their comparison with production, canary routing of live traffic, and
 * promotion and rollback. Built once per Steward instance.
 */
export class Staging {
  readonly settings: StagingSettings;
  readonly comparisons: ComparisonBook;
  readonly router: StagingRouter;
  readonly shadow: ShadowRunner;
  readonly promotion: Promotion;
  readonly #catalog: Catalog;
  readonly #usage: UsageTracker;
  readonly #flushMs: number;
  readonly #audit: AuditRecorder;
  readonly #logger: Logger;

  constructor(options: {
    registry: Registry;
    catalog: Catalog;
    manager: ModelManager;
    aliases: AliasService;
    /** Usage of shadow runs, kept apart from the live usage of the same versions. */
    shadowUsage: UsageTracker;
    /** Output expectations, which shadow runs check the staging version's outputs against. */
    expectations: ExpectationStore;
    audit: AuditRecorder;
    config: Config;
    logger: Logger;
  }) {
    const { registry, catalog, config, logger } = options;
    this.#catalog = catalog;
    this.#usage = options.shadowUsage;
    this.#flushMs = config.usageFlushMs;
    this.#audit = options.audit;
    this.#logger = logger;
    this.settings = new StagingSettings(registry.staging, config);
    this.comparisons = new ComparisonBook({
      catalog,
      settings: this.settings,
      repository: registry.staging,
      maxSamples: config.compareSamples,
      logger,
    });
    this.router = new StagingRouter(catalog, this.settings, this.comparisons);
    this.shadow = new ShadowRunner({
      manager: options.manager,
      comparisons: this.comparisons,
      router: this.router,
      usage: this.#usage,
      expectations: options.expectations,
      settings: config,
      logger,
    });
    this.promotion = new Promotion({
      catalog,
      aliases: options.aliases,
      comparisons: this.comparisons,
      audit: options.audit,
      logger,
    });
    options.aliases.on('changed', (change: AliasChange) => {
      if (change.alias === 'production' || change.alias === 'staging') {
        this.comparisons.end(change.model, `alias "${change.alias}" moved`);
      }
    });
  }

  /** Reads the stored settings, comparisons and shadow usage, and starts their flush timers. */
  async open(): Promise<void> {
    await this.settings.load();
    await this.comparisons.load();
    await this.#usage.load();
    this.#usage.start(this.#flushMs);
    this.comparisons.start(this.#flushMs);
  }

  /** Changes a model's overrides; a new tolerance starts a new comparison. */
  async updateSettings(
    model: string,
    patch: StagingPatch,
    actor: string,
  ): Promise<StagingOverrides> {
    if (!this.#catalog.getModel(model)) {
      throw new StewardError('MODEL_NOT_FOUND', `model "${model}" is not registered`, {
        field: 'name',
      });
    }
    const overrides = await this.settings.update(model, patch);
    // The canary share routes live traffic, so its changes belong with the alias moves.
    this.#audit.record({
      action: 'staging_settings',
      model,
      version: null,
      actor,
      reason: 'staging settings changed',
      details: {
        shadow_percent: overrides.shadowPercent ?? null,
        canary_percent: overrides.canaryPercent ?? null,
        canary_header: overrides.canaryHeader ?? null,
        tolerance: overrides.tolerance ?? null,
      },
    });
    this.#logger.info({ model, overrides, actor }, 'staging settings changed');
    return overrides;
  }

  /** Drops the in-memory state of a deleted model; its registry rows went with it. */
  forgetModel(model: string): void {
    this.settings.forget(model);
    this.comparisons.end(model, 'model deleted');
  }

  /**
   * Stops shadow work (waiting runs are dropped, running ones get until `deadline`), then
   * writes the shadow usage and comparison totals.
   */
  async close(deadline: number): Promise<void> {
    await this.shadow.close(deadline);
    for (const [what, flush] of [
      ['shadow usage', () => this.#usage.stop()],
      ['staging comparisons', () => this.comparisons.stop()],
    ] as const) {
      try {
        await flush();
      } catch (error) {
        this.#logger.error({ err: error }, `final flush of ${what} failed`);
      }
    }
  }
}
