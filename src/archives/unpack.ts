import fs from 'node:fs/promises';
import path from 'node:path';
import { messageOf } from '../errors.js';
import { ArchiveError, outsideFolder } from './archive-error.js';
import { type ArchiveEntry, type ArchiveKind, readEntries } from './entries.js';

/** Limits that keep a hostile archive from filling the disk or the folder table. */
export interface UnpackLimits {
  /** Entries of any type, folders included. */
  readonly maxEntries: number;
  /** Sum of the unpacked file sizes, in bytes. */
  readonly maxBytes: number;
}

const MAX_PATH_DEPTH = 32;

/**
 * Unpacks an archive into `folder`, which must not exist yet. Only regular files and folders
 * are written, each strictly inside `folder`: links, devices, absolute paths and ".."
 * segments are rejected, as are duplicate paths. On any failure `folder` is removed.
 */
export async function unpackArchive(
  file: string,
  kind: ArchiveKind,
  folder: string,
  limits: UnpackLimits,
): Promise<void> {
  await fs.mkdir(folder);
  try {
    await writeEntries(file, kind, folder, limits);
  } catch (error) {
    await fs.rm(folder, { recursive: true, force: true });
    if (error instanceof ArchiveError) throw error;
    throw new ArchiveError(`the ${kind} archive could not be read: ${messageOf(error)}`, {
      cause: error,
    });
  }
}

async function writeEntries(
  file: string,
  kind: ArchiveKind,
  folder: string,
  limits: UnpackLimits,
): Promise<void> {
  const written = new Set<string>();
  let entries = 0;
  let bytes = 0;
  for await (const entry of readEntries(file, kind, limits)) {
    entries += 1;
    if (entries > limits.maxEntries) {
      throw new ArchiveError(
        `the archive has more than ${limits.maxEntries} entries; pack only the model's files, or raise --max-archive-entries`,
      );
    }
    const relative = safeRelativePath(entry);
    if (relative === '') continue;
    if (written.has(relative)) {
      throw new ArchiveError(`archive entry "${entry.path}" appears more than once`);
    }
    written.add(relative);
    const target = path.join(folder, relative);
    if (entry.type === 'directory') {
      await fs.mkdir(target, { recursive: true });
      continue;
    }
    if (bytes + entry.size > limits.maxBytes) throw overLimit(limits, entry);
    await fs.mkdir(path.dirname(target), { recursive: true });
    bytes += await writeFile(entry, target, limits.maxBytes - bytes, limits);
  }
}

/** Checks an entry's type and path and returns its path relative to the target folder. */
function safeRelativePath(entry: ArchiveEntry): string {
  if (entry.type === 'symlink' || entry.type === 'hardlink') {
    throw new ArchiveError(
      `archive entry "${entry.path}" is a ${entry.type === 'symlink' ? 'symbolic' : 'hard'} link; ` +
        'archives may hold only regular files and folders',
    );
  }
  if (entry.type === 'other') {
    throw new ArchiveError(
      `archive entry "${entry.path}" is not a regular file or folder (a device, FIFO or other special file)`,
    );
  }
  const name = entry.path.replaceAll('\\', '/');
  if (name.includes('\0')) throw new ArchiveError(`archive entry "${entry.path}" has a NUL byte`);
  if (name.startsWith('/') || /^[A-Za-z]:/.test(name)) throw outsideFolder(entry.path, 'absolute');
  const segments = name.split('/').filter((segment) => segment !== '' && segment !== '.');
  if (segments.includes('..')) throw outsideFolder(entry.path, 'dot-dot');
  if (segments.length > MAX_PATH_DEPTH) {
    throw new ArchiveError(
      `archive entry "${entry.path}" is nested more than ${MAX_PATH_DEPTH} folders deep`,
    );
  }
  return segments.join('/');
}

/** Writes one file, counting the bytes as they come: a declared size is not trusted. */
async function writeFile(
  entry: ArchiveEntry,
  target: string,
  allowance: number,
  limits: UnpackLimits,
): Promise<number> {
  // "wx" fails on an existing path, so a file can never replace a folder or another file.
  const handle = await fs.open(target, 'wx', 0o644);
  let size = 0;
  try {
    for await (const chunk of await entry.open()) {
      size += chunk.length;
      if (size > allowance) throw overLimit(limits, entry);
      await handle.write(chunk);
    }
    await handle.sync();
  } finally {
    await handle.close();
  }
  return size;
}

function overLimit(limits: UnpackLimits, entry: ArchiveEntry): ArchiveError {
  return new ArchiveError(
    `the archive unpacks to more than ${limits.maxBytes} bytes (limit reached at "${entry.path}"); ` +
      'raise --max-unpacked-size to accept it',
  );
}
