import { Parser, type ReadEntry } from 'tar';
import yauzl from 'yauzl';
import { outsideFolder } from './archive-error.js';
import { maxTarBytes, openTarStream } from './tar-stream.js';
import type { UnpackLimits } from './unpack.js';

export type ArchiveKind = 'zip' | 'tar.gz';

/** The type of an archive entry. Anything but a regular file or a folder is rejected on unpack. */
export type EntryType = 'file' | 'directory' | 'symlink' | 'hardlink' | 'other';

/** One entry of an archive, read in archive order. */
export interface ArchiveEntry {
  /** The path exactly as the archive stores it, not yet checked. */
  readonly path: string;
  readonly type: EntryType;
  /** Size the archive declares for the entry's content, in bytes. */
  readonly size: number;
  /** Streams the entry's content. Call it at most once, before the next entry is read. */
  open(): Promise<AsyncIterable<Uint8Array>>;
}

const ZIP_MAGIC = Buffer.from([0x50, 0x4b, 0x03, 0x04]);
const GZIP_MAGIC = Buffer.from([0x1f, 0x8b]);

/** Detects a zip or gzip-compressed archive from the first bytes of a file. */
export function archiveKindOf(head: Buffer): ArchiveKind | null {
  if (head.subarray(0, 4).equals(ZIP_MAGIC)) return 'zip';
  if (head.subarray(0, 2).equals(GZIP_MAGIC)) return 'tar.gz';
  return null;
}

/**
 * Reads the entries of an archive. `limits` bounds the decompressed tar stream, while a zip
 * entry is decompressed only when it is opened, so the caller's byte count bounds it.
 */
export function readEntries(
  file: string,
  kind: ArchiveKind,
  limits: UnpackLimits,
): AsyncGenerator<ArchiveEntry> {
  if (kind === 'zip') return zipEntries(file);
  return tarEntries(file, maxTarBytes(limits.maxBytes, limits.maxEntries));
}

const S_IFMT = 0o170000;
const S_IFLNK = 0o120000;
const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
/** The "version made by" host of zip files written on Unix, whose attributes carry a mode. */
const ZIP_HOST_UNIX = 3;

async function* zipEntries(file: string): AsyncGenerator<ArchiveEntry> {
  // yauzl reads the central directory, checks that sizes match the data, and rejects
  // absolute paths and ".." segments before an entry reaches us.
  const zip = await yauzl.openPromise(file, { validateEntrySizes: true, strictFileNames: true });
  try {
    for await (const entry of zip.eachEntry()) {
      yield {
        path: entry.fileName,
        type: zipEntryType(entry),
        size: entry.uncompressedSize,
        open: () => zip.openReadStreamPromise(entry),
      };
    }
  } catch (error) {
    throw describeZipError(error);
  } finally {
    zip.close();
  }
}

/** yauzl's messages for unsafe names, such as "invalid relative path: ../x". */
const UNSAFE_NAME = /^(absolute path|invalid relative path): (.*)$/;

function describeZipError(error: unknown): unknown {
  const match = UNSAFE_NAME.exec(error instanceof Error ? error.message : '');
  if (!match) return error;
  return outsideFolder(match[2]!, match[1] === 'absolute path' ? 'absolute' : 'dot-dot');
}

function zipEntryType(entry: yauzl.Entry): EntryType {
  const isFolderName = entry.fileName.endsWith('/');
  if (entry.versionMadeBy >> 8 !== ZIP_HOST_UNIX) return isFolderName ? 'directory' : 'file';
  const mode = (entry.externalFileAttributes >>> 16) & S_IFMT;
  if (mode === S_IFLNK) return 'symlink';
  if (mode === S_IFDIR || (mode === 0 && isFolderName)) return 'directory';
  if (mode === S_IFREG || mode === 0) return 'file';
  return 'other';
}

const TAR_TYPES: Record<string, EntryType> = {
  File: 'file',
  OldFile: 'file',
  ContiguousFile: 'file',
  Directory: 'directory',
  SymbolicLink: 'symlink',
  Link: 'hardlink',
};

/**
 * Reads a gzip-compressed tar archive. The parser hands over one entry at a time and waits
 * until its content has been read or skipped, so entries queue here only briefly.
 */
async function* tarEntries(file: string, maxBytes: number): AsyncGenerator<ArchiveEntry> {
  const source = openTarStream(file, maxBytes);
  // Strict mode turns damaged headers and bad checksums into errors instead of warnings. The
  // source is already decompressed, so the parser must not try brotli or zstd on it.
  const parser = new Parser({ strict: true, brotli: false, zstd: false });
  const queue: ReadEntry[] = [];
  let ended = false;
  let failure: Error | undefined;
  let wake: (() => void) | undefined;
  const notify = () => {
    wake?.();
    wake = undefined;
  };
  parser.on('entry', (entry: ReadEntry) => {
    queue.push(entry);
    notify();
  });
  parser.on('end', () => {
    ended = true;
    notify();
  });
  const fail = (error: Error) => {
    failure ??= error;
    notify();
  };
  parser.on('error', fail);
  source.on('error', fail);
  source.pipe(parser);

  try {
    for (;;) {
      if (failure) throw failure;
      const entry = queue.shift();
      if (entry) {
        let opened = false;
        yield {
          path: entry.path,
          type: TAR_TYPES[entry.type] ?? 'other',
          size: entry.size ?? 0,
          open: async () => {
            opened = true;
            return entry;
          },
        };
        // Unread content is skipped so that the parser moves on to the next header.
        if (!opened) entry.resume();
        continue;
      }
      if (ended) return;
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
    }
  } finally {
    source.destroy();
  }
}
