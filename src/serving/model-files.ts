import { archiveKindOf } from '../archives/entries.js';
import type { ArtifactStore } from '../storage/artifact-store.js';
import type { UnpackedArchives } from '../storage/unpacked-archives.js';
import { readHead } from '../util/files.js';

/**
 * Resolves an artifact to the path a runtime loads: the artifact file itself, or for a .zip
 * or .tar.gz archive the folder it unpacks to. The archive's sha256 is checked either way.
 */
export class ModelFiles {
  readonly #store: ArtifactStore;
  readonly #unpacked: UnpackedArchives;

  constructor(store: ArtifactStore, unpacked: UnpackedArchives) {
    this.#store = store;
    this.#unpacked = unpacked;
  }

  async open(sha256: string): Promise<string> {
    const file = await this.#store.open(sha256);
    const kind = archiveKindOf(await readHead(file, 4));
    return kind ? this.#unpacked.open(sha256, file, kind) : file;
  }
}
