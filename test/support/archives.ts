/**
 * Builds .zip and .tar.gz archives in memory for tests, including the unsafe ones that
 * ordinary tools refuse to write: entries named "../x", absolute paths and links.
 */
import { gzipSync } from 'node:zlib';
import { type Zippable, zipSync } from 'fflate';
import { Header } from 'tar';

export interface ArchiveFile {
  readonly path: string;
  readonly data?: Buffer | string;
  /** Makes the entry a symbolic link to this target instead of a file. */
  readonly symlinkTo?: string;
  /** Makes the entry a hard link to this path instead of a file. */
  readonly hardLinkTo?: string;
}

const UNIX = 3;
const S_IFLNK = 0o120000;

export function zipArchive(files: readonly ArchiveFile[]): Buffer {
  const entries: Zippable = {};
  for (const file of files) {
    if (file.symlinkTo !== undefined) {
      // Unix mode bits sit in the high 16 bits of the external attributes.
      entries[file.path] = [
        Buffer.from(file.symlinkTo),
        { os: UNIX, attrs: (S_IFLNK | 0o777) * 0x10000, level: 0 },
      ];
    } else {
      entries[file.path] = [Buffer.from(file.data ?? ''), { level: 6 }];
    }
  }
  return Buffer.from(zipSync(entries));
}

export function tarGzArchive(files: readonly ArchiveFile[]): Buffer {
  const blocks: Buffer[] = [];
  for (const file of files) {
    const data = Buffer.from(file.data ?? '');
    const link = file.symlinkTo ?? file.hardLinkTo;
    const header = new Header({
      path: file.path,
      mode: link === undefined ? 0o644 : 0o777,
      size: link === undefined ? data.length : 0,
      mtime: new Date(0),
      uid: 0,
      gid: 0,
      type:
        file.symlinkTo !== undefined
          ? 'SymbolicLink'
          : file.hardLinkTo !== undefined
            ? 'Link'
            : 'File',
      linkpath: link,
    });
    const block = Buffer.alloc(512);
    header.encode(block);
    blocks.push(block);
    if (link === undefined && data.length > 0) {
      blocks.push(data, Buffer.alloc((512 - (data.length % 512)) % 512));
    }
  }
  blocks.push(Buffer.alloc(1024));
  return gzipSync(Buffer.concat(blocks));
}
