import { formatReceived, StewardError } from '../errors.js';
import type { ChecksRepository, StoredThresholds } from '../registry/checks.js';
import { nowIso } from '../registry/records.js';

/** The limits the health rules apply to one model's versions. */
export interface HealthThresholds {
  /** Share of failed requests in the window above which a version is degraded. */
  readonly maxErrorRate: number;
  /** p95 latency of successful requests in the window above which a version is degraded. */
  readonly maxP95Ms: number;
  /** Share of invalid responses in the window above which a version is unhealthy. */
  readonly maxInvalidOutputRate: number;
  /** Requests the window must hold before a rate or the p95 counts. */
  readonly minRequests: number;
}

export type ThresholdOverrides = { readonly [K in keyof HealthThresholds]?: number };

/** API field names of the thresholds, and the rule each value must follow. */
const FIELDS = {
  max_error_rate: { key: 'maxErrorRate', kind: 'fraction' },
  max_p95_ms: { key: 'maxP95Ms', kind: 'duration' },
  max_invalid_output_rate: { key: 'maxInvalidOutputRate', kind: 'fraction' },
  min_requests: { key: 'minRequests', kind: 'count' },
} as const satisfies Record<string, { key: keyof HealthThresholds; kind: string }>;

type FieldName = keyof typeof FIELDS;

/** Converts thresholds to the API's snake_case object. */
export function presentThresholds(thresholds: ThresholdOverrides): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [field, { key }] of Object.entries(FIELDS)) {
    const value = thresholds[key];
    if (value !== undefined) out[field] = value;
  }
  return out;
}

/**
 * Health thresholds: server defaults from the configuration, and per-model overrides set
 * through the API, kept in memory and written to the registry.
 */
export class ThresholdStore {
  readonly #repository: ChecksRepository;
  readonly #defaults: HealthThresholds;
  readonly #overrides = new Map<string, ThresholdOverrides>();

  constructor(repository: ChecksRepository, defaults: HealthThresholds) {
    this.#repository = repository;
    this.#defaults = Object.freeze({ ...defaults });
  }

  get defaults(): HealthThresholds {
    return this.#defaults;
  }

  async load(): Promise<void> {
    for (const stored of await this.#repository.listThresholds()) {
      this.#overrides.set(stored.model, fromStored(stored));
    }
  }

  overrides(model: string): ThresholdOverrides {
    return this.#overrides.get(model) ?? {};
  }

  /** The thresholds that apply to a model: its overrides over the defaults. */
  for(model: string): HealthThresholds {
    return { ...this.#defaults, ...this.#overrides.get(model) };
  }

  /** Replaces a model's overrides with the fields of `body`; absent fields use the defaults. */
  async set(model: string, body: unknown): Promise<ThresholdOverrides> {
    const overrides = parseOverrides(body);
    if (Object.keys(overrides).length === 0) {
      await this.clear(model);
      return overrides;
    }
    await this.#repository.setThresholds({
      model,
      maxErrorRate: overrides.maxErrorRate ?? null,
      maxP95Ms: overrides.maxP95Ms ?? null,
      maxInvalidOutputRate: overrides.maxInvalidOutputRate ?? null,
      minRequests: overrides.minRequests ?? null,
      updatedAt: nowIso(),
    });
    this.#overrides.set(model, overrides);
    return overrides;
  }

  async clear(model: string): Promise<void> {
    await this.#repository.deleteThresholds(model);
    this.#overrides.delete(model);
  }

  /** Drops a deleted model from memory; its row went with the model row. */
  forget(model: string): void {
    this.#overrides.delete(model);
  }
}

function fromStored(stored: StoredThresholds): ThresholdOverrides {
  const overrides: { -readonly [K in keyof HealthThresholds]?: number } = {};
  if (stored.maxErrorRate !== null) overrides.maxErrorRate = stored.maxErrorRate;
  if (stored.maxP95Ms !== null) overrides.maxP95Ms = stored.maxP95Ms;
  if (stored.maxInvalidOutputRate !== null) {
    overrides.maxInvalidOutputRate = stored.maxInvalidOutputRate;
  }
  if (stored.minRequests !== null) overrides.minRequests = stored.minRequests;
  return overrides;
}

function parseOverrides(body: unknown): ThresholdOverrides {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new StewardError(
      'INVALID_ARGUMENT',
      'send a JSON object such as {"max_error_rate": 0.1, "max_p95_ms": 250}',
      { field: 'body' },
    );
  }
  const overrides: { -readonly [K in keyof HealthThresholds]?: number } = {};
  for (const [field, value] of Object.entries(body)) {
    const rule = FIELDS[field as FieldName];
    if (!rule) {
      throw new StewardError(
        'INVALID_ARGUMENT',
        `unknown threshold "${field}"; use ${Object.keys(FIELDS).join(', ')}`,
        { field },
      );
    }
    if (value === null) continue;
    overrides[rule.key] = checkValue(field, rule.kind, value);
  }
  return overrides;
}

function checkValue(
  field: string,
  kind: 'fraction' | 'duration' | 'count',
  value: unknown,
): number {
  const ok =
    typeof value === 'number' &&
    Number.isFinite(value) &&
    value >= 0 &&
    (kind !== 'fraction' || value <= 1) &&
    (kind !== 'count' || (Number.isInteger(value) && value >= 1));
  if (ok) return value as number;
  const rule = {
    fraction: 'a number from 0 to 1, such as 0.05 for 5%',
    duration: 'a number of milliseconds of 0 or more',
    count: 'a whole number of 1 or more',
  }[kind];
  throw new StewardError(
    'INVALID_ARGUMENT',
    `${field} must be ${rule}, or null for the default; received ${formatReceived(value)}`,
    { field },
  );
}
