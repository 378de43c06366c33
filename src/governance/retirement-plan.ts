import type { VersionRecord } from '../registry/records.js';
import { type RetirementPolicy, type RetirementRules, rulesFor } from './policy.js';

/** The action gc takes on a version. `skip` means a rule matched, but an alias or a pin protects the version. */
export type GcAction = 'archive' | 'delete' | 'skip';

/** The facts about a version that the rules read. */
export interface VersionFacts {
  readonly record: VersionRecord;
  readonly aliases: readonly string[];
  readonly pinned: boolean;
  /** The last request that reached the version, or null if none did. */
  readonly lastUsedAt: string | null;
}

/** One step of a gc plan. */
export interface PlannedStep {
  readonly model: string;
  readonly version: number;
  readonly action: GcAction;
  /** The rules that matched, each with its reason. */
  readonly reasons: readonly string[];
  /** The aliases and pins that protect a skipped version, such as `alias "production"` and `pin`. */
  readonly protectedBy: readonly string[];
}

const DAY_MS = 86_400_000;

/**
 * Plans a gc run at `now`, without side effects, so a dry run and a real run at the same time
 * and state plan the same steps. Per model, with its rules:
 *
 * - `keep_newest` K: versions below the K highest version numbers are archived.
 * - `archive_unused_after` N: a version whose last request, upload or restore is older than N
 *   is archived.
 * - `delete_archived_after` R: a version archived for longer than R is deleted.
 *
 * A version behind an alias or pinned is never archived or deleted. It gets a `skip` step that
 * names what protects it. Versions that no rule matches get no step. Steps are ordered by model
 * and version.
 */
export function planRetirement(
  facts: readonly VersionFacts[],
  policy: RetirementPolicy,
  now: Date,
): PlannedStep[] {
  const byModel = new Map<string, VersionFacts[]>();
  for (const fact of facts) {
    const list = byModel.get(fact.record.model) ?? [];
    list.push(fact);
    byModel.set(fact.record.model, list);
  }
  const steps: PlannedStep[] = [];
  for (const model of [...byModel.keys()].sort()) {
    const versions = byModel.get(model)!.sort((a, b) => a.record.version - b.record.version);
    steps.push(...planModel(versions, rulesFor(policy, model), now.getTime()));
  }
  return steps;
}

function planModel(
  versions: readonly VersionFacts[],
  rules: RetirementRules,
  now: number,
): PlannedStep[] {
  const newest = new Set(
    versions
      .map((fact) => fact.record.version)
      .sort((a, b) => b - a)
      .slice(0, rules.keepNewest ?? versions.length),
  );
  const steps: PlannedStep[] = [];
  for (const fact of versions) {
    const { record } = fact;
    const reasons: string[] = [];
    let action: 'archive' | 'delete';
    if (record.state === 'archived') {
      action = 'delete';
      const reason = deleteReason(record, rules, now);
      if (reason) reasons.push(reason);
    } else {
      action = 'archive';
      if (!newest.has(record.version)) {
        reasons.push(
          `older than the ${rules.keepNewest} newest versions (keep_newest ${rules.keepNewest})`,
        );
      }
      const unused = unusedReason(fact, rules, now);
      if (unused) reasons.push(unused);
    }
    if (reasons.length === 0) continue;
    const protectedBy = [
      ...fact.aliases.map((alias) => `alias "${alias}"`),
      ...(fact.pinned ? ['pin'] : []),
    ];
    steps.push({
      model: record.model,
      version: record.version,
      action: protectedBy.length > 0 ? 'skip' : action,
      reasons,
      protectedBy,
    });
  }
  return steps;
}

/**
 * The unused rule measures from the latest of the last request, the upload and the last
 * restore, so a version restored by hand is not archived again by the next run.
 */
function unusedReason(fact: VersionFacts, rules: RetirementRules, now: number): string | null {
  const limit = rules.archiveUnusedAfter;
  if (!limit) return null;
  const { record } = fact;
  const since = Math.max(
    timeOf(fact.lastUsedAt),
    timeOf(record.createdAt),
    timeOf(record.restoredAt),
  );
  const idle = now - since;
  if (idle <= limit.ms) return null;
  const usage = fact.lastUsedAt === null ? 'never used' : 'unused';
  return `${usage} for ${formatAge(idle)}, longer than archive_unused_after ${limit.text}`;
}

function deleteReason(record: VersionRecord, rules: RetirementRules, now: number): string | null {
  const limit = rules.deleteArchivedAfter;
  // A version archived at an unknown time is kept: its retention period cannot be measured.
  if (!limit || record.archivedAt === null) return null;
  const archivedFor = now - timeOf(record.archivedAt);
  if (archivedFor <= limit.ms) return null;
  return `archived for ${formatAge(archivedFor)}, longer than delete_archived_after ${limit.text}`;
}

function timeOf(iso: string | null): number {
  return iso === null ? Number.NEGATIVE_INFINITY : Date.parse(iso);
}

/** Formats a positive duration in its largest whole unit: "40 d", "5 h", "12 min", "30 s". */
export function formatAge(ms: number): string {
  if (ms >= 2 * DAY_MS) return `${Math.floor(ms / DAY_MS)} d`;
  if (ms >= 2 * 3_600_000) return `${Math.floor(ms / 3_600_000)} h`;
  if (ms >= 2 * 60_000) return `${Math.floor(ms / 60_000)} min`;
  return `${Math.floor(ms / 1000)} s`;
}
