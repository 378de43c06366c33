import { StewardError } from '../errors.js';
import type { Datatype, Signature } from '../tensors/types.js';
import { FLOAT_DATATYPES } from '../tensors/values.js';

/** Conditions on the values of one output, on top of its signature. */
export interface OutputExpectation {
  /** Every value lies in [min, max]; either bound may be absent. */
  readonly range?: { readonly min?: number; readonly max?: number };
  /** Every value lies in [0, 1] and each row along the last axis sums to 1 within `tolerance`. */
  readonly probabilities?: { readonly tolerance: number };
  /** Every value is one of these labels. */
  readonly labels?: ReadonlyArray<number | string>;
}

/** Expectations by output name. */
export type OutputExpectations = Readonly<Record<string, OutputExpectation>>;

export const DEFAULT_PROBABILITY_TOLERANCE = 1e-3;
const MAX_LABELS = 10_000;
const RULES = ['range', 'probabilities', 'labels'];

function invalid(field: string, message: string): StewardError {
  return new StewardError('INVALID_ARGUMENT', message, { field });
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Parses `{"outputs": {"<output>": {"range": ..., "probabilities": ..., "labels": ...}}}` and
 * checks it against the version's outputs. `field` names the document in error messages.
 */
export function parseExpectations(
  body: unknown,
  signature: Signature,
  field = 'body',
): OutputExpectations {
  if (!isObject(body) || !isObject(body.outputs)) {
    throw invalid(
      `${field}.outputs`,
      'send {"outputs": {"<output name>": {"range": {"min": 0, "max": 1}}}} with an object of ' +
        'expectations by output name',
    );
  }
  const datatypes = new Map(signature.outputs.map((spec) => [spec.name, spec.datatype]));
  const parsed: Record<string, OutputExpectation> = {};
  for (const [name, raw] of Object.entries(body.outputs)) {
    const at = `${field}.outputs.${name}`;
    const datatype = datatypes.get(name);
    if (!datatype) {
      const known = [...datatypes.keys()].map((output) => `"${output}"`).join(', ');
      throw invalid(at, `unknown output "${name}"; the version's outputs are ${known}`);
    }
    parsed[name] = parseOutputExpectation(raw, datatype, at);
  }
  return parsed;
}

function parseOutputExpectation(raw: unknown, datatype: Datatype, at: string): OutputExpectation {
  if (!isObject(raw))
    throw invalid(at, `${at} must be an object with range, probabilities or labels`);
  const unknown = Object.keys(raw).filter((key) => !RULES.includes(key));
  if (unknown.length > 0) {
    throw invalid(
      `${at}.${unknown[0]}`,
      `unknown expectation "${unknown[0]}"; use range, probabilities or labels`,
    );
  }
  if (Object.keys(raw).length === 0) {
    throw invalid(at, `${at} is empty; give range, probabilities or labels`);
  }
  const expectation: {
    range?: OutputExpectation['range'];
    probabilities?: OutputExpectation['probabilities'];
    labels?: OutputExpectation['labels'];
  } = {};
  if (raw.range !== undefined) expectation.range = parseRange(raw.range, datatype, `${at}.range`);
  if (raw.probabilities !== undefined) {
    expectation.probabilities = parseProbabilities(
      raw.probabilities,
      datatype,
      `${at}.probabilities`,
    );
  }
  if (raw.labels !== undefined)
    expectation.labels = parseLabels(raw.labels, datatype, `${at}.labels`);
  return expectation;
}

function parseRange(raw: unknown, datatype: Datatype, at: string): OutputExpectation['range'] {
  if (datatype === 'BYTES' || datatype === 'BOOL') {
    throw invalid(at, `a range applies to numeric outputs, not ${datatype}`);
  }
  if (!isObject(raw)) throw invalid(at, `${at} must be {"min": number, "max": number}`);
  const bound = (key: 'min' | 'max'): number | undefined => {
    const value = raw[key];
    if (value === undefined) return undefined;
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      throw invalid(`${at}.${key}`, `${at}.${key} must be a finite number`);
    }
    return value;
  };
  const min = bound('min');
  const max = bound('max');
  if (min === undefined && max === undefined) throw invalid(at, `${at} needs "min", "max" or both`);
  if (min !== undefined && max !== undefined && min > max) {
    throw invalid(at, `${at}.min ${min} is greater than max ${max}`);
  }
  return { ...(min === undefined ? {} : { min }), ...(max === undefined ? {} : { max }) };
}

function parseProbabilities(
  raw: unknown,
  datatype: Datatype,
  at: string,
): OutputExpectation['probabilities'] {
  if (!FLOAT_DATATYPES.has(datatype)) {
    throw invalid(at, `probabilities apply to FP16, FP32 or FP64 outputs, not ${datatype}`);
  }
  if (raw === true) return { tolerance: DEFAULT_PROBABILITY_TOLERANCE };
  if (!isObject(raw)) throw invalid(at, `${at} must be true or {"tolerance": number}`);
  const tolerance = raw.tolerance ?? DEFAULT_PROBABILITY_TOLERANCE;
  if (typeof tolerance !== 'number' || !Number.isFinite(tolerance) || tolerance < 0) {
    throw invalid(`${at}.tolerance`, `${at}.tolerance must be a number of 0 or more`);
  }
  return { tolerance };
}

function parseLabels(raw: unknown, datatype: Datatype, at: string): ReadonlyArray<number | string> {
  if (!Array.isArray(raw) || raw.length === 0 || raw.length > MAX_LABELS) {
    throw invalid(at, `${at} must be an array of 1 to ${MAX_LABELS} labels`);
  }
  if (datatype === 'BOOL') throw invalid(at, 'labels apply to numeric or BYTES outputs, not BOOL');
  const wanted = datatype === 'BYTES' ? 'string' : 'number';
  for (const [index, label] of raw.entries()) {
    if (typeof label !== wanted || (wanted === 'number' && !Number.isFinite(label))) {
      throw invalid(
        `${at}[${index}]`,
        `${at}[${index}] must be a ${wanted}, as the output is ${datatype}`,
      );
    }
  }
  return raw as ReadonlyArray<number | string>;
}
