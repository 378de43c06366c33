/** Raised when an archive is damaged, unsafe or over a limit; the message names the entry. */
export class ArchiveError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ArchiveError';
  }
}

/** Creates the error for an entry whose path would place it outside the target folder. */
export function outsideFolder(entry: string, reason: 'absolute' | 'dot-dot'): ArchiveError {
  const problem = reason === 'absolute' ? 'an absolute path' : 'a ".." segment';
  return new ArchiveError(
    `archive entry "${entry}" has ${problem}, which would write outside the model's folder`,
  );
}
