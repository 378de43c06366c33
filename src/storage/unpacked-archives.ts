import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { ArchiveKind } from '../archives/entries.js';
import { type UnpackLimits, unpackArchive } from '../archives/unpack.js';

const SHA256_PATTERN = /^[0-9a-f]{64}$/;

/**
 * Folders unpacked from archive artifacts: `<root>/<sha256>/`, one per archive, beside the
 * content-addressed archives themselves. A folder is unpacked under a temporary name and
 * renamed into place, so a running server never sees a half-unpacked folder. The archive stays
 * the source of truth, and a missing folder is unpacked again from it.
 *
 * NOTE: the files are fsynced but the folders are not, so a power loss right after a rename
 * may leave a folder with missing entries.
 */
export class UnpackedArchives {
  readonly #root: string;
  readonly #limits: UnpackLimits;

  constructor(root: string, limits: UnpackLimits) {
    this.#root = root;
    this.#limits = limits;
  }

  /** Creates the root and removes temporary folders that a crash left behind. */
  async init(): Promise<void> {
    await fs.mkdir(this.#root, { recursive: true });
    for (const name of await fs.readdir(this.#root)) {
      if (name.startsWith('.tmp-')) {
        await fs.rm(path.join(this.#root, name), { recursive: true, force: true });
      }
    }
  }

  /**
   * Unpacks an archive under a temporary name and returns the folder that contains its files:
   * when every entry sits in one top-level folder, that folder.
   */
  async stage(archive: string, kind: ArchiveKind): Promise<string> {
    const temporary = path.join(this.#root, `.tmp-${randomUUID()}`);
    await unpackArchive(archive, kind, temporary, this.#limits);
    return contentFolder(temporary);
  }

  /** Moves a staged folder to its place for `sha256`; an existing folder is kept. */
  async commit(staged: string, sha256: string): Promise<string> {
    const target = this.pathOf(sha256);
    try {
      await fs.rename(staged, target);
    } catch (error) {
      // Another upload of the same bytes got there first; its folder has the same files.
      if (!isCode(error, 'ENOTEMPTY') && !isCode(error, 'EEXIST')) throw error;
    }
    await this.discard(staged);
    return target;
  }

  /** Deletes a staged folder together with the temporary folder it came from. */
  async discard(staged: string): Promise<void> {
    await fs.rm(this.#temporaryOf(staged), { recursive: true, force: true });
  }

  /** Returns the folder of an archive, unpacking it first when it is missing. */
  async open(sha256: string, archive: string, kind: ArchiveKind): Promise<string> {
    const target = this.pathOf(sha256);
    if (await isFolder(target)) return target;
    return this.commit(await this.stage(archive, kind), sha256);
  }

  /** Deletes the folder of an archive that is no longer stored; a missing folder is fine. */
  async remove(sha256: string): Promise<void> {
    await fs.rm(this.pathOf(sha256), { recursive: true, force: true });
  }

  /** Lists the sha256 of every archive with an unpacked folder. */
  async list(): Promise<string[]> {
    const names = await fs.readdir(this.#root);
    return names.filter((name) => SHA256_PATTERN.test(name));
  }

  /** Total bytes of the files in the unpacked folders. */
  async diskUsage(): Promise<number> {
    let total = 0;
    for (const sha256 of await this.list()) {
      const folder = this.pathOf(sha256);
      for (const relative of await fs.readdir(folder, { recursive: true })) {
        const stats = await fs.stat(path.join(folder, relative));
        if (stats.isFile()) total += stats.size;
      }
    }
    return total;
  }

  pathOf(sha256: string): string {
    if (!SHA256_PATTERN.test(sha256)) throw new Error(`invalid sha256 "${sha256}"`);
    return path.join(this.#root, sha256);
  }

  /** The `.tmp-*` folder directly under the root that contains `staged`. */
  #temporaryOf(staged: string): string {
    const relative = path.relative(this.#root, staged);
    const first = relative.split(path.sep)[0] ?? '';
    if (!first.startsWith('.tmp-')) throw new Error(`"${staged}" is not a staged folder`);
    return path.join(this.#root, first);
  }
}

/** Descends into a lone top-level folder, as archives made with `zip -r model.zip model/` have. */
async function contentFolder(folder: string): Promise<string> {
  const entries = await fs.readdir(folder, { withFileTypes: true });
  const only = entries[0];
  if (entries.length === 1 && only?.isDirectory()) return path.join(folder, only.name);
  return folder;
}

async function isFolder(target: string): Promise<boolean> {
  try {
    return (await fs.stat(target)).isDirectory();
  } catch {
    return false;
  }
}

function isCode(error: unknown, code: string): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === code;
}
