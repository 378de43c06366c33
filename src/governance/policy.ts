import { readFileSync } from 'node:fs';
import { parseDuration } from '../config/units.js';
import { MODEL_NAME_PATTERN } from '../registry/records.js';

/** A duration as written in the policy file, and its length in milliseconds. */
export interface PolicyDuration {
  readonly text: string;
  readonly ms: number;
}

/** The retirement rules of one model; null turns a rule off. */
export interface RetirementRules {
  /** Archive versions older than the newest K (by version number). */
  readonly keepNewest: number | null;
  /** Archive versions that served no request for this long. */
  readonly archiveUnusedAfter: PolicyDuration | null;
  /** Delete versions that have been archived for this long. */
  readonly deleteArchivedAfter: PolicyDuration | null;
}

/** Retirement rules for every model: defaults, and overrides per model name. */
export interface RetirementPolicy {
  /** The file the policy came from; null when no policy is configured. */
  readonly source: string | null;
  readonly defaults: RetirementRules;
  readonly models: ReadonlyMap<string, Partial<RetirementRules>>;
}

const RULE_KEYS = {
  keep_newest: 'keepNewest',
  archive_unused_after: 'archiveUnusedAfter',
  delete_archived_after: 'deleteArchivedAfter',
} as const satisfies Record<string, keyof RetirementRules>;

type RuleKey = keyof typeof RULE_KEYS;

const NO_RULES: RetirementRules = {
  keepNewest: null,
  archiveUnusedAfter: null,
  deleteArchivedAfter: null,
};

/** The policy in force without a policy file: no rule, so gc does nothing. */
export const EMPTY_POLICY: RetirementPolicy = Object.freeze({
  source: null,
  defaults: NO_RULES,
  models: new Map(),
});

/** Returns the rules that apply to one model: its overrides over the defaults. */
export function rulesFor(policy: RetirementPolicy, model: string): RetirementRules {
  return { ...policy.defaults, ...policy.models.get(model) };
}

/** An invalid policy file; the message names the file, the key and the fix. */
export class PolicyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PolicyError';
  }
}

/** Reads and validates a policy file (JSON, shape in docs/retirement.md). */
export function readPolicyFile(file: string): RetirementPolicy {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new PolicyError(`cannot read policy file ${file}: ${reason}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new PolicyError(`policy file ${file} is not valid JSON: ${(error as Error).message}`);
  }
  return parsePolicy(parsed, file);
}

/** Validates a parsed policy document; `source` names it in error messages. */
export function parsePolicy(document: unknown, source: string): RetirementPolicy {
  const fail = (message: string): never => {
    throw new PolicyError(`policy file ${source}: ${message}`);
  };
  const root = asObject(document, 'the document', fail);
  checkKeys(root, ['defaults', 'models'], '', fail);

  const defaults = { ...NO_RULES, ...parseRules(root.defaults ?? {}, 'defaults', fail) };
  const models = new Map<string, Partial<RetirementRules>>();
  const section = asObject(root.models ?? {}, '"models"', fail);
  for (const [name, rules] of Object.entries(section)) {
    if (!MODEL_NAME_PATTERN.test(name)) {
      fail(`"models" has the key "${name}", which is not a valid model name`);
    }
    models.set(name, parseRules(rules, `models.${name}`, fail));
  }
  return Object.freeze({ source, defaults: Object.freeze(defaults), models });
}

function parseRules(
  value: unknown,
  where: string,
  fail: (message: string) => never,
): Partial<RetirementRules> {
  const section = asObject(value, `"${where}"`, fail);
  checkKeys(section, Object.keys(RULE_KEYS), `${where}.`, fail);
  const rules: { -readonly [K in keyof RetirementRules]?: RetirementRules[K] } = {};
  for (const [key, raw] of Object.entries(section) as Array<[RuleKey, unknown]>) {
    const field = `"${where}.${key}"`;
    if (raw === null) {
      rules[RULE_KEYS[key]] = null;
    } else if (key === 'keep_newest') {
      if (typeof raw !== 'number' || !Number.isSafeInteger(raw) || raw < 1) {
        fail(`${field} must be a whole number of at least 1, or null; received ${show(raw)}`);
      }
      rules.keepNewest = raw as number;
    } else {
      rules[RULE_KEYS[key]] = parsePolicyDuration(raw, field, fail);
    }
  }
  return rules;
}

function parsePolicyDuration(
  raw: unknown,
  field: string,
  fail: (message: string) => never,
): PolicyDuration {
  // A unit is required: a bare number could mean days to one reader and milliseconds to another.
  if (typeof raw !== 'string' || !/^\s*\d+(\.\d+)?\s*(ms|s|m|h|d)\s*$/i.test(raw)) {
    return fail(
      `${field} must be a duration with a unit (ms, s, m, h or d), such as "30d", or null; received ${show(raw)}`,
    );
  }
  return { text: raw.trim(), ms: parseDuration(raw, field) };
}

function asObject(
  value: unknown,
  label: string,
  fail: (message: string) => never,
): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return fail(`${label} must be a JSON object; received ${show(value)}`);
  }
  return value as Record<string, unknown>;
}

function checkKeys(
  section: Record<string, unknown>,
  allowed: readonly string[],
  prefix: string,
  fail: (message: string) => never,
): void {
  for (const key of Object.keys(section)) {
    if (!allowed.includes(key)) {
      fail(`unknown key "${prefix}${key}"; use ${allowed.map((k) => `"${k}"`).join(', ')}`);
    }
  }
}

function show(value: unknown): string {
  const text = JSON.stringify(value);
  return text === undefined ? String(value) : text;
}

/** The policy as the API returns it, with durations as written in the file. */
export function presentPolicy(policy: RetirementPolicy) {
  const rules = (r: Partial<RetirementRules>) => {
    const out: Record<string, number | string | null> = {};
    if (r.keepNewest !== undefined) out.keep_newest = r.keepNewest;
    if (r.archiveUnusedAfter !== undefined) {
      out.archive_unused_after = r.archiveUnusedAfter?.text ?? null;
    }
    if (r.deleteArchivedAfter !== undefined) {
      out.delete_archived_after = r.deleteArchivedAfter?.text ?? null;
    }
    return out;
  };
  return {
    source: policy.source,
    defaults: rules(policy.defaults),
    models: Object.fromEntries([...policy.models].map(([name, r]) => [name, rules(r)])),
  };
}
