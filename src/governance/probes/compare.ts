import { createHash } from 'node:crypto';
import type { Tensor } from '../../tensors/types.js';
import { type ElementValue, elementReader } from '../../tensors/values.js';
import type { ExpectedOutput, ProbeSpec } from './spec.js';

/** The result of comparing a probe's outputs with its expected ones. */
export interface Comparison {
  readonly passed: boolean;
  /** Largest absolute difference over the numeric elements compared; null when none were. */
  readonly maxDifference: number | null;
  /** The differences, one line per output; empty when the probe passed. */
  readonly mismatches: readonly string[];
}

/** Compares every expected output of a probe with the outputs the model returned. */
export function compareOutputs(spec: ProbeSpec, outputs: readonly Tensor[]): Comparison {
  const byName = new Map(outputs.map((tensor) => [tensor.name, tensor]));
  const mismatches: string[] = [];
  let maxDifference: number | null = null;
  for (const expected of spec.expected) {
    const actual = byName.get(expected.name);
    if (!actual) {
      mismatches.push(`output "${expected.name}" is missing`);
      continue;
    }
    const result = compareOutput(expected, actual, spec.tolerance);
    if (result.maxDifference !== null) {
      maxDifference = Math.max(maxDifference ?? 0, result.maxDifference);
    }
    if (result.mismatch) mismatches.push(result.mismatch);
  }
  return { passed: mismatches.length === 0, maxDifference, mismatches };
}

function compareOutput(
  expected: ExpectedOutput,
  actual: Tensor,
  tolerance: number,
): { mismatch?: string; maxDifference: number | null } {
  const name = expected.name;
  if (expected.shape && expected.shape.join(',') !== actual.shape.join(',')) {
    return {
      mismatch: `output "${name}": shape [${actual.shape.join(',')}], expected [${expected.shape.join(',')}]`,
      maxDifference: null,
    };
  }
  if (expected.data.length !== actual.data.length) {
    return {
      mismatch: `output "${name}": ${actual.data.length} values, expected ${expected.data.length}`,
      maxDifference: null,
    };
  }

  const read = elementReader(actual);
  let differing = 0;
  let worst = -1;
  let worstDifference = -1;
  let maxDifference: number | null = null;
  for (let index = 0; index < expected.data.length; index += 1) {
    const want = normalize(expected.data[index]!);
    const got = read(index);
    const difference = differenceOf(want, got);
    if (typeof want === 'number' && typeof got === 'number' && Number.isFinite(difference)) {
      maxDifference = Math.max(maxDifference ?? 0, difference);
    }
    if (difference <= tolerance) continue;
    differing += 1;
    if (difference > worstDifference) {
      worstDifference = difference;
      worst = index;
    }
  }
  if (differing === 0) return { maxDifference };

  const got = read(worst);
  const want = expected.data[worst]!;
  const gap = Number.isFinite(worstDifference) ? String(worstDifference) : 'not comparable';
  return {
    mismatch:
      `output "${name}": ${differing} of ${expected.data.length} values differ by more than ` +
      `${tolerance}; the largest difference is ${gap} at index ${worst} ` +
      `(expected ${JSON.stringify(want)}, got ${JSON.stringify(spelled(got))})`,
    maxDifference,
  };
}

function normalize(value: number | string | boolean): ElementValue {
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (value === 'NaN') return Number.NaN;
  if (value === 'Infinity') return Number.POSITIVE_INFINITY;
  if (value === '-Infinity') return Number.NEGATIVE_INFINITY;
  return value;
}

/**
 * Returns the absolute difference of two elements: 0 when equal (NaN equals NaN, an infinity
 * equals itself), Infinity when they cannot be compared (a string against a number).
 */
function differenceOf(want: ElementValue, got: ElementValue): number {
  if (typeof want === 'string' || typeof got === 'string') return want === got ? 0 : Infinity;
  if (Number.isNaN(want) && Number.isNaN(got)) return 0;
  if (want === got) return 0;
  const difference = Math.abs(want - got);
  return Number.isNaN(difference) ? Infinity : difference;
}

function spelled(value: ElementValue): ElementValue {
  if (typeof value === 'string' || Number.isFinite(value)) return value;
  if (Number.isNaN(value)) return 'NaN';
  return value > 0 ? 'Infinity' : '-Infinity';
}

/**
 * Returns the sha256 of a probe's outputs: names, datatypes, shapes and the exact element
 * bytes, in name order. Two versions whose probes give the same digest returned the same
 * outputs bit for bit.
 */
export function outputsDigest(outputs: readonly Tensor[]): string {
  const hash = createHash('sha256');
  for (const tensor of [...outputs].sort((a, b) => a.name.localeCompare(b.name))) {
    hash.update(JSON.stringify([tensor.name, tensor.datatype, tensor.shape]));
    const data = tensor.data;
    if (Array.isArray(data)) hash.update(JSON.stringify(data));
    else hash.update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  }
  return hash.digest('hex');
}

/** Returns the sha256 of a request body, with object keys sorted so key order does not matter. */
export function requestDigest(request: unknown): string {
  return createHash('sha256').update(canonicalJson(request)).digest('hex');
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value)
      .filter(([, item]) => item !== undefined)
      .sort(([a], [b]) => compareKeys(a, b));
    return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${canonicalJson(item)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** Orders keys by UTF-16 code units, as JSON canonicalization does, whatever the locale. */
function compareKeys(a: string, b: string): number {
  if (a < b) return -1;
  if (a > b) return 1;
  return 0;
}
