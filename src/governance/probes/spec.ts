import { isStewardError, StewardError } from '../../errors.js';
import { parseInferenceRequest } from '../../tensors/request.js';
import { elementCount, type Signature, type TensorSpec } from '../../tensors/types.js';
import { FLOAT_DATATYPES } from '../../tensors/values.js';

/** One output a probe expects: its data flat in row-major order, and optionally its shape. */
export interface ExpectedOutput {
  readonly name: string;
  readonly shape?: readonly number[];
  /** Numbers, booleans, strings for BYTES; floats may be "NaN", "Infinity" or "-Infinity". */
  readonly data: ReadonlyArray<number | string | boolean>;
}

/** A golden probe: a sample request and the outputs it must produce within `tolerance`. */
export interface ProbeSpec {
  readonly name: string;
  /** An inference request body, checked against the signature when the probe was set. */
  readonly request: Readonly<Record<string, unknown>>;
  readonly expected: readonly ExpectedOutput[];
  /** Largest absolute difference allowed per numeric element; strings must match exactly. */
  readonly tolerance: number;
}

export const MAX_PROBES = 32;
/** Largest JSON size of a version's probes: they live in memory and in every probe result. */
export const MAX_PROBE_BYTES = 4 * 1024 * 1024;
export const DEFAULT_TOLERANCE = 1e-5;
const FLOAT_SPELLINGS = new Set(['NaN', 'Infinity', '-Infinity']);

function invalid(field: string, message: string): StewardError {
  return new StewardError('INVALID_ARGUMENT', message, { field });
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Parses `{"probes": [{"name", "request", "expected": {"outputs": [...]}, "tolerance"}]}`
 * and checks each request and expected output against the version's signature.
 */
export function parseProbes(body: unknown, signature: Signature, field = 'body'): ProbeSpec[] {
  if (!isObject(body) || !Array.isArray(body.probes)) {
    throw invalid(
      `${field}.probes`,
      'send {"probes": [{"name": "...", "request": {"inputs": [...]}, "expected": {"outputs": [...]}, "tolerance": 1e-5}]}',
    );
  }
  if (body.probes.length > MAX_PROBES) {
    throw invalid(
      `${field}.probes`,
      `a version takes at most ${MAX_PROBES} probes, received ${body.probes.length}`,
    );
  }
  const size = Buffer.byteLength(JSON.stringify(body.probes));
  if (size > MAX_PROBE_BYTES) {
    throw invalid(
      `${field}.probes`,
      `the probes take ${size} bytes of JSON, more than the ${MAX_PROBE_BYTES} a version keeps; use fewer or smaller probe requests`,
    );
  }
  const names = new Set<string>();
  return body.probes.map((raw, index) => {
    const probe = parseProbe(raw, signature, `${field}.probes[${index}]`, index);
    if (names.has(probe.name)) {
      throw invalid(`${field}.probes[${index}].name`, `probe name "${probe.name}" is used twice`);
    }
    names.add(probe.name);
    return probe;
  });
}

function parseProbe(raw: unknown, signature: Signature, at: string, index: number): ProbeSpec {
  if (!isObject(raw)) throw invalid(at, `${at} must be an object with "request" and "expected"`);
  const name = raw.name ?? `probe-${index + 1}`;
  if (typeof name !== 'string' || name === '' || name.length > 128) {
    throw invalid(`${at}.name`, `${at}.name must be a string of 1 to 128 characters`);
  }
  const tolerance = raw.tolerance ?? DEFAULT_TOLERANCE;
  if (typeof tolerance !== 'number' || !Number.isFinite(tolerance) || tolerance < 0) {
    throw invalid(`${at}.tolerance`, `${at}.tolerance must be a number of 0 or more`);
  }
  if (!isObject(raw.request)) {
    throw invalid(
      `${at}.request`,
      `${at}.request must be an inference request object with "inputs"`,
    );
  }
  let selected: readonly string[];
  try {
    selected = parseInferenceRequest(raw.request, signature).outputs;
  } catch (error) {
    if (!isStewardError(error)) throw error;
    throw invalid(
      `${at}.request${error.field ? `.${error.field}` : ''}`,
      `${at}.request: ${error.message}`,
    );
  }
  const allowed = selected.length > 0 ? new Set(selected) : undefined;
  const specs = new Map(signature.outputs.map((spec) => [spec.name, spec]));
  const expected = parseExpected(raw.expected, specs, allowed, `${at}.expected`);
  return { name, request: raw.request, expected, tolerance };
}

function parseExpected(
  raw: unknown,
  specs: ReadonlyMap<string, TensorSpec>,
  allowed: ReadonlySet<string> | undefined,
  at: string,
): ExpectedOutput[] {
  if (!isObject(raw) || !Array.isArray(raw.outputs) || raw.outputs.length === 0) {
    throw invalid(
      `${at}.outputs`,
      `${at} must be {"outputs": [{"name": "...", "data": [...]}]}, as in an inference response`,
    );
  }
  return raw.outputs.map((output, index) => {
    const where = `${at}.outputs[${index}]`;
    if (!isObject(output) || typeof output.name !== 'string') {
      throw invalid(where, `${where} must be an object with "name" and "data"`);
    }
    const spec = specs.get(output.name);
    if (!spec) {
      const known = [...specs.keys()].map((name) => `"${name}"`).join(', ');
      throw invalid(
        `${where}.name`,
        `unknown output "${output.name}"; the version's outputs are ${known}`,
      );
    }
    if (allowed && !allowed.has(output.name)) {
      throw invalid(
        `${where}.name`,
        `output "${output.name}" is not among the outputs the probe's request selects`,
      );
    }
    const data = checkData(flatten(output.data, `${where}.data`), spec, `${where}.data`);
    if (output.shape === undefined) return { name: output.name, data };
    const shape = output.shape;
    if (!Array.isArray(shape) || !shape.every((dim) => Number.isSafeInteger(dim) && dim >= 0)) {
      throw invalid(`${where}.shape`, `${where}.shape must be an array of non-negative integers`);
    }
    if (elementCount(shape) !== data.length) {
      throw invalid(
        `${where}.data`,
        `${where}: shape [${shape.join(',')}] needs ${elementCount(shape)} values, received ${data.length}`,
      );
    }
    return { name: output.name, shape, data };
  });
}

function flatten(data: unknown, at: string): unknown[] {
  if (!Array.isArray(data))
    throw invalid(at, `${at} must be an array, flat or nested in row-major order`);
  return data.flat(Number.POSITIVE_INFINITY);
}

function checkData(
  values: unknown[],
  spec: TensorSpec,
  at: string,
): Array<number | string | boolean> {
  for (const [index, value] of values.entries()) {
    const ok =
      spec.datatype === 'BYTES'
        ? typeof value === 'string'
        : spec.datatype === 'BOOL'
          ? typeof value === 'boolean' || value === 0 || value === 1
          : (typeof value === 'number' && Number.isFinite(value)) ||
            (FLOAT_DATATYPES.has(spec.datatype) &&
              typeof value === 'string' &&
              FLOAT_SPELLINGS.has(value));
    if (!ok) {
      throw invalid(
        `${at}[${index}]`,
        `${at}[${index}] is ${JSON.stringify(value)}, not a value of datatype ${spec.datatype}`,
      );
    }
  }
  return values as Array<number | string | boolean>;
}
