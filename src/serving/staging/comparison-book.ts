import type { Logger } from 'pino';
import type { StagingRepository, StoredComparison } from '../../registry/staging.js';
import type { Catalog } from '../catalog.js';
import { Comparison } from './comparison.js';
import type { StagingSettings } from './settings.js';

/**
 * The current comparison of each model that has both a `production` and a `staging` alias on
 * different versions. A comparison ends when either alias moves or the tolerance changes; the
 * next request or read starts a fresh one for the new pair. Totals are written to the registry
 * on an interval and at shutdown, never on the request path.
 */
export class ComparisonBook {
  readonly #catalog: Catalog;
  readonly #settings: StagingSettings;
  readonly #repository: StagingRepository;
  readonly #maxSamples: number;
  readonly #logger: Logger;
  readonly #current = new Map<string, Comparison>();
  /** Stored totals read at start, restored when their pair is first looked up. */
  #stored = new Map<string, StoredComparison>();
  /** Models whose stored row must go: their comparison ended without a successor yet. */
  readonly #ended = new Set<string>();
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> | undefined;

  constructor(options: {
    catalog: Catalog;
    settings: StagingSettings;
    repository: StagingRepository;
    maxSamples: number;
    logger: Logger;
  }) {
    this.#catalog = options.catalog;
    this.#settings = options.settings;
    this.#repository = options.repository;
    this.#maxSamples = options.maxSamples;
    this.#logger = options.logger;
  }

  async load(): Promise<void> {
    const rows = await this.#repository.loadComparisons();
    this.#stored = new Map(rows.map((row) => [row.model, row]));
  }

  /**
   * Returns the comparison of the model's current production and staging versions, starting
   * one when needed. Undefined when the model lacks either alias or both name one version.
   */
  current(model: string): Comparison | undefined {
    const production = this.#catalog.aliasTarget(model, 'production');
    const staging = this.#catalog.aliasTarget(model, 'staging');
    const existing = this.#current.get(model);
    if (production === undefined || staging === undefined || production === staging) {
      if (existing) this.end(model, 'the model no longer has two versions to compare');
      return undefined;
    }
    const tolerance = this.#settings.effective(model).tolerance;
    if (
      existing &&
      existing.productionVersion === production &&
      existing.stagingVersion === staging &&
      existing.tolerance === tolerance
    ) {
      return existing;
    }
    if (existing) this.end(model, 'the versions or the tolerance changed');
    const comparison =
      this.#restore(model, production, staging, tolerance) ??
      new Comparison({
        model,
        productionVersion: production,
        stagingVersion: staging,
        tolerance,
        startedAt: new Date().toISOString(),
        maxSamples: this.#maxSamples,
      });
    this.#current.set(model, comparison);
    return comparison;
  }

  /** Returns whether shadow results for this comparison still count, as its model's current one. */
  isCurrent(comparison: Comparison): boolean {
    return this.current(comparison.model) === comparison;
  }

  /** Ends the model's comparison; the next lookup starts a new one. */
  end(model: string, reason: string): void {
    const existing = this.#current.get(model);
    this.#stored.delete(model);
    if (!existing) return;
    this.#current.delete(model);
    this.#ended.add(model);
    this.#logger.info(
      {
        model,
        productionVersion: existing.productionVersion,
        stagingVersion: existing.stagingVersion,
        compared: existing.compared,
        reason,
      },
      'staging comparison ended',
    );
  }

  start(intervalMs: number): void {
    this.#timer = setInterval(() => {
      this.flush().catch(() => undefined);
    }, intervalMs);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.flush();
  }

  /** Writes changed totals and deletes the rows of ended comparisons. */
  flush(): Promise<void> {
    this.#flushing ??= this.#flush().finally(() => {
      this.#flushing = undefined;
    });
    return this.#flushing;
  }

  async #flush(): Promise<void> {
    const changes = new Map<string, StoredComparison | null>();
    for (const model of this.#ended) changes.set(model, null);
    const written: Comparison[] = [];
    for (const comparison of this.#current.values()) {
      if (!comparison.changed) continue;
      comparison.changed = false;
      written.push(comparison);
      changes.set(comparison.model, {
        model: comparison.model,
        productionVersion: comparison.productionVersion,
        stagingVersion: comparison.stagingVersion,
        startedAt: comparison.startedAt,
        totals: comparison.toJson(),
      });
    }
    if (changes.size === 0) return;
    const ended = [...this.#ended];
    this.#ended.clear();
    try {
      await this.#repository.saveComparisons(changes, new Date().toISOString());
    } catch (error) {
      for (const comparison of written) comparison.changed = true;
      for (const model of ended) this.#ended.add(model);
      this.#logger.error(
        { err: error, models: changes.size },
        'writing staging comparisons failed; will retry',
      );
      throw error;
    }
  }

  /** Restores the stored totals of a model when they describe the same pair and tolerance. */
  #restore(
    model: string,
    production: number,
    staging: number,
    tolerance: number,
  ): Comparison | undefined {
    const stored = this.#stored.get(model);
    if (!stored) return undefined;
    this.#stored.delete(model);
    if (stored.productionVersion !== production || stored.stagingVersion !== staging) {
      this.#ended.add(model);
      return undefined;
    }
    const comparison = new Comparison({
      model,
      productionVersion: production,
      stagingVersion: staging,
      tolerance,
      startedAt: stored.startedAt,
      maxSamples: this.#maxSamples,
    });
    try {
      comparison.restore(stored.totals);
    } catch (error) {
      this.#logger.warn({ model, err: error }, 'discarding stored staging comparison');
      this.#ended.add(model);
      return undefined;
    }
    return comparison;
  }
}

/** Says why a model has no comparison running, and what would start one. */
export function inactiveSummary(
  model: string,
  production: number | null,
  staging: number | null,
): string {
  if (staging === null) {
    return `model "${model}" has no staging alias; point staging at a candidate version to compare it with production`;
  }
  if (production === null) {
    return `model "${model}" has no production alias to compare staging version ${staging} with`;
  }
  return `staging and production both point at version ${staging}; there is nothing to compare`;
}
