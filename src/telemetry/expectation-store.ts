import type { ChecksRepository } from '../registry/checks.js';
import { nowIso, type VersionRecord } from '../registry/records.js';
import { type OutputExpectations, parseExpectations } from './expectations.js';

interface Stored {
  readonly expectations: OutputExpectations;
  readonly updatedAt: string;
}

/**
 * Output expectations of every version, kept in memory so the request path reads them
 * without the database; writes go to the registry first.
 */
export class ExpectationStore {
  readonly #repository: ChecksRepository;
  readonly #byVersion = new Map<string, Stored>();

  constructor(repository: ChecksRepository) {
    this.#repository = repository;
  }

  async load(): Promise<void> {
    for (const row of await this.#repository.listExpectations<OutputExpectations>()) {
      this.#byVersion.set(key(row.model, row.version), {
        expectations: row.value,
        updatedAt: row.updatedAt,
      });
    }
  }

  get(model: string, version: number): OutputExpectations | undefined {
    return this.#byVersion.get(key(model, version))?.expectations;
  }

  updatedAt(model: string, version: number): string | null {
    return this.#byVersion.get(key(model, version))?.updatedAt ?? null;
  }

  /** Checks a document against the version's outputs without storing it. */
  parse(
    record: Pick<VersionRecord, 'signature'>,
    body: unknown,
    field?: string,
  ): OutputExpectations {
    return parseExpectations(body, record.signature, field);
  }

  /** Replaces the expectations of a version; an empty set removes them. */
  async set(record: VersionRecord, expectations: OutputExpectations): Promise<void> {
    if (Object.keys(expectations).length === 0) {
      await this.clear(record.model, record.version);
      return;
    }
    const at = nowIso();
    await this.#repository.setExpectations(record.model, record.version, expectations, at);
    this.#byVersion.set(key(record.model, record.version), { expectations, updatedAt: at });
  }

  async clear(model: string, version: number): Promise<void> {
    await this.#repository.deleteExpectations(model, version);
    this.#byVersion.delete(key(model, version));
  }

  /** Drops a deleted version from memory; its row went with the version row. */
  forget(model: string, version: number): void {
    this.#byVersion.delete(key(model, version));
  }
}

function key(model: string, version: number): string {
  return `${model}:${version}`;
}
