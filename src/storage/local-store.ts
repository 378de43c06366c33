import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { StewardError } from '../errors.js';
import type { ArtifactStore, StagedArtifact } from './artifact-store.js';

const SHA256_PATTERN = /^[0-9a-f]{64}$/;

/**
 * Artifacts in a local folder: `<root>/sha256/<first two hex digits>/<sha256>`, staged in
 * `<root>/tmp`. A commit is a rename within one file system after fsync of the file, then an
 * fsync of the folder, so after a crash a committed artifact is complete or absent.
 */
export class LocalArtifactStore implements ArtifactStore {
  readonly #root: string;
  readonly #tmp: string;

  constructor(root: string) {
    this.#root = root;
    this.#tmp = path.join(root, 'tmp');
  }

  /** Creates the folders and removes staged files that a crash left behind. */
  async init(): Promise<void> {
    await fs.mkdir(path.join(this.#root, 'sha256'), { recursive: true });
    await fs.rm(this.#tmp, { recursive: true, force: true });
    await fs.mkdir(this.#tmp, { recursive: true });
  }

  pathOf(sha256: string): string {
    if (!SHA256_PATTERN.test(sha256)) throw new Error(`invalid sha256 "${sha256}"`);
    return path.join(this.#root, 'sha256', sha256.slice(0, 2), sha256);
  }

  async stage(source: Readable, maxBytes: number): Promise<StagedArtifact> {
    const tempPath = path.join(this.#tmp, `${randomUUID()}.part`);
    const hash = createHash('sha256');
    let sizeBytes = 0;
    const meter = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        sizeBytes += chunk.length;
        if (sizeBytes > maxBytes) {
          callback(
            new StewardError(
              'PAYLOAD_TOO_LARGE',
              `model file exceeds the upload limit of ${maxBytes} bytes; raise --max-upload-size to accept it`,
            ),
          );
          return;
        }
        hash.update(chunk);
        callback(null, chunk);
      },
    });
    try {
      // `flush` makes the stream fsync the file before it closes, so a staged file is durable.
      await pipeline(source, meter, createWriteStream(tempPath, { flush: true }));
    } catch (error) {
      await fs.rm(tempPath, { force: true });
      throw asUploadError(error);
    }
    return { tempPath, sha256: hash.digest('hex'), sizeBytes };
  }

  async commit(staged: StagedArtifact): Promise<string> {
    const target = this.pathOf(staged.sha256);
    const folder = path.dirname(target);
    await fs.mkdir(folder, { recursive: true });
    if (await this.#isIntact(target, staged.sha256)) {
      await this.discard(staged);
      return target;
    }
    await fs.rename(staged.tempPath, target);
    await syncFolder(folder);
    return target;
  }

  async discard(staged: StagedArtifact): Promise<void> {
    await fs.rm(staged.tempPath, { force: true });
  }

  async open(sha256: string): Promise<string> {
    const file = this.pathOf(sha256);
    let actual: string;
    try {
      actual = await hashFile(file);
    } catch (error) {
      throw new Error(`artifact ${sha256} is missing from the artifact store`, { cause: error });
    }
    if (actual !== sha256) {
      throw new Error(
        `artifact ${sha256} is corrupted: its sha256 is now ${actual}; upload the model file again to repair it`,
      );
    }
    return file;
  }

  async has(sha256: string): Promise<boolean> {
    return fileExists(this.pathOf(sha256));
  }

  async remove(sha256: string): Promise<void> {
    await fs.rm(this.pathOf(sha256), { force: true });
  }

  async list(): Promise<string[]> {
    const base = path.join(this.#root, 'sha256');
    const stored: string[] = [];
    for (const prefix of await fs.readdir(base)) {
      for (const name of await fs.readdir(path.join(base, prefix))) {
        if (SHA256_PATTERN.test(name)) stored.push(name);
      }
    }
    return stored;
  }

  async diskUsage(): Promise<number> {
    let total = 0;
    for (const sha256 of await this.list()) {
      total += (await fs.stat(this.pathOf(sha256))).size;
    }
    return total;
  }

  async #isIntact(file: string, sha256: string): Promise<boolean> {
    if (!(await fileExists(file))) return false;
    return (await hashFile(file)) === sha256;
  }
}

/**
 * Classifies a failed stage. File-system errors stay internal; anything else came from the
 * incoming stream (a client that disconnected, a malformed multipart body) and is the client's.
 */
function asUploadError(error: unknown): unknown {
  if (error instanceof StewardError) return error;
  const code = (error as NodeJS.ErrnoException).code;
  if (code !== undefined && /^E(NOSPC|ACCES|PERM|ROFS|IO|MFILE|NFILE|DQUOT)$/.test(code))
    return error;
  return new StewardError(
    'INVALID_ARGUMENT',
    `the upload was interrupted or malformed: ${(error as Error).message}`,
    { field: 'file', cause: error },
  );
}

export async function hashFile(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash);
  return hash.digest('hex');
}

async function fileExists(file: string): Promise<boolean> {
  try {
    await fs.access(file);
    return true;
  } catch {
    return false;
  }
}

/** Makes a rename durable: on Linux the new directory entry survives a crash only after this. */
async function syncFolder(folder: string): Promise<void> {
  const handle = await fs.open(folder, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
