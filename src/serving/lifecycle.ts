import type { Logger } from 'pino';
import { StewardError } from '../errors.js';
import type { AuditRecorder } from '../registry/audit.js';
import type { VersionRecord } from '../registry/records.js';
import type { Registry } from '../registry/registry.js';
import type { ArtifactStore } from '../storage/artifact-store.js';
import type { UnpackedArchives } from '../storage/unpacked-archives.js';
import type { KeyedMutex } from '../util/async.js';
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

/** Keeps per-version and per-model data outside the version rows: usage, checks, results. */
export interface VersionDataOwner {
  forgetVersion(model: string, version: number): Promise<void>;
  forgetModel(model: string): void;
}

/**
 * Explicit lifecycle operations on versions: load, unload, pin and delete, each recorded in the
 * audit log. Deletion waits for the version's requests in flight, unloads it, and removes its
 * artifact only when no other version shares the bytes.
 */
export class LifecycleService {
  readonly #registry: Registry;
  readonly #catalog: Catalog;
  readonly #manager: ModelManager;
  readonly #store: ArtifactStore;
  readonly #unpacked: UnpackedArchives;
  readonly #versionData: VersionDataOwner;
  readonly #audit: AuditRecorder;
  readonly #artifactLocks: KeyedMutex;
  readonly #logger: Logger;

  constructor(options: {
    registry: Registry;
    catalog: Catalog;
    manager: ModelManager;
    store: ArtifactStore;
    unpacked: UnpackedArchives;
    versionData: VersionDataOwner;
    audit: AuditRecorder;
    /** The artifact locks of the publisher, held while the last use of an artifact is removed. */
    artifactLocks: KeyedMutex;
    logger: Logger;
  }) {
    this.#registry = options.registry;
    this.#catalog = options.catalog;
    this.#manager = options.manager;
    this.#store = options.store;
    this.#unpacked = options.unpacked;
    this.#versionData = options.versionData;
    this.#artifactLocks = options.artifactLocks;
    this.#audit = options.audit;
    this.#logger = options.logger;
  }

  /** Loads a version now, retrying at once even after a recent failure. */
  async load(record: VersionRecord, actor: string, reason = 'explicit load'): Promise<void> {
    await this.#manager.load(record, { explicit: true, actor, reason });
  }

  /**
   * Unloads a version after its requests in flight; returns false when it was not loaded.
   * Rejects a pinned version with CONFLICT, since a pin exists to keep it loaded.
   */
  async unload(record: VersionRecord, actor: string): Promise<boolean> {
    this.#checkUnpinned(record.model, record.version);
    const unloaded = await this.#manager.unload(
      record.model,
      record.version,
      'explicit unload',
      actor,
    );
    // A pin set while the requests in flight finished cancels the unload.
    this.#checkUnpinned(record.model, record.version);
    return unloaded;
  }

  /**
   * Unloads every loaded version of a model; returns the versions it unloaded. Rejects with
   * CONFLICT, before it unloads anything, when one of them is pinned.
   */
  async unloadModel(model: string, actor: string): Promise<number[]> {
    const versions = this.#catalog.versions(model).map((record) => record.version);
    for (const version of versions) this.#checkUnpinned(model, version);
    const unloaded: number[] = [];
    for (const version of versions) {
      const reason = 'explicit unload of the model';
      if (await this.#manager.unload(model, version, reason, actor)) unloaded.push(version);
    }
    return unloaded;
  }

  #checkUnpinned(model: string, version: number): void {
    const pins = this.#manager.get(model, version)?.pins;
    if (!pins || pins.size === 0) return;
    const fixes: string[] = [];
    if (pins.has('user')) fixes.push(`unpin it first (steward unpin ${model} ${version})`);
    if (pins.has('preload')) {
      fixes.push('move its preloaded alias to another version or start without that --preload');
    }
    throw new StewardError(
      'CONFLICT',
      `model "${model}" version ${version} is pinned (${[...pins].join(', ')}), so it stays ` +
        `loaded; to unload it, ${fixes.join(' and ')}`,
      { field: 'version' },
    );
  }

  /** Sets or clears the user pin of a version; records the change when there was one. */
  setPinned(record: VersionRecord, pinned: boolean, actor: string): void {
    const before = this.#manager.get(record.model, record.version)?.pins.has('user') ?? false;
    this.#manager.setPinned(record, pinned, 'user');
    if (before === pinned) return;
    this.#audit.record({
      action: pinned ? 'pin' : 'unpin',
      model: record.model,
      version: record.version,
      actor,
      reason: pinned ? 'explicit pin' : 'explicit unpin',
    });
    this.#logger.info(
      { model: record.model, version: record.version, pinned, actor },
      'pin changed',
    );
  }

  async deleteVersion(
    record: VersionRecord,
    options: { force: boolean; actor: string; reason?: string },
  ): Promise<DeleteResult> {
    const reason = options.reason ?? 'explicit delete';
    const aliases = this.#catalog.aliasesOf(record.model, record.version);
    if (aliases.length > 0 && !options.force) {
      throw new StewardError(
        'CONFLICT',
        `model "${record.model}" version ${record.version} is behind alias ${aliases.map((a) => `"${a}"`).join(', ')}; ` +
          'move the alias first, or delete with force=true (steward delete --force) to remove the alias too',
        { field: 'version' },
      );
    }
    for (const alias of aliases) {
      const change = await this.#registry.aliases.set(
        record.model,
        alias,
        null,
        options.actor,
        `version ${record.version} deleted`,
        new Date().toISOString(),
      );
      if (change) {
        this.#audit.record({
          action: 'alias_remove',
          model: record.model,
          version: record.version,
          actor: options.actor,
          reason: change.reason,
          details: { alias, from_version: record.version, to_version: null },
        });
      }
    }
    // Gone from the catalog first, so no new request can reach the version while it drains.
    await this.#registry.models.deleteVersion(record.model, record.version);
    await this.#catalog.refreshModel(record.model);
    await this.#manager.forget(record.model, record.version, 'version deleted', options.actor);
    await this.#versionData.forgetVersion(record.model, record.version);

    // Under the lock, an upload of the same bytes either commits after the removal or has its
    // row counted here.
    const artifactRemoved = await this.#artifactLocks.run(record.sha256, async () => {
      if ((await this.#registry.models.countBySha(record.sha256)) > 0) return false;
      await this.#store.remove(record.sha256);
      await this.#unpacked.remove(record.sha256);
      return true;
    });
    this.#audit.record({
      action: 'delete',
      model: record.model,
      version: record.version,
      actor: options.actor,
      reason,
      details: {
        sha256: record.sha256,
        previous_state: record.state,
        removed_aliases: aliases,
        artifact_removed: artifactRemoved,
      },
    });
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
    options: { force: boolean; actor: string; reason?: string },
  ): Promise<DeleteResult[]> {
    const versions = this.#catalog.versions(model);
    const aliases = this.#catalog.aliases(model);
    if (aliases.length > 0 && !options.force) {
      throw new StewardError(
        'CONFLICT',
        `model "${model}" has alias ${aliases.map((a) => `"${a.alias}"`).join(', ')}; remove the aliases first, or delete with force=true (steward delete --force)`,
        { field: 'name' },
      );
    }
    const results: DeleteResult[] = [];
    for (const record of versions) results.push(await this.deleteVersion(record, options));
    await this.#registry.models.deleteModel(model);
    await this.#catalog.refreshModel(model);
    this.#versionData.forgetModel(model);
    this.#audit.record({
      action: 'delete_model',
      model,
      version: null,
      actor: options.actor,
      reason: options.reason ?? 'explicit delete',
      details: { deleted_versions: results.map((result) => result.version) },
    });
    this.#logger.info({ model, actor: options.actor }, 'model deleted');
    return results;
  }
}
