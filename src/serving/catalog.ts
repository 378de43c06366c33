import { StewardError } from '../errors.js';
import type { AliasRecord, ModelRecord, VersionRecord } from '../registry/records.js';
import type { Registry } from '../registry/registry.js';

interface ModelEntry {
  model: ModelRecord;
  readonly versions: Map<number, VersionRecord>;
  readonly aliases: Map<string, number>;
}

/**
 * An in-memory copy of the registry's models, versions and aliases, so resolving a request
 * never waits on the database. Every write through this process refreshes the affected model.
 */
export class Catalog {
  readonly #registry: Registry;
  #entries = new Map<string, ModelEntry>();

  constructor(registry: Registry) {
    this.#registry = registry;
  }

  async refreshAll(): Promise<void> {
    const [models, versions, aliases] = await Promise.all([
      this.#registry.models.listModels(),
      this.#registry.models.listVersions(),
      this.#registry.aliases.list(),
    ]);
    const entries = new Map<string, ModelEntry>();
    for (const model of models) {
      entries.set(model.name, { model, versions: new Map(), aliases: new Map() });
    }
    for (const version of versions)
      entries.get(version.model)?.versions.set(version.version, version);
    for (const alias of aliases) entries.get(alias.model)?.aliases.set(alias.alias, alias.version);
    this.#entries = entries;
  }

  async refreshModel(name: string): Promise<void> {
    const [model, versions, aliases] = await Promise.all([
      this.#registry.models.getModel(name),
      this.#registry.models.listVersions(name),
      this.#registry.aliases.list(name),
    ]);
    if (!model) {
      this.#entries.delete(name);
      return;
    }
    this.#entries.set(name, {
      model,
      versions: new Map(versions.map((v) => [v.version, v])),
      aliases: new Map(aliases.map((a) => [a.alias, a.version])),
    });
  }

  modelNames(): string[] {
    return [...this.#entries.keys()].sort();
  }

  getModel(name: string): ModelRecord | undefined {
    return this.#entries.get(name)?.model;
  }

  versions(name: string): VersionRecord[] {
    const entry = this.#entries.get(name);
    if (!entry) return [];
    return [...entry.versions.values()].sort((a, b) => a.version - b.version);
  }

  allVersions(): VersionRecord[] {
    return this.modelNames().flatMap((name) => this.versions(name));
  }

  getVersion(name: string, version: number): VersionRecord | undefined {
    return this.#entries.get(name)?.versions.get(version);
  }

  aliases(name: string): AliasRecord[] {
    const entry = this.#entries.get(name);
    if (!entry) return [];
    return [...entry.aliases.entries()]
      .map(([alias, version]) => ({ model: name, alias, version, updatedAt: '' }))
      .sort((a, b) => a.alias.localeCompare(b.alias));
  }

  /** Aliases that point at one version. */
  aliasesOf(name: string, version: number): string[] {
    const entry = this.#entries.get(name);
    if (!entry) return [];
    return [...entry.aliases.entries()]
      .filter(([, target]) => target === version)
      .map(([alias]) => alias)
      .sort();
  }

  aliasTarget(name: string, alias: string): number | undefined {
    return this.#entries.get(name)?.aliases.get(alias);
  }

  /**
   * Resolves a model name and an optional version number or alias to a version. Without a
   * reference, the `production` alias wins, then the newest version in the `ready` state, then
   * the newest failed one.
   */
  resolve(name: string, reference?: string): VersionRecord {
    const entry = this.#entries.get(name);
    if (!entry) {
      throw new StewardError('MODEL_NOT_FOUND', `model "${name}" is not registered`, {
        field: 'model',
      });
    }
    if (reference === '') {
      throw new StewardError(
        'VERSION_NOT_FOUND',
        `the version of model "${name}" is empty; give a version number or alias, or leave out the version segment`,
        { field: 'version' },
      );
    }
    if (reference === undefined) {
      const production = entry.aliases.get('production');
      if (production !== undefined) return this.#versionOf(entry, name, production, 'production');
      const candidates = [...entry.versions.values()]
        .filter((v) => v.state !== 'archived')
        .sort((a, b) => b.version - a.version);
      // A failed newest version still resolves when nothing else can, so the caller gets
      // the load failure (503 with its reason) instead of a bare "not found".
      const newest = candidates.find((v) => v.state === 'ready') ?? candidates[0];
      if (!newest) {
        throw new StewardError(
          'VERSION_NOT_FOUND',
          `model "${name}" has no version that can serve; upload one or name a version explicitly`,
          { field: 'version' },
        );
      }
      return newest;
    }
    if (/^\d+$/.test(reference)) return this.#versionOf(entry, name, Number(reference), undefined);
    const target = entry.aliases.get(reference);
    if (target === undefined) {
      throw new StewardError(
        'VERSION_NOT_FOUND',
        `model "${name}" has no version or alias "${reference}"`,
        { field: 'version' },
      );
    }
    return this.#versionOf(entry, name, target, reference);
  }

  #versionOf(entry: ModelEntry, name: string, version: number, alias?: string): VersionRecord {
    const record = entry.versions.get(version);
    if (!record) {
      const via = alias ? ` (alias "${alias}")` : '';
      throw new StewardError(
        'VERSION_NOT_FOUND',
        `model "${name}" has no version ${version}${via}`,
        {
          field: 'version',
        },
      );
    }
    return record;
  }
}
