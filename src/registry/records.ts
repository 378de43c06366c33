import type { Signature } from '../tensors/types.js';
import type { VersionState } from './schema.js';

/** A registered model, as the rest of Steward sees it. */
export interface ModelRecord {
  readonly name: string;
  readonly description: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly createdAt: string;
}

/** A registered version of a model and the artifact behind it. */
export interface VersionRecord {
  readonly model: string;
  readonly version: number;
  readonly format: string;
  readonly sha256: string;
  readonly sizeBytes: number;
  readonly signature: Signature;
  readonly sourceName: string;
  readonly description: string;
  readonly state: VersionState;
  readonly stateReason: string;
  readonly createdAt: string;
  readonly archivedAt: string | null;
  readonly restoredAt: string | null;
}

export interface AliasRecord {
  readonly model: string;
  readonly alias: string;
  readonly version: number;
  readonly updatedAt: string;
}

export interface AliasChange {
  readonly model: string;
  readonly alias: string;
  readonly fromVersion: number | null;
  readonly toVersion: number | null;
  readonly actor: string;
  readonly reason: string;
  readonly changedAt: string;
}

/** Model names: 1 to 128 characters, letters, digits, dot, underscore and dash, no leading symbol. */
export const MODEL_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** Alias names follow the model name rule but may not be all digits, which would read as a version. */
export const ALIAS_NAME_PATTERN = /^(?!\d+$)[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export function nowIso(): string {
  return new Date().toISOString();
}
