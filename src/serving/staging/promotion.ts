import type { Logger } from 'pino';
import { StewardError } from '../../errors.js';
import type { AuditRecorder } from '../../registry/audit.js';
import { Mutex } from '../../util/async.js';
import type { AliasService } from '../aliases.js';
import type { Catalog } from '../catalog.js';
import type { ComparisonReport } from './comparison.js';
import type { ComparisonBook } from './comparison-book.js';
import { signatureMismatch } from './signature-match.js';

export interface PromotionRequest {
  readonly model: string;
  readonly actor: string;
  readonly reason?: string;
  /** Rejects the promotion below this many compared requests. */
  readonly minRequests?: number;
  /** Rejects the promotion below this share of agreeing requests, in percent. */
  readonly minAgreementPercent?: number;
  /** Promotes even when the staging version would reject requests that production accepts. */
  readonly force?: boolean;
}

export interface PromotionResult {
  readonly model: string;
  readonly productionVersion: number;
  readonly previousVersion: number | null;
  /** The comparison that the gate judged, as it stood before the switch; null without one. */
  readonly comparison: ComparisonReport | null;
}

export interface RollbackResult {
  readonly model: string;
  readonly productionVersion: number;
  /** The version rolled back from, now behind `previous`, so a second rollback undoes this one. */
  readonly previousVersion: number | null;
}

/**
 * Promotes the staging version to production and rolls back to the previous one. Both move
 * `production` with the safe switch (the new version loads before the alias moves). Every
 * alias change is recorded in the alias history and the audit log with its actor and reason,
 * and the audit log also gets one `promote` or `rollback` entry for the whole step.
 */
export class Promotion {
  readonly #catalog: Catalog;
  readonly #aliases: AliasService;
  readonly #comparisons: ComparisonBook;
  readonly #audit: AuditRecorder;
  readonly #logger: Logger;
  /** One promotion or rollback per model at a time. */
  readonly #locks = new Map<string, Mutex>();

  constructor(options: {
    catalog: Catalog;
    aliases: AliasService;
    comparisons: ComparisonBook;
    audit: AuditRecorder;
    logger: Logger;
  }) {
    this.#catalog = options.catalog;
    this.#aliases = options.aliases;
    this.#comparisons = options.comparisons;
    this.#audit = options.audit;
    this.#logger = options.logger;
  }

  /**
   * Moves `production` to the staging version, points `previous` at the old production
   * version and removes `staging`. Rejects with CONFLICT when staging would reject requests
   * that production takes (unless forced), and with PROMOTION_GATE_FAILED when a gate is set
   * and the comparison falls short of it.
   */
  async promote(request: PromotionRequest): Promise<PromotionResult> {
    return this.#locked(request.model, async () => {
      this.#checkModel(request.model);
      const staging = this.#catalog.aliasTarget(request.model, 'staging');
      if (staging === undefined) {
        throw new StewardError(
          'CONFLICT',
          `model "${request.model}" has no staging alias; point staging at the candidate version first`,
          { field: 'staging' },
        );
      }
      const production = this.#catalog.aliasTarget(request.model, 'production');
      if (production === staging) {
        throw new StewardError(
          'CONFLICT',
          `model "${request.model}" version ${staging} is already production`,
          { field: 'staging' },
        );
      }
      if (production !== undefined && !request.force) {
        this.#checkSignature(request.model, production, staging);
      }
      const report = this.#comparisons.current(request.model)?.report() ?? null;
      checkGate(request, staging, production, report);

      const figures = report ? ` (${report.summary})` : '';
      const note = request.reason ? `${request.reason}; ` : '';
      await this.#aliases.set({
        model: request.model,
        alias: 'production',
        version: staging,
        actor: request.actor,
        reason: `${note}promoted from staging${figures}`,
      });
      if (production !== undefined) {
        await this.#aliases.set({
          model: request.model,
          alias: 'previous',
          version: production,
          actor: request.actor,
          reason: `production before version ${staging} was promoted`,
        });
      }
      await this.#aliases.remove({
        model: request.model,
        alias: 'staging',
        actor: request.actor,
        reason: `version ${staging} promoted to production`,
      });
      this.#audit.record({
        action: 'promote',
        model: request.model,
        version: staging,
        actor: request.actor,
        reason: request.reason ?? '',
        details: {
          from_version: production ?? null,
          to_version: staging,
          summary: report?.summary ?? null,
          compared_requests: report?.agreement.requests ?? 0,
          agreement_percent: report?.agreement.percent ?? null,
          p95_latency_ratio: report?.latencyMs.p95Ratio ?? null,
          min_requests: request.minRequests ?? null,
          min_agreement_percent: request.minAgreementPercent ?? null,
          forced: request.force === true,
        },
      });
      this.#logger.info(
        { model: request.model, from: production ?? null, to: staging, actor: request.actor },
        'staging version promoted',
      );
      return {
        model: request.model,
        productionVersion: staging,
        previousVersion: production ?? null,
        comparison: report,
      };
    });
  }

  /** Moves `production` back to `previous`, and `previous` to the version rolled back from. */
  async rollback(request: {
    model: string;
    actor: string;
    reason?: string;
  }): Promise<RollbackResult> {
    return this.#locked(request.model, async () => {
      this.#checkModel(request.model);
      const previous = this.#catalog.aliasTarget(request.model, 'previous');
      if (previous === undefined) {
        throw new StewardError(
          'CONFLICT',
          `model "${request.model}" has no previous alias to roll back to; it is set when a staging version is promoted`,
          { field: 'previous' },
        );
      }
      const production = this.#catalog.aliasTarget(request.model, 'production');
      const note = request.reason ? `${request.reason}; ` : '';
      const from = production === undefined ? '' : ` from version ${production}`;
      await this.#aliases.set({
        model: request.model,
        alias: 'production',
        version: previous,
        actor: request.actor,
        reason: `${note}rolled back${from}`,
      });
      if (production === undefined || production === previous) {
        await this.#aliases.remove({
          model: request.model,
          alias: 'previous',
          actor: request.actor,
          reason: `version ${previous} is production again`,
        });
      } else {
        await this.#aliases.set({
          model: request.model,
          alias: 'previous',
          version: production,
          actor: request.actor,
          reason: `production before the rollback to version ${previous}`,
        });
      }
      this.#audit.record({
        action: 'rollback',
        model: request.model,
        version: previous,
        actor: request.actor,
        reason: request.reason ?? '',
        details: { from_version: production ?? null, to_version: previous },
      });
      this.#logger.info(
        { model: request.model, from: production ?? null, to: previous, actor: request.actor },
        'production rolled back',
      );
      const previousVersion = production === previous ? null : (production ?? null);
      return { model: request.model, productionVersion: previous, previousVersion };
    });
  }

  /** Rejects a promotion that would break production's callers, naming the difference. */
  #checkSignature(model: string, production: number, staging: number): void {
    const current = this.#catalog.getVersion(model, production);
    const candidate = this.#catalog.getVersion(model, staging);
    if (!current || !candidate) return;
    const mismatch = signatureMismatch(current.signature, candidate.signature);
    if (mismatch === null) return;
    throw new StewardError(
      'CONFLICT',
      `promotion of model "${model}" rejected: staging version ${staging} does not take the ` +
        `requests of production version ${production} (${mismatch}); update the callers, ` +
        'then promote with force=true (steward promote --force)',
      { field: 'force' },
    );
  }

  #checkModel(model: string): void {
    if (!this.#catalog.getModel(model)) {
      throw new StewardError('MODEL_NOT_FOUND', `model "${model}" is not registered`, {
        field: 'name',
      });
    }
  }

  async #locked<T>(model: string, work: () => Promise<T>): Promise<T> {
    let lock = this.#locks.get(model);
    if (!lock) {
      lock = new Mutex();
      this.#locks.set(model, lock);
    }
    const release = await lock.lock();
    try {
      return await work();
    } finally {
      release();
    }
  }
}

/** Rejects a promotion whose comparison is below a requested minimum, naming the figures. */
function checkGate(
  request: PromotionRequest,
  staging: number,
  production: number | undefined,
  report: ComparisonReport | null,
): void {
  const { minRequests, minAgreementPercent } = request;
  const compared = report?.agreement.requests ?? 0;
  const agreement = report?.agreement.percent ?? null;
  const tooFew = minRequests !== undefined && compared < minRequests;
  const tooLow =
    minAgreementPercent !== undefined && (agreement === null || agreement < minAgreementPercent);
  if (!tooFew && !tooLow) return;

  const requests =
    `${compared} compared requests` +
    (minRequests === undefined ? '' : ` (minimum ${minRequests})`);
  const agreed =
    (agreement === null ? 'no agreement figure' : `${agreement}% agreement`) +
    (minAgreementPercent === undefined ? '' : ` (minimum ${minAgreementPercent}%)`);
  const against =
    production === undefined
      ? 'with no production version'
      : `against production version ${production}`;
  throw new StewardError(
    'PROMOTION_GATE_FAILED',
    `promotion of model "${request.model}" rejected: staging version ${staging} has ${requests} ` +
      `and ${agreed} ${against}; let more requests be compared, or lower the gate`,
    { field: tooFew ? 'min_requests' : 'min_agreement_percent' },
  );
}
