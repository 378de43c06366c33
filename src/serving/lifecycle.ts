import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { StewardError } from '../errors.js';
import type { VersionRecord } from '../registry/records.js';
import type { Registry } from '../registry/registry.js';
import type { ArtifactStore } from '../storage/artifact-store.js';
import type { UnpackedArchives } from '../storage/unpacked-archives.js';
import type { UsageTracker } from '../telemetry/usage.js';
import type { Catalog } from './catalog.js';
import type { ModelManager } from './model-manager.js';

export interface DeleteResult {
  readonly model: string;
  readonly version: number;
  /** Aliases that pointed at the version and were removed with it (only with force). */
  readonly removedAliases: readonly string[];
  /** False when another version still uses the same bytes. */
  readonly artifactRemoved: boolean;
}

/**
 * Explicit lifecycle operations on versions: load, unload, pin and delete. Deletion waits for
 * the version's requests in flight, unloads it, and removes its artifact only when no other
 * version shares the bytes.
 *
 * Events: `model-deleted` (model: string) once a model and all its versions are gone.
 */
export class LifecycleService extends EventEmitter {
  readonly #registry: Registry;
  readonly #catalog: Catalog;
  readonly #manager: ModelManager;
  readonly #store: ArtifactStore;
  readonly #unpacked: UnpackedArchives;
  /** Every usage tracker that counts versions: live usage and shadow usage. */
  readonly #usage: readonly UsageTracker[];
  readonly #logger: Logger;

  constructor(options: {
    registry: Registry;
    catalog: Catalog;
    manager: ModelManager;
    store: ArtifactStore;
    unpacked: UnpackedArchives;
    usage: readonly UsageTracker[];
    logger: Logger;
  }) {
    super();
    this.#registry = options.registry;
    this.#catalog = options.catalog;
    this.#manager = options.manager;
    this.#store = options.store;
    this.#unpacked = options.unpacked;
    this.#usage = options.usage;
    this.#logger = options.logger;
  }

  /** Loads a version now, retrying at once even after a recent failure. */
  async load(record: VersionRecord): Promise<void> {
    await this.#manager.load(record, { explicit: true });
  }

  /** Unloads every loaded version of a model; returns the versions it unloaded. */
  async unloadModel(model: string, reason: string): Promise<number[]> {
    const unloaded: number[] = [];
    for (const record of this.#catalog.versions(model)) {
      if (await this.#manager.unload(model, record.version, reason)) unloaded.push(record.version);
    }
    return unloaded;
  }

  setPinned(record: VersionRecord, pinned: boolean, actor: string): void {
    this.#manager.setPinned(record, pinned, 'user');
    this.#logger.info(
      { model: record.model, version: record.version, pinned, actor },
      'pin changed',
    );
  }

  async deleteVersion(
    record: VersionRecord,
    options: { force: boolean; actor: string },
  ): Promise<DeleteResult> {
    const aliases = this.#catalog.aliasesOf(record.model, record.version);
    if (aliases.length > 0 && !options.force) {
      throw new StewardError(
        'CONFLICT',
        `model "${record.model}" version ${record.version} is behind alias ${aliases.map((a) => `"${a}"`).join(', ')}; ` +
          'move the alias first, or delete with force=true to remove the alias too',
        { field: 'version' },
      );
    }
    for (const alias of aliases) {
      await this.#registry.aliases.set(
        record.model,
        alias,
        null,
        options.actor,
        `version ${record.version} deleted`,
        new Date().toISOString(),
      );
    }
    // Gone from the catalog first, so no new request can reach the version while it drains.
    await this.#registry.models.deleteVersion(record.model, record.version);
    await this.#catalog.refreshModel(record.model);
    await this.#manager.forget(record.model, record.version, 'version deleted');
    for (const usage of this.#usage) await usage.forget(record.model, record.version);

    const artifactRemoved = (await this.#registry.models.countBySha(record.sha256)) === 0;
    if (artifactRemoved) {
      await this.#store.remove(record.sha256);
      await this.#unpacked.remove(record.sha256);
    }
    this.#logger.info(
      {
        model: record.model,
        version: record.version,
        actor: options.actor,
        removedAliases: aliases,
        artifactRemoved,
      },
      'version deleted',
    );
    return {
      model: record.model,
      version: record.version,
      removedAliases: aliases,
      artifactRemoved,
    };
  }

  /** Deletes every version of a model, then the model; a new model of that name continues its numbering. */
  async deleteModel(
    model: string,
    options: { force: boolean; actor: string },
  ): Promise<DeleteResult[]> {
    const versions = this.#catalog.versions(model);
    const aliases = this.#catalog.aliases(model);
    if (aliases.length > 0 && !options.force) {
      throw new StewardError(
        'CONFLICT',
        `model "${model}" has alias ${aliases.map((a) => `"${a.alias}"`).join(', ')}; remove the aliases first, or delete with force=true`,
        { field: 'name' },
      );
    }
    const results: DeleteResult[] = [];
    for (const record of versions) results.push(await this.deleteVersion(record, options));
    await this.#registry.models.deleteModel(model);
    await this.#catalog.refreshModel(model);
    this.#logger.info({ model, actor: options.actor }, 'model deleted');
    this.emit('model-deleted', model);
    return results;
  }
}
