import type { Config } from '../../config/config.js';
import type { StagingOverrides, StagingRepository } from '../../registry/staging.js';

/** The staging settings that apply to one model: its overrides over the configured defaults. */
export interface EffectiveStagingSettings {
  readonly shadowPercent: number;
  readonly canaryPercent: number;
  readonly canaryHeader: string | undefined;
  readonly tolerance: number;
}

/** A change to a model's overrides: a value sets the override, null returns to the default. */
export type StagingPatch = {
  readonly [K in keyof StagingOverrides]?: NonNullable<StagingOverrides[K]> | null;
};

export type StagingDefaults = Pick<
  Config,
  'shadowPercent' | 'canaryPercent' | 'canaryHeader' | 'compareTolerance'
>;

/**
 * Per-model staging settings. The overrides live in memory for the request path and are
 * written to the registry on every change.
 */
export class StagingSettings {
  readonly #repository: StagingRepository;
  readonly #defaults: StagingDefaults;
  #overrides = new Map<string, StagingOverrides>();

  constructor(repository: StagingRepository, defaults: StagingDefaults) {
    this.#repository = repository;
    this.#defaults = defaults;
  }

  async load(): Promise<void> {
    this.#overrides = await this.#repository.loadOverrides();
  }

  overrides(model: string): StagingOverrides {
    return this.#overrides.get(model) ?? {};
  }

  effective(model: string): EffectiveStagingSettings {
    const overrides = this.overrides(model);
    return {
      shadowPercent: overrides.shadowPercent ?? this.#defaults.shadowPercent,
      canaryPercent: overrides.canaryPercent ?? this.#defaults.canaryPercent,
      canaryHeader: overrides.canaryHeader ?? this.#defaults.canaryHeader,
      tolerance: overrides.tolerance ?? this.#defaults.compareTolerance,
    };
  }

  /** Applies a patch, stores the result and returns the overrides now in force. */
  async update(model: string, patch: StagingPatch): Promise<StagingOverrides> {
    const merged: Record<string, unknown> = { ...this.overrides(model) };
    for (const [key, value] of Object.entries(patch)) {
      if (value === undefined) continue;
      if (value === null) delete merged[key];
      else merged[key] = value;
    }
    const overrides = merged as StagingOverrides;
    await this.#repository.saveOverrides(model, overrides, new Date().toISOString());
    this.#overrides.set(model, overrides);
    return overrides;
  }

  /** Drops the overrides of a deleted model; its registry row went with the model. */
  forget(model: string): void {
    this.#overrides.delete(model);
  }
}
