import type { Logger } from 'pino';
import type { ArtifactStore } from './artifact-store.js';
import type { UnpackedArchives } from './unpacked-archives.js';

/**
 * Removes artifacts and unpacked folders that no version uses. A crash between the commit of
 * an upload's artifact and the write of its version row leaves such a file, which nothing
 * would ever delete. Runs at start, before any upload can commit a new artifact.
 */
export async function removeOrphanArtifacts(
  store: ArtifactStore,
  unpacked: UnpackedArchives,
  used: ReadonlySet<string>,
  logger: Logger,
): Promise<number> {
  let removed = 0;
  for (const sha256 of await store.list()) {
    if (used.has(sha256)) continue;
    await store.remove(sha256);
    removed += 1;
    logger.warn(
      { sha256 },
      'removed an artifact that no version uses, left by an interrupted upload',
    );
  }
  for (const sha256 of await unpacked.list()) {
    if (used.has(sha256)) continue;
    await unpacked.remove(sha256);
    removed += 1;
    logger.warn({ sha256 }, 'removed an unpacked archive folder that no version uses');
  }
  return removed;
}
