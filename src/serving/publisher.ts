import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { ArchiveError } from '../archives/archive-error.js';
import type { ArchiveKind } from '../archives/entries.js';
import { StewardError } from '../errors.js';
import type { AuditRecorder } from '../registry/audit.js';
import { MODEL_NAME_PATTERN, nowIso, type VersionRecord } from '../registry/records.js';
import type { Registry } from '../registry/registry.js';
import { detectFolderFormat, detectFormat, type Format } from '../runtimes/formats.js';
import { InvalidModelError } from '../runtimes/runtime.js';
import type { ArtifactStore, StagedArtifact } from '../storage/artifact-store.js';
import type { UnpackedArchives } from '../storage/unpacked-archives.js';
import type { Signature } from '../tensors/types.js';
import { type KeyedMutex, TimeoutError, withTimeout } from '../util/async.js';
import { readHead } from '../util/files.js';
import type { AliasService } from './aliases.js';
import { checkAliasName } from './aliases.js';
import type { Catalog } from './catalog.js';
import type { LifecycleService } from './lifecycle.js';
import type { ModelManager } from './model-manager.js';
import type { WorkerPool } from './worker-pool.js';

export interface PublishRequest {
  readonly model: string;
  readonly source: Readable;
  readonly sourceName: string;
  readonly description: string;
  readonly alias: string | undefined;
  readonly actor: string;
  /** Output expectations and golden probes to attach to the version, as parsed JSON. */
  readonly checks?: UploadChecks;
}

export interface UploadChecks {
  readonly expectations?: unknown;
  readonly probes?: unknown;
}

/** Validates the checks sent with an upload and stores them with the version. */
export interface UploadCheckHandler {
  /**
   * Checks the documents against the signature, throwing a 400 that names the field when one
   * does not fit, and returns the step that stores them for the registered version.
   */
  prepare(signature: Signature, checks: UploadChecks): (record: VersionRecord) => Promise<void>;
}

/** An upload that a runtime has loaded: its format, signature and, for an archive, its folder. */
interface ValidatedUpload {
  readonly format: Format;
  readonly signature: Signature;
  readonly folder: string | undefined;
}

export interface PublishResult {
  readonly record: VersionRecord;
  /** False when the model already had a version with the same bytes. */
  readonly created: boolean;
}

/**
 * Turns an uploaded file into a registered version. The file is staged and hashed, and its
 * format is detected from its bytes. An archive is unpacked and its format detected from the
 * files inside. A runtime must load the model before the file is committed, and only then does
 * a version row appear. Any failure leaves nothing stored or registered.
 */
export class Publisher {
  readonly #registry: Registry;
  readonly #catalog: Catalog;
  readonly #store: ArtifactStore;
  readonly #unpacked: UnpackedArchives;
  readonly #pool: WorkerPool;
  readonly #aliases: AliasService;
  readonly #lifecycle: LifecycleService;
  readonly #manager: ModelManager;
  readonly #checks: UploadCheckHandler;
  readonly #maxUploadBytes: number;
  readonly #inspectTimeoutMs: number;
  readonly #audit: AuditRecorder;
  readonly #artifactLocks: KeyedMutex;
  readonly #logger: Logger;

  constructor(options: {
    registry: Registry;
    catalog: Catalog;
    store: ArtifactStore;
    unpacked: UnpackedArchives;
    pool: WorkerPool;
    aliases: AliasService;
    lifecycle: LifecycleService;
    manager: ModelManager;
    checks: UploadCheckHandler;
    maxUploadBytes: number;
    inspectTimeoutMs: number;
    audit: AuditRecorder;
    /** Held by sha256 from committing an artifact until its row exists, and by deletes. */
    artifactLocks: KeyedMutex;
    logger: Logger;
  }) {
    this.#registry = options.registry;
    this.#catalog = options.catalog;
    this.#store = options.store;
    this.#unpacked = options.unpacked;
    this.#pool = options.pool;
    this.#aliases = options.aliases;
    this.#lifecycle = options.lifecycle;
    this.#manager = options.manager;
    this.#checks = options.checks;
    this.#maxUploadBytes = options.maxUploadBytes;
    this.#inspectTimeoutMs = options.inspectTimeoutMs;
    this.#audit = options.audit;
    this.#artifactLocks = options.artifactLocks;
    this.#logger = options.logger;
  }

  get maxUploadBytes(): number {
    return this.#maxUploadBytes;
  }

  async publish(request: PublishRequest): Promise<PublishResult> {
    checkModelName(request.model);
    if (request.alias !== undefined) checkAliasName(request.alias);

    const staged = await this.#store.stage(request.source, this.#maxUploadBytes);
    let committed = false;
    let folder: string | undefined;
    try {
      const existing = this.#catalog
        .versions(request.model)
        .find((v) => v.sha256 === staged.sha256);
      if (existing) {
        const attachChecks = this.#checks.prepare(existing.signature, request.checks ?? {});
        // Committing again replaces a stored copy that went missing or was corrupted.
        await this.#artifactLocks.run(staged.sha256, () => this.#store.commit(staged));
        committed = true;
        this.#manager.allowRetry(existing);
        this.#reloadIfPinned(existing, request.actor);
        await attachChecks(existing);
        await this.#setAlias(request, existing.version);
        return { record: existing, created: false };
      }
      const validated = await this.#validate(staged, request.sourceName);
      const { format, signature } = validated;
      folder = validated.folder;
      const attachChecks = this.#checks.prepare(signature, request.checks ?? {});
      const newModel = this.#catalog.getModel(request.model) === undefined;
      // A delete of another version with the same bytes removes the artifact when no row uses
      // it. Under the lock, that delete either runs before the commit or counts the new row.
      const { record, created } = await this.#artifactLocks.run(staged.sha256, async () => {
        await this.#store.commit(staged);
        committed = true;
        if (folder) {
          await this.#unpacked.commit(folder, staged.sha256);
          folder = undefined;
        }
        return this.#register(request, staged, format, signature);
      });
      try {
        // Checks come first: moving a hot alias loads the version, and the load runs its probes.
        await attachChecks(record);
        await this.#setAlias(request, record.version);
      } catch (error) {
        // The upload, its checks and its alias change succeed together or not at all.
        // NOTE: only while the process runs; a crash before the alias moves leaves the version
        // registered without it.
        if (created) await this.#rollback(record, request.actor, newModel);
        throw error;
      }
      return { record, created };
    } finally {
      if (!committed) await this.#store.discard(staged);
      if (folder) await this.#unpacked.discard(folder);
    }
  }

  async #register(
    request: PublishRequest,
    staged: StagedArtifact,
    format: string,
    signature: Signature,
  ): Promise<PublishResult> {
    let result: PublishResult;
    try {
      result = await this.#registry.models.insertVersion({
        model: request.model,
        format,
        sha256: staged.sha256,
        sizeBytes: staged.sizeBytes,
        signature,
        sourceName: request.sourceName,
        description: request.description,
        createdAt: nowIso(),
      });
    } catch (error) {
      // No row refers to the committed artifact, so it must not stay behind.
      if ((await this.#registry.models.countBySha(staged.sha256)) === 0) {
        await this.#store.remove(staged.sha256);
      }
      throw error;
    }
    await this.#catalog.refreshModel(request.model);
    if (result.created) {
      this.#audit.record({
        action: 'upload',
        model: result.record.model,
        version: result.record.version,
        actor: request.actor,
        reason: '',
        details: {
          description: result.record.description,
          sha256: result.record.sha256,
          size_bytes: result.record.sizeBytes,
          format: result.record.format,
          source_name: result.record.sourceName,
        },
      });
      this.#logger.info(
        {
          model: result.record.model,
          version: result.record.version,
          sha256: result.record.sha256,
          sizeBytes: result.record.sizeBytes,
          actor: request.actor,
        },
        'version registered',
      );
    }
    return result;
  }

  /**
   * Loads a pinned version whose load failed, now that its bytes were uploaded again. No
   * request may come to retry it, since readiness reports the failure until it loads.
   */
  #reloadIfPinned(record: VersionRecord, actor: string): void {
    const managed = this.#manager.get(record.model, record.version);
    if (!managed?.pinned || managed.state !== 'failed') return;
    const reason = 'artifact uploaded again after a failed load';
    this.#manager.load(record, { explicit: true, actor, reason }).catch((error: unknown) => {
      this.#logger.error(
        { model: record.model, version: record.version, err: error },
        'loading the pinned version again failed',
      );
    });
  }

  /**
   * Deletes the version of a failed upload, and its model too when the upload created it and
   * no other version arrived since. A model that existed keeps its description and settings.
   */
  async #rollback(record: VersionRecord, actor: string, newModel: boolean): Promise<void> {
    try {
      const reason = 'upload rolled back because its alias could not move';
      await this.#lifecycle.deleteVersion(record, { force: true, actor, reason });
      if (newModel && this.#catalog.versions(record.model).length === 0) {
        await this.#lifecycle.deleteModel(record.model, { force: true, actor, reason });
      }
      this.#logger.info(
        { model: record.model, version: record.version, actor },
        'upload rolled back because its alias could not move',
      );
    } catch (error) {
      this.#logger.error(
        { model: record.model, version: record.version, err: error },
        'rolling back an upload failed',
      );
    }
  }

  async #validate(staged: StagedArtifact, sourceName: string): Promise<ValidatedUpload> {
    const detection = detectFormat(await readHead(staged.tempPath, 64), staged.sizeBytes);
    if (detection.format !== null) {
      const signature = await this.#inspect(detection.format, staged.tempPath, sourceName);
      return { format: detection.format, signature, folder: undefined };
    }
    if (!detection.archive) throw rejected(sourceName, detection.reason);

    const folder = await this.#unpack(staged, detection.archive, sourceName);
    try {
      const inner = await detectFolderFormat(folder);
      if (inner.format === null) throw rejected(sourceName, inner.reason);
      const signature = await this.#inspect(inner.format, folder, sourceName);
      return { format: inner.format, signature, folder };
    } catch (error) {
      await this.#unpacked.discard(folder);
      throw error;
    }
  }

  async #unpack(staged: StagedArtifact, kind: ArchiveKind, sourceName: string): Promise<string> {
    try {
      return await this.#unpacked.stage(staged.tempPath, kind);
    } catch (error) {
      if (!(error instanceof ArchiveError)) throw error;
      throw rejected(sourceName, error.message, error);
    }
  }

  /** Loads the model in a worker to prove it runs and to read its signature. */
  async #inspect(format: Format, location: string, sourceName: string): Promise<Signature> {
    const inspection = this.#pool.inspect(format, location);
    // A late result is dropped: the worker frees the model itself after the check.
    inspection.catch(() => undefined);
    try {
      return await withTimeout(
        inspection,
        this.#inspectTimeoutMs,
        `loading the model to check it took longer than ${this.#inspectTimeoutMs} ms (--load-timeout)`,
      );
    } catch (error) {
      if (!(error instanceof InvalidModelError) && !(error instanceof TimeoutError)) throw error;
      throw rejected(sourceName, error.message, error);
    }
  }

  async #setAlias(request: PublishRequest, version: number): Promise<void> {
    if (request.alias === undefined) return;
    await this.#aliases.set({
      model: request.model,
      alias: request.alias,
      version,
      actor: request.actor,
      reason: 'set at upload',
    });
  }
}

export function checkModelName(name: string): void {
  if (!MODEL_NAME_PATTERN.test(name)) {
    throw new StewardError(
      'INVALID_MODEL_NAME',
      `invalid model name "${name}": names must match ^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$ ` +
        '(1 to 128 letters, digits, ".", "_" or "-", starting with a letter or digit)',
      { field: 'name' },
    );
  }
}

function rejected(sourceName: string, reason: string, cause?: unknown): StewardError {
  const source = sourceName ? `the uploaded file "${sourceName}"` : 'the uploaded file';
  return new StewardError('INVALID_ARTIFACT', `${source} was rejected: ${reason}`, {
    field: 'file',
    cause,
  });
}
