import { createReadStream } from 'node:fs';
import { pipeline, type Readable, Transform } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { ArchiveError } from './archive-error.js';

const GZIP_MAGIC = Buffer.from([0x1f, 0x8b]);

/**
 * Room for tar's own bytes per entry: a 512-byte header, up to 511 bytes of padding after the
 * content, and for a long path a pax or GNU long-name record (another header and the path).
 */
const TAR_BYTES_PER_ENTRY = 8 * 1024;
/** Room for a global pax header, the end-of-archive blocks and the padding to a full record. */
const TAR_END_BYTES = 64 * 1024;

/** Returns the largest tar stream that `maxEntries` entries with `maxFileBytes` of files make. */
export function maxTarBytes(maxFileBytes: number, maxEntries: number): number {
  return maxFileBytes + maxEntries * TAR_BYTES_PER_ENTRY + TAR_END_BYTES;
}

/**
 * Opens a .tar.gz file as a stream of plain tar bytes, and fails it with an ArchiveError once
 * the tar stream grows past `maxBytes`. The bound covers the bytes that are never written to
 * disk and so escape the unpacked-size count: headers, the content of skipped entries and data
 * after the end of the archive. It replaces the tar parser's ratio cap (decompressed over
 * compressed bytes, 1000 in tar 7.5), which rejects zero-filled weights within the limit.
 */
export function openTarStream(file: string, maxBytes: number): Readable {
  let total = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      // The parser would decompress a gzip stream inside the gzip stream again, beyond this
      // count. A tar header begins with the entry's path, so this rejects only such a path.
      if (total === 0 && chunk.subarray(0, 2).equals(GZIP_MAGIC)) {
        callback(
          new ArchiveError(
            'the archive is compressed twice: it contains a gzip file instead of a tar file; ' +
              'pack the model files with tar czf',
          ),
        );
        return;
      }
      total += chunk.length;
      if (total > maxBytes) {
        callback(
          new ArchiveError(
            `the tar stream unpacks to more than ${maxBytes} bytes of files and tar headers; ` +
              'raise --max-unpacked-size to accept it',
          ),
        );
        return;
      }
      callback(null, chunk);
    },
  });
  // The callback is only for errors, which also reach the returned stream's readers.
  return pipeline(createReadStream(file), createGunzip(), counter, () => {});
}
