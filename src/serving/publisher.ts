import fs from 'node:fs/promises';
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { StewardError } from '../errors.js';
import { MODEL_NAME_PATTERN, nowIso, type VersionRecord } from '../registry/records.js';
import type { Registry } from '../registry/registry.js';
import { detectFormat } from '../runtimes/formats.js';
import { InvalidModelError } from '../runtimes/runtime.js';
import type { ArtifactStore, StagedArtifact } from '../storage/artifact-store.js';
import type { AliasService } from './aliases.js';
import { checkAliasName } from './aliases.js';
import type { Catalog } from './catalog.js';
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
  readonly #maxUploadBytes: number;
  readonly #logger: Logger;

  constructor(options: {
    registry: Registry;
    catalog: Catalog;
    store: ArtifactStore;
    pool: WorkerPool;
    aliases: AliasService;
    maxUploadBytes: number;
    logger: Logger;
  }) {
    this.#registry = options.registry;
    this.#catalog = options.catalog;
    this.#store = options.store;
    this.#pool = options.pool;
    this.#aliases = options.aliases;
    this.#maxUploadBytes = options.maxUploadBytes;
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
        await this.#setAlias(request, existing.version);
        return { record: existing, created: false };
      }
      const { format, signature } = await this.#validate(staged, request.sourceName);
      await this.#store.commit(staged);
      committed = true;
      const { record, created } = await this.#registry.models.insertVersion({
        model: request.model,
        format,
        sha256: staged.sha256,
        sizeBytes: staged.sizeBytes,
        signature,
        sourceName: request.sourceName,
        description: request.description,
        createdAt: nowIso(),
      });
      await this.#catalog.refreshModel(request.model);
      if (created) {
        this.#logger.info(
          {
            model: record.model,
            version: record.version,
            sha256: record.sha256,
            sizeBytes: record.sizeBytes,
            actor: request.actor,
          },
          'version registered',
        );
      }
      await this.#setAlias(request, record.version);
      return { record, created };
    } finally {
      if (!committed) await this.#store.discard(staged);
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
      const signature = await this.#pool.inspect(detection.format, staged.tempPath);
      return { format: detection.format, signature };
    } catch (error) {
      if (!(error instanceof InvalidModelError)) throw error;
      throw new StewardError(
        'INVALID_ARTIFACT',
        `${describeSource(sourceName)} was rejected: ${error.message}`,
        { field: 'file', cause: error },
      );
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
