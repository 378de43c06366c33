import type { Readable } from 'node:stream';

/** An uploaded file written to a temporary place, hashed, and not yet part of the store. */
export interface StagedArtifact {
  readonly tempPath: string;
  readonly sha256: string;
  readonly sizeBytes: number;
}

/**
 * Content-addressed storage of model artifacts. An artifact is named by its sha256, so equal
 * bytes are stored once whatever the number of versions that use them.
 */
export interface ArtifactStore {
  /** Streams `source` to a temporary file, hashing it on the way; enforces `maxBytes`. */
  stage(source: Readable, maxBytes: number): Promise<StagedArtifact>;
  /** Moves a staged file to its durable place and returns that path. */
  commit(staged: StagedArtifact): Promise<string>;
  /** Deletes a staged file that will not be committed. */
  discard(staged: StagedArtifact): Promise<void>;
  /** Returns a local path to the artifact after checking its sha256 again. */
  open(sha256: string): Promise<string>;
  has(sha256: string): Promise<boolean>;
  remove(sha256: string): Promise<void>;
  /** The sha256 of every committed artifact. */
  list(): Promise<string[]>;
  /** Total bytes of committed artifacts. */
  diskUsage(): Promise<number>;
}
