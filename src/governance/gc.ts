import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { messageOf } from '../errors.js';
import type { AuditRecorder } from '../registry/audit.js';
import type { ArchiveService } from '../serving/archiving.js';
import type { Catalog } from '../serving/catalog.js';
import type { LifecycleService } from '../serving/lifecycle.js';
import type { ModelManager } from '../serving/model-manager.js';
import type { UsageTracker } from '../telemetry/usage.js';
import { Mutex } from '../util/async.js';
import type { RetirementPolicy } from './policy.js';
import { type PlannedStep, planRetirement, type VersionFacts } from './retirement-plan.js';

/**
 * The outcome of one step: `planned` in a dry run; `done`, `failed` or `skipped` in a real run.
 * A protected version is `skipped` in both. A real run also skips a step whose version changed
 * since planning in a way that makes the step moot (already archived, already deleted).
 */
export type StepOutcome = 'planned' | 'done' | 'failed' | 'skipped';

export interface StepResult extends PlannedStep {
  readonly outcome: StepOutcome;
  /** The reason a step failed or was skipped at run time; null otherwise. */
  readonly error: string | null;
}

export interface GcRun {
  readonly runId: string;
  readonly dryRun: boolean;
  /** The time the rules were evaluated at. */
  readonly now: string;
  readonly results: readonly StepResult[];
}

/**
 * Runs the retirement policy: plans with `planRetirement`, then, unless it is a dry run,
 * archives and deletes version by version. A failed step is reported in its result and the run
 * goes on. Runs take turns, so a second run waits for the first.
 */
export class GarbageCollector {
  readonly #policy: RetirementPolicy;
  readonly #catalog: Catalog;
  readonly #manager: ModelManager;
  readonly #usage: UsageTracker;
  readonly #archive: ArchiveService;
  readonly #lifecycle: LifecycleService;
  readonly #audit: AuditRecorder;
  readonly #logger: Logger;
  readonly #lock = new Mutex();

  constructor(options: {
    policy: RetirementPolicy;
    catalog: Catalog;
    manager: ModelManager;
    usage: UsageTracker;
    archive: ArchiveService;
    lifecycle: LifecycleService;
    audit: AuditRecorder;
    logger: Logger;
  }) {
    this.#policy = options.policy;
    this.#catalog = options.catalog;
    this.#manager = options.manager;
    this.#usage = options.usage;
    this.#archive = options.archive;
    this.#lifecycle = options.lifecycle;
    this.#audit = options.audit;
    this.#logger = options.logger;
  }

  get policy(): RetirementPolicy {
    return this.#policy;
  }

  /** Plans the steps a run at `now` would take, from the current state. */
  plan(now: Date): PlannedStep[] {
    return planRetirement(this.#facts(), this.#policy, now);
  }

  async run(options: { dryRun: boolean; actor: string; now?: Date }): Promise<GcRun> {
    const release = await this.#lock.lock();
    try {
      const now = options.now ?? new Date();
      const runId = randomUUID();
      const steps = this.plan(now);
      const results: StepResult[] = [];
      for (const step of steps) {
        results.push(
          options.dryRun ? dryResult(step) : await this.#execute(step, options.actor, runId),
        );
      }
      if (!options.dryRun) this.#finish(runId, options.actor, now, results);
      return { runId, dryRun: options.dryRun, now: now.toISOString(), results };
    } finally {
      release();
    }
  }

  #facts(): VersionFacts[] {
    return this.#catalog.allVersions().map((record) => ({
      record,
      aliases: this.#catalog.aliasesOf(record.model, record.version),
      pinned: this.#manager.get(record.model, record.version)?.pinned ?? false,
      lastUsedAt: this.#usage.snapshot(record.model, record.version).lastUsedAt,
    }));
  }

  async #execute(step: PlannedStep, actor: string, runId: string): Promise<StepResult> {
    if (step.action === 'skip') return { ...step, outcome: 'skipped', error: null };
    const record = this.#catalog.getVersion(step.model, step.version);
    if (!record) return { ...step, outcome: 'skipped', error: 'the version no longer exists' };
    const reason = `retirement policy: ${step.reasons.join('; ')}`;
    try {
      if (step.action === 'archive') {
        const result = await this.#archive.archive(record, { actor, reason });
        if (!result.changed) return { ...step, outcome: 'skipped', error: 'already archived' };
      } else {
        if (record.state !== 'archived') {
          return { ...step, outcome: 'skipped', error: 'the version was restored meanwhile' };
        }
        // The same protection as archiving: no alias, no pin.
        this.#archive.checkRetirable(record);
        await this.#lifecycle.deleteVersion(record, { force: false, actor, reason });
      }
      return { ...step, outcome: 'done', error: null };
    } catch (error) {
      this.#logger.error(
        { runId, model: step.model, version: step.version, action: step.action, err: error },
        'gc step failed',
      );
      return { ...step, outcome: 'failed', error: messageOf(error) };
    }
  }

  #finish(runId: string, actor: string, now: Date, results: readonly StepResult[]): void {
    const count = (action: string, outcome: StepOutcome) =>
      results.filter((r) => r.action === action && r.outcome === outcome).length;
    const summary = {
      run_id: runId,
      evaluated_at: now.toISOString(),
      archived: count('archive', 'done'),
      deleted: count('delete', 'done'),
      protected: count('skip', 'skipped'),
      failed: results.filter((r) => r.outcome === 'failed').length,
    };
    this.#audit.record({
      action: 'gc',
      model: null,
      version: null,
      actor,
      reason: this.#policy.source ? `policy ${this.#policy.source}` : 'no policy configured',
      details: summary,
    });
    this.#logger.info({ actor, ...summary }, 'gc run finished');
  }
}

function dryResult(step: PlannedStep): StepResult {
  return { ...step, outcome: step.action === 'skip' ? 'skipped' : 'planned', error: null };
}
