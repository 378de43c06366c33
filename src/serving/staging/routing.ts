import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { VersionRecord } from '../../registry/records.js';
import type { Catalog } from '../catalog.js';
import type { Comparison } from './comparison.js';
import type { ComparisonBook } from './comparison-book.js';
import type { StagingSettings } from './settings.js';
import { inputMismatch } from './signature-match.js';

/** The version that serves one inference request, and the staging run to mirror it to. */
export interface Route {
  readonly record: VersionRecord;
  /** Set when the request was sampled for shadowing: run it on staging after the response. */
  readonly shadow: { readonly comparison: Comparison; readonly staging: VersionRecord } | undefined;
}

/**
 * Resolves inference requests with the staging rules. A request that names only the model
 * may go to the staging version by the canary weight. A request served by `production`, by
 * default or by naming the alias, may be mirrored to staging. A request that names a version
 * number or another alias goes where it names, and is never mirrored.
 */
export class StagingRouter {
  readonly #catalog: Catalog;
  readonly #settings: StagingSettings;
  readonly #comparisons: ComparisonBook;
  /** Whether each production and staging pair, by artifact digests, accepts the same inputs. */
  readonly #compatible = new Map<string, boolean>();

  constructor(catalog: Catalog, settings: StagingSettings, comparisons: ComparisonBook) {
    this.#catalog = catalog;
    this.#settings = settings;
    this.#comparisons = comparisons;
  }

  route(model: string, reference: string | undefined, headers: IncomingHttpHeaders): Route {
    const record = this.#catalog.resolve(model, reference);
    const plain: Route = { record, shadow: undefined };
    if (reference !== undefined && reference !== 'production') return plain;
    if (this.#catalog.aliasTarget(model, 'production') !== record.version) return plain;
    const comparison = this.#comparisons.current(model);
    if (!comparison) return plain;
    const staging = this.#catalog.getVersion(model, comparison.stagingVersion);
    if (!staging || staging.state === 'archived') return plain;

    const settings = this.#settings.effective(model);
    if (reference === undefined && settings.canaryPercent > 0 && this.compatible(record, staging)) {
      const key = settings.canaryHeader === undefined ? undefined : headers[settings.canaryHeader];
      const toStaging = canaryPick(model, key, settings.canaryPercent);
      comparison.countCanary(toStaging);
      if (toStaging) return { record: staging, shadow: undefined };
    }
    const sampled = settings.shadowPercent >= 100 || Math.random() * 100 < settings.shadowPercent;
    return sampled ? { record, shadow: { comparison, staging } } : plain;
  }

  /**
   * Returns whether staging accepts every request that production accepts: the same input
   * names and datatypes, and each dimension either the same or of any size in staging.
   */
  compatible(production: VersionRecord, staging: VersionRecord): boolean {
    const key = `${production.sha256}:${staging.sha256}`;
    let compatible = this.#compatible.get(key);
    if (compatible === undefined) {
      compatible = inputMismatch(production.signature, staging.signature) === null;
      this.#compatible.set(key, compatible);
    }
    return compatible;
  }
}

/**
 * Decides whether one request goes to staging. With a header value, the choice is a hash of
 * the model name and the value, so one caller always gets the same version, and raising the
 * weight keeps the callers that were on staging there. Without one, it is random.
 */
export function canaryPick(
  model: string,
  key: string | string[] | undefined,
  percent: number,
): boolean {
  if (percent <= 0) return false;
  if (percent >= 100) return true;
  if (key === undefined) return Math.random() * 100 < percent;
  const value = Array.isArray(key) ? key.join(',') : key;
  const digest = createHash('sha256').update(model).update('\u0000').update(value).digest();
  // The first 32 bits of the digest as a fraction of 2^32, uniform over [0, 100).
  return (digest.readUInt32BE(0) / 2 ** 32) * 100 < percent;
}
