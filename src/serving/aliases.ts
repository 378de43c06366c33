import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { StewardError } from '../errors.js';
import type { AuditRecorder } from '../registry/audit.js';
import { ALIAS_NAME_PATTERN, type AliasChange, nowIso } from '../registry/records.js';
import type { Registry } from '../registry/registry.js';
import type { Catalog } from './catalog.js';
import type { ModelManager } from './model-manager.js';

export interface AliasRequest {
  readonly model: string;
  readonly alias: string;
  readonly actor: string;
  readonly reason?: string;
}

/**
 * Moves aliases without dropping a request. Moving `production` (or any alias whose versions
 * are preloaded) loads the new version first, switches the alias once it is ready, then
 * unloads the old version after its requests in flight finish.
 *
 * Events: `changed` (change: AliasChange) after each alias move or removal.
 */
export class AliasService extends EventEmitter {
  readonly #registry: Registry;
  readonly #catalog: Catalog;
  readonly #manager: ModelManager;
  readonly #preloaded: ReadonlySet<string>;
  readonly #audit: AuditRecorder;
  readonly #logger: Logger;

  constructor(options: {
    registry: Registry;
    catalog: Catalog;
    manager: ModelManager;
    preloadAliases: readonly string[];
    audit: AuditRecorder;
    logger: Logger;
  }) {
    super();
    this.#registry = options.registry;
    this.#catalog = options.catalog;
    this.#manager = options.manager;
    this.#preloaded = new Set(options.preloadAliases);
    this.#audit = options.audit;
    this.#logger = options.logger;
  }

  /** Returns whether versions behind this alias load before a switch and stay loaded. */
  isHot(alias: string): boolean {
    return alias === 'production' || this.#preloaded.has(alias);
  }

  async set(request: AliasRequest & { version: number }): Promise<AliasChange | undefined> {
    checkAliasName(request.alias);
    const record = this.#catalog.getVersion(request.model, request.version);
    if (!record) {
      if (!this.#catalog.getModel(request.model)) {
        throw new StewardError('MODEL_NOT_FOUND', `model "${request.model}" is not registered`);
      }
      throw new StewardError(
        'VERSION_NOT_FOUND',
        `model "${request.model}" has no version ${request.version}`,
        { field: 'version' },
      );
    }
    if (record.state === 'archived') {
      throw new StewardError(
        'CONFLICT',
        `model "${request.model}" version ${request.version} is archived; restore it before pointing an alias at it`,
        { field: 'version' },
      );
    }
    const previous = this.#catalog.aliasTarget(request.model, request.alias);
    if (previous === request.version) return undefined;

    if (this.isHot(request.alias)) {
      // The old version keeps serving if this load fails: the alias has not moved yet.
      await this.#manager.load(record, {
        explicit: true,
        actor: request.actor,
        reason: `alias "${request.alias}" is moving to it`,
      });
      if (this.#preloaded.has(request.alias)) this.#manager.setPinned(record, true, 'preload');
    }
    const change = await this.#registry.aliases.set(
      request.model,
      request.alias,
      request.version,
      request.actor,
      request.reason ?? '',
      nowIso(),
    );
    await this.#catalog.refreshModel(request.model);
    if (change) this.#recordChange('alias_set', change);
    this.#logger.info(
      {
        model: request.model,
        alias: request.alias,
        from: previous ?? null,
        to: request.version,
        actor: request.actor,
      },
      'alias moved',
    );
    if (previous !== undefined) {
      this.#retireOld(request.model, previous, request.alias, request.actor);
    }
    if (change) this.emit('changed', change);
    return change;
  }

  async remove(request: AliasRequest): Promise<AliasChange | undefined> {
    const previous = this.#catalog.aliasTarget(request.model, request.alias);
    if (previous === undefined) {
      throw new StewardError(
        'VERSION_NOT_FOUND',
        `model "${request.model}" has no alias "${request.alias}"`,
        { field: 'alias' },
      );
    }
    const change = await this.#registry.aliases.set(
      request.model,
      request.alias,
      null,
      request.actor,
      request.reason ?? '',
      nowIso(),
    );
    await this.#catalog.refreshModel(request.model);
    if (change) this.#recordChange('alias_remove', change);
    this.#logger.info(
      { model: request.model, alias: request.alias, from: previous, actor: request.actor },
      'alias removed',
    );
    this.#retireOld(request.model, previous, request.alias, request.actor);
    if (change) this.emit('changed', change);
    return change;
  }

  #recordChange(action: 'alias_set' | 'alias_remove', change: AliasChange): void {
    this.#audit.record({
      action,
      model: change.model,
      // The version the alias now points at, or the one it left when removed.
      version: change.toVersion ?? change.fromVersion,
      actor: change.actor,
      reason: change.reason,
      details: {
        alias: change.alias,
        from_version: change.fromVersion,
        to_version: change.toVersion,
      },
    });
  }

  /** Unpins and unloads a version that a hot alias left, unless another hot alias still points at it. */
  #retireOld(model: string, version: number, alias: string, actor: string): void {
    if (!this.isHot(alias)) return;
    const record = this.#catalog.getVersion(model, version);
    if (!record) return;
    const stillHot = this.#catalog.aliasesOf(model, version).some((a) => this.isHot(a));
    if (stillHot) return;
    if (this.#preloaded.has(alias)) this.#manager.setPinned(record, false, 'preload');
    if (this.#manager.get(model, version)?.pinned) return;
    // The alias may come back while the old requests finish; then the version stays loaded.
    const keep = () => this.#catalog.aliasesOf(model, version).some((a) => this.isHot(a));
    this.#manager
      .unload(model, version, `alias "${alias}" moved away`, actor, { keep })
      .catch((error: unknown) => {
        this.#logger.error({ model, version, err: error }, 'unloading the previous version failed');
      });
  }
}

export function checkAliasName(alias: string): void {
  if (!ALIAS_NAME_PATTERN.test(alias)) {
    throw new StewardError(
      'INVALID_ARGUMENT',
      `invalid alias "${alias}": use 1 to 64 letters, digits, ".", "_" or "-", starting with a letter or digit, and not only digits`,
      { field: 'alias' },
    );
  }
}
