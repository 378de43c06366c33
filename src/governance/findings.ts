import type { VersionState } from '../registry/schema.js';
import type { Health, HealthReasonKind } from './health.js';
import type { ProbeRunSummary } from './probes/results.js';

/** Category of a fleet report finding. */
export type FindingKind =
  | 'outdated'
  | 'redundant'
  | 'unused'
  | 'failing'
  | 'slow'
  | 'invalid_outputs';

export interface Finding {
  readonly kind: FindingKind;
  readonly model: string;
  readonly version: number;
  readonly reason: string;
  readonly action: string;
}

/** Facts about one version that the report rules read. */
export interface VersionFacts {
  readonly model: string;
  readonly version: number;
  readonly createdAt: string;
  readonly sha256: string;
  readonly state: VersionState;
  readonly aliases: readonly string[];
  readonly requests: number;
  readonly lastUsedAt: string | null;
  /** The last shadow run on this version as a staging version; shadow runs count nowhere else. */
  readonly shadowLastUsedAt: string | null;
  readonly health: Health;
  readonly probes: ProbeRunSummary | undefined;
  /** The version that `production` points at in this version's model, if any. */
  readonly productionVersion: number | undefined;
}

export interface ReportRules {
  /** Days without traffic after which a version older than production counts as outdated. */
  readonly outdatedDays: number;
  /** Days without traffic after which a version counts as unused. */
  readonly idleDays: number;
}

const DAY_MS = 86_400_000;

const FAILING_KINDS: ReadonlySet<HealthReasonKind> = new Set([
  'load_failed',
  'probe_failed',
  'error_rate',
]);

/**
 * Applies the report rules to every version that is not archived. A version can have several
 * findings; `unused` is left out for a version that is already `outdated`, since retiring it
 * settles both.
 */
export function findFindings(
  versions: readonly VersionFacts[],
  rules: ReportRules,
  now: number,
): Finding[] {
  const active = versions.filter((facts) => facts.state !== 'archived');
  const findings: Finding[] = [];
  const redundant = redundantFindings(active);
  for (const facts of active) {
    const outdated = outdatedFinding(facts, rules, now);
    if (outdated) findings.push(outdated);
    const copy = redundant.get(key(facts));
    if (copy) findings.push(copy);
    if (!outdated) {
      const unused = unusedFinding(facts, rules, now);
      if (unused) findings.push(unused);
    }
    findings.push(...healthFindings(facts));
  }
  return findings;
}

function outdatedFinding(
  facts: VersionFacts,
  rules: ReportRules,
  now: number,
): Finding | undefined {
  const production = facts.productionVersion;
  if (production === undefined || facts.version >= production || facts.aliases.length > 0)
    return undefined;
  const quiet = quietFor(facts, now);
  if (quiet !== undefined && quiet < rules.outdatedDays * DAY_MS) return undefined;
  const traffic =
    facts.lastUsedAt === null
      ? 'was never used'
      : `has had no traffic for ${days(quiet!)} (last used ${facts.lastUsedAt.slice(0, 10)})`;
  return {
    kind: 'outdated',
    model: facts.model,
    version: facts.version,
    reason: `newer version ${production} holds production, and this version ${traffic}`,
    action: `archive it (steward archive ${facts.model} ${facts.version}) or let steward gc retire it`,
  };
}

function unusedFinding(facts: VersionFacts, rules: ReportRules, now: number): Finding | undefined {
  // A staging version that shadow runs reach is under evaluation, even without live traffic.
  const shadowQuiet =
    facts.shadowLastUsedAt === null ? undefined : now - Date.parse(facts.shadowLastUsedAt);
  if (shadowQuiet !== undefined && shadowQuiet < rules.idleDays * DAY_MS) return undefined;
  if (facts.requests === 0) {
    const age = Math.max(0, now - Date.parse(facts.createdAt));
    return {
      kind: 'unused',
      model: facts.model,
      version: facts.version,
      reason: `never used since its upload ${days(age)} ago`,
      action: unusedAction(facts),
    };
  }
  const quiet = quietFor(facts, now);
  if (quiet === undefined || quiet < rules.idleDays * DAY_MS) return undefined;
  return {
    kind: 'unused',
    model: facts.model,
    version: facts.version,
    reason: `idle for ${days(quiet)} (last used ${facts.lastUsedAt!.slice(0, 10)})`,
    action: unusedAction(facts),
  };
}

function unusedAction(facts: VersionFacts): string {
  if (facts.aliases.length > 0) {
    const aliases = facts.aliases.map((alias) => `"${alias}"`).join(', ');
    return `check whether anyone still calls ${facts.model} through ${aliases}; if not, remove the alias and archive it`;
  }
  return `archive it (steward archive ${facts.model} ${facts.version}) or delete it`;
}

/**
 * Finds versions that duplicate another: the same artifact bytes, or the same outputs on the
 * same probe requests. In each group the version behind an alias (else the oldest) is kept and
 * the others are reported.
 */
function redundantFindings(versions: readonly VersionFacts[]): Map<string, Finding> {
  const found = new Map<string, Finding>();
  for (const group of groupBy(versions, (facts) => facts.sha256).values()) {
    if (group.length < 2) continue;
    const keep = canonical(group);
    for (const facts of group) {
      if (facts === keep) continue;
      found.set(key(facts), {
        kind: 'redundant',
        model: facts.model,
        version: facts.version,
        reason: `same bytes (sha256 ${facts.sha256.slice(0, 12)}) as ${keep.model} version ${keep.version}`,
        action: duplicateAction(facts, keep),
      });
    }
  }
  const probed = versions.filter((facts) => probeSignature(facts) !== undefined);
  for (const group of groupBy(probed, (facts) => probeSignature(facts)!).values()) {
    if (group.length < 2) continue;
    const keep = canonical(group);
    const count = keep.probes!.results.length;
    for (const facts of group) {
      if (facts === keep || found.has(key(facts))) continue;
      found.set(key(facts), {
        kind: 'redundant',
        model: facts.model,
        version: facts.version,
        reason: `outputs identical to ${keep.model} version ${keep.version} on its ${count} probe${count === 1 ? '' : 's'}`,
        action: `check whether it differs from ${keep.model} version ${keep.version} at all; if not, archive one of them`,
      });
    }
  }
  return found;
}

/** Advises on a copy of another version's bytes without breaking the callers of its aliases. */
function duplicateAction(facts: VersionFacts, keep: VersionFacts): string {
  const keptVersion = `${keep.model} version ${keep.version}`;
  if (facts.aliases.length === 0) return `delete it and use ${keptVersion}`;
  const aliases = facts.aliases.map((alias) => `"${alias}"`).join(', ');
  return `callers reach it through ${aliases}; move them to ${keptVersion}, then remove the alias and archive it`;
}

/** The probe requests and their exact outputs, when every probe of the latest run returned outputs. */
function probeSignature(facts: VersionFacts): string | undefined {
  const results = facts.probes?.results;
  if (!results || results.length === 0) return undefined;
  if (results.some((result) => result.outputsSha256 === null)) return undefined;
  return results
    .map((result) => `${result.requestSha256}=${result.outputsSha256}`)
    .sort()
    .join(',');
}

function canonical(group: readonly VersionFacts[]): VersionFacts {
  const ordered = [...group].sort(
    (a, b) =>
      Number(b.aliases.length > 0) - Number(a.aliases.length > 0) ||
      a.createdAt.localeCompare(b.createdAt) ||
      a.model.localeCompare(b.model) ||
      a.version - b.version,
  );
  return ordered[0]!;
}

function healthFindings(facts: VersionFacts): Finding[] {
  const findings: Finding[] = [];
  const failing = facts.health.reasons.filter((reason) => FAILING_KINDS.has(reason.kind));
  if (failing.length > 0) {
    findings.push({
      kind: 'failing',
      model: facts.model,
      version: facts.version,
      reason: failing.map((reason) => reason.message).join('; '),
      action: failingAction(facts, failing[0]!.kind),
    });
  }
  for (const reason of facts.health.reasons) {
    if (reason.kind === 'slow') {
      findings.push({
        kind: 'slow',
        model: facts.model,
        version: facts.version,
        reason: reason.message,
        action:
          'give it more copies or threads (--instances, --intra-op-threads), or raise its max_p95_ms threshold if the latency is expected',
      });
    }
    if (reason.kind === 'invalid_outputs') {
      findings.push({
        kind: 'invalid_outputs',
        model: facts.model,
        version: facts.version,
        reason: reason.message,
        action: `inspect the sampled responses (GET /api/v1/models/${facts.model}/versions/${facts.version}/violations) and fix or roll back the model`,
      });
    }
  }
  return findings;
}

function failingAction(facts: VersionFacts, kind: HealthReasonKind): string {
  const live = facts.aliases.includes('production')
    ? 'move production back to a good version, then '
    : '';
  switch (kind) {
    case 'load_failed':
      return `${live}upload the model file again, or delete the version`;
    case 'probe_failed':
      return `${live}compare its outputs with the probes' expected values before it takes traffic`;
    default:
      return `${live}read the failed requests in the server log (model ${facts.model}, version ${facts.version})`;
  }
}

/** Milliseconds since the last request, or undefined for a version never used. */
function quietFor(facts: VersionFacts, now: number): number | undefined {
  if (facts.lastUsedAt === null) return undefined;
  return Math.max(0, now - Date.parse(facts.lastUsedAt));
}

function days(ms: number): string {
  const count = Math.floor(ms / DAY_MS);
  if (count === 0) return 'less than a day';
  return count === 1 ? '1 day' : `${count} days`;
}

function key(facts: { model: string; version: number }): string {
  return `${facts.model}:${facts.version}`;
}

function groupBy<T>(items: readonly T[], keyOf: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const id = keyOf(item);
    groups.set(id, [...(groups.get(id) ?? []), item]);
  }
  return groups;
}
