import fs from 'node:fs/promises';
import path from 'node:path';

/** Lists every file and folder under a server's artifact folder, relative to it, sorted. */
export async function storedArtifacts(dataDir: string): Promise<string[]> {
  const root = path.join(dataDir, 'artifacts');
  const entries = await fs.readdir(root, { recursive: true });
  return entries.sort();
}
