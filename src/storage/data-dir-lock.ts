import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from 'pino';

const LOCK_FILE = 'steward.lock';

/** Lock files this process holds, so a second open in the same process is rejected too. */
const heldLockFiles = new Set<string>();

/** The record of a lock file: the process that holds the data folder. */
interface LockOwner {
  readonly pid: number;
  readonly hostname: string;
  readonly started_at: string;
}

/** An exclusive claim on a data folder, released when the server stops. */
export interface DataDirLock {
  release(): Promise<void>;
}

/**
 * Claims `dataDir` for this process with a lock file created exclusively. Two servers on one
 * folder would each cache the registry and write usage over the other's, so a second one is
 * rejected. A lock left by a process that no longer runs on this host is replaced.
 *
 * NOTE: a lock written on another host is replaced too, because a container that is created
 * again gets a new host name. So two hosts that share a folder over a network file system are
 * not kept apart.
 */
export async function lockDataDir(dataDir: string, logger: Logger): Promise<DataDirLock> {
  await fs.mkdir(dataDir, { recursive: true });
  const file = path.resolve(dataDir, LOCK_FILE);
  if (heldLockFiles.has(file)) throw inUse(dataDir, ownerOf(process.pid));
  for (let attempt = 0; ; attempt += 1) {
    try {
      await fs.writeFile(file, `${JSON.stringify(ownerOf(process.pid))}\n`, { flag: 'wx' });
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw error;
    }
    const owner = await readOwner(file);
    if (owner && isRunning(owner)) throw inUse(dataDir, owner);
    logger.warn({ file, owner }, 'removing the lock file of a Steward process that has stopped');
    await fs.rm(file, { force: true });
  }
  heldLockFiles.add(file);
  return {
    release: async () => {
      if (!heldLockFiles.delete(file)) return;
      await fs.rm(file, { force: true });
    },
  };
}

function ownerOf(pid: number): LockOwner {
  return { pid, hostname: os.hostname(), started_at: new Date().toISOString() };
}

/** Reads a lock file; null when it is empty or unreadable, as a crash while writing leaves it. */
async function readOwner(file: string): Promise<LockOwner | null> {
  try {
    const owner = JSON.parse(await fs.readFile(file, 'utf8')) as Partial<LockOwner>;
    if (typeof owner.pid !== 'number' || typeof owner.hostname !== 'string') return null;
    return owner as LockOwner;
  } catch {
    return null;
  }
}

function isRunning(owner: LockOwner): boolean {
  if (owner.hostname !== os.hostname()) return false;
  // The same id as ours belongs to an earlier run, as after a container restart.
  if (owner.pid === process.pid) return false;
  try {
    process.kill(owner.pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function inUse(dataDir: string, owner: LockOwner): Error {
  return new Error(
    `data folder ${dataDir} is in use by another Steward server (pid ${owner.pid} on ` +
      `${owner.hostname}, started ${owner.started_at}); stop it, or start this one with ` +
      `another --data-dir. If no such server runs, delete ${path.join(dataDir, LOCK_FILE)}`,
  );
}
