import fs from 'node:fs/promises';
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { StewardError } from '../errors.js';
import { MODEL_NAME_PATTERN, nowIso, type VersionRecord } from '../registry/records.js';
import type { Registry } from '../registry/registry.js';
import { detectFormat } from '../runtimes/formats.js';
import { InvalidModelError } from '../runtimes/runtime.js';
import type { ArtifactStore, StagedArtifact } from '../storage/artifact-store.js';
import type { Signature } from '../tensors/types.js';
import { TimeoutError, withTimeout } from '../util/async.js';
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
}

export interface PublishResult {
  readonly record: VersionRecord;
  /** False when the model already had a version with the same bytes. */
  readonly created: boolean;
}

/**
 * Turns an uploaded file into a registered version. The file is staged and hashed, and its
 * format is detected from its bytes. A runtime must load it before it is committed, and only
 * then does a version row appear, so any failure leaves nothing stored or registered.
 */
export class Publisher {
  readonly #registry: Registry;
  readonly #catalog: Catalog;
  readonly #store: ArtifactStore;
  readonly #pool: WorkerPool;
  readonly #aliases: AliasService;
  readonly #lifecycle: LifecycleService;
  readonly #manager: ModelManager;
  readonly #maxUploadBytes: number;
  readonly #inspectTimeoutMs: number;
  readonly #logger: Logger;

  constructor(options: {
    registry: Registry;
    catalog: Catalog;
    store: ArtifactStore;
    pool: WorkerPool;
    aliases: AliasService;
    lifecycle: LifecycleService;
    manager: ModelManager;
    maxUploadBytes: number;
    inspectTimeoutMs: number;
    logger: Logger;
  }) {
    this.#registry = options.registry;
    this.#catalog = options.catalog;
    this.#store = options.store;
    this.#pool = options.pool;
    this.#aliases = options.aliases;
    this.#lifecycle = options.lifecycle;
    this.#manager = options.manager;
    this.#maxUploadBytes = options.maxUploadBytes;
    this.#inspectTimeoutMs = options.inspectTimeoutMs;
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
    try {
      const existing = this.#catalog
        .versions(request.model)
        .find((v) => v.sha256 === staged.sha256);
      if (existing) {
        // Committing again replaces a stored copy that went missing or was corrupted.
        await this.#store.commit(staged);
        committed = true;
        this.#onRepaired(existing);
        await this.#setAlias(request, existing.version);
        return { record: existing, created: false };
      }
      const { format, signature } = await this.#validate(staged, request.sourceName);
      await this.#store.commit(staged);
      committed = true;
      const { record, created } = await this.#register(request, staged, format, signature);
      try {
        await this.#setAlias(request, record.version);
      } catch (error) {
        // The upload and its alias change succeed together or not at all.
        if (created) await this.#rollback(record, request.actor);
        throw error;
      }
      return { record, created };
    } finally {
      if (!committed) await this.#store.discard(staged);
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

  async #rollback(record: VersionRecord, actor: string): Promise<void> {
    try {
      await this.#lifecycle.deleteVersion(record, { force: true, actor });
      if (this.#catalog.versions(record.model).length === 0) {
        await this.#lifecycle.deleteModel(record.model, { force: true, actor });
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

  async #validate(staged: StagedArtifact, sourceName: string) {
    const head = await readHead(staged.tempPath, 64);
    const detection = detectFormat(head, staged.sizeBytes);
    if (detection.format === null) {
      throw new StewardError(
        'INVALID_ARTIFACT',
        `${describeSource(sourceName)} was rejected: ${detection.reason}`,
        {
          field: 'file',
        },
      );
    }
    try {
      const inspection = this.#pool.inspect(detection.format, staged.tempPath);
      // A late result is dropped: the worker frees the model itself after the check.
      inspection.catch(() => undefined);
      const signature = await withTimeout(
        inspection,
        this.#inspectTimeoutMs,
        `loading the model to check it took longer than ${this.#inspectTimeoutMs} ms (--load-timeout)`,
      );
      return { format: detection.format, signature };
    } catch (error) {
      if (!(error instanceof InvalidModelError) && !(error instanceof TimeoutError)) throw error;
      throw new StewardError(
        'INVALID_ARTIFACT',
        `${describeSource(sourceName)} was rejected: ${error.message}`,
        { field: 'file', cause: error },
      );
    }
  }

  /** Lets a version whose load failed retry at once after its bytes were uploaded again. */
  #onRepaired(record: VersionRecord): void {
    this.#manager.allowRetry(record);
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

function describeSource(sourceName: string): string {
  return sourceName ? `the uploaded file "${sourceName}"` : 'the uploaded file';
}

async function readHead(file: string, bytes: number): Promise<Buffer> {
  const handle = await fs.open(file, 'r');
  try {
    const buffer = Buffer.alloc(bytes);
    const { bytesRead } = await handle.read(buffer, 0, bytes, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}
