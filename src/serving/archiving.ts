import type { Logger } from 'pino';
import { StewardError } from '../errors.js';
import type { AuditRecorder } from '../registry/audit.js';
import { nowIso, type VersionRecord } from '../registry/records.js';
import type { Registry } from '../registry/registry.js';
import type { Catalog } from './catalog.js';
import type { ModelManager } from './model-manager.js';

export interface ArchiveResult {
  readonly model: string;
  readonly version: number;
  /** False when the version already was in the requested state. */
  readonly changed: boolean;
  /** True when archiving freed a loaded copy. */
  readonly unloaded: boolean;
}

/** The actor that archives or restores a version, and the reason. */
export interface ArchiveRequest {
  readonly actor: string;
  readonly reason: string;
}

/**
 * Archives and restores versions. An archived version keeps its registry row and artifact but
 * serves no request, cannot be loaded, pinned or put behind an alias, and leaves memory once
 * its requests in flight finish. A version behind an alias or pinned is never archived.
 */
export class ArchiveService {
  readonly #registry: Registry;
  readonly #catalog: Catalog;
  readonly #manager: ModelManager;
  readonly #audit: AuditRecorder;
  readonly #logger: Logger;

  constructor(options: {
    registry: Registry;
    catalog: Catalog;
    manager: ModelManager;
    audit: AuditRecorder;
    logger: Logger;
  }) {
    this.#registry = options.registry;
    this.#catalog = options.catalog;
    this.#manager = options.manager;
    this.#audit = options.audit;
    this.#logger = options.logger;
  }

  /** Rejects, with the fix, a version that an alias or a pin protects from retirement. */
  checkRetirable(record: VersionRecord): void {
    const { model, version } = record;
    const aliases = this.#catalog.aliasesOf(model, version);
    if (aliases.length > 0) throw aliasConflict(record, aliases);
    if (this.#manager.get(model, version)?.pinned) {
      throw new StewardError(
        'CONFLICT',
        `model "${model}" version ${version} is pinned; unpin it first ` +
          `(DELETE /api/v1/models/${model}/versions/${version}/pin, or steward unpin ${model} ${version})`,
        { field: 'version' },
      );
    }
  }

  async archive(record: VersionRecord, request: ArchiveRequest): Promise<ArchiveResult> {
    const { model, version } = record;
    if (record.state === 'archived') return { model, version, changed: false, unloaded: false };
    this.checkRetirable(record);

    const stateReason = request.reason || `archived by ${request.actor}`;
    // The manager turns new requests away first; the registry row follows.
    await this.#manager.markArchived(record, stateReason);
    let archived: boolean;
    try {
      archived = await this.#registry.models.archiveVersion(model, version, stateReason, nowIso());
    } catch (error) {
      this.#manager.restore(record, 'archiving failed');
      throw error;
    }
    await this.#catalog.refreshModel(model);
    const current = this.#catalog.getVersion(model, version);
    if (!archived) return this.#rejected(record, current);
    if (current) this.#manager.track(current);

    const unloaded = (this.#manager.get(model, version)?.instances.length ?? 0) > 0;
    await this.#manager.releaseArchived(model, version, {
      actor: request.actor,
      reason: 'version archived',
    });
    this.#audit.record({
      action: 'archive',
      model,
      version,
      actor: request.actor,
      reason: request.reason,
      details: { previous_state: record.state, unloaded },
    });
    this.#logger.info(
      { model, version, actor: request.actor, reason: request.reason, unloaded },
      'version archived',
    );
    return { model, version, changed: true, unloaded };
  }

  async restore(record: VersionRecord, request: ArchiveRequest): Promise<ArchiveResult> {
    const { model, version } = record;
    if (record.state !== 'archived') return { model, version, changed: false, unloaded: false };

    const restored = await this.#registry.models.restoreVersion(model, version, nowIso());
    await this.#catalog.refreshModel(model);
    const current = this.#catalog.getVersion(model, version);
    if (!current) throw versionNotFound(record);
    this.#manager.track(current);
    if (!restored) return { model, version, changed: false, unloaded: false };

    this.#manager.restore(current, `restored by ${request.actor}`);
    this.#audit.record({
      action: 'restore',
      model,
      version,
      actor: request.actor,
      reason: request.reason,
    });
    this.#logger.info(
      { model, version, actor: request.actor, reason: request.reason },
      'version restored',
    );
    return { model, version, changed: true, unloaded: false };
  }

  /**
   * Handles an archive that the registry did not apply: the version was archived or deleted
   * meanwhile, or an alias moved onto it after the first check.
   */
  #rejected(record: VersionRecord, current: VersionRecord | undefined): ArchiveResult {
    const { model, version } = record;
    if (current?.state === 'archived') return { model, version, changed: false, unloaded: false };
    this.#manager.restore(record, 'archiving was rejected');
    if (!current) throw versionNotFound(record);
    throw aliasConflict(record, this.#catalog.aliasesOf(model, version));
  }
}

function aliasConflict(record: VersionRecord, aliases: readonly string[]): StewardError {
  const { model, version } = record;
  const names = aliases.map((alias) => `"${alias}"`).join(', ');
  const first = aliases[0] ?? 'ALIAS';
  return new StewardError(
    'CONFLICT',
    `model "${model}" version ${version} is behind alias ${names}; point the alias at another ` +
      `version (steward alias set ${model} ${first} N) or remove it (steward alias rm ${model} ${first}) first`,
    { field: 'version' },
  );
}

function versionNotFound(record: VersionRecord): StewardError {
  return new StewardError(
    'VERSION_NOT_FOUND',
    `model "${record.model}" has no version ${record.version}`,
    { field: 'version' },
  );
}
