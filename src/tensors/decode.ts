import { StewardError } from '../errors.js';
import { fromFloat16Bits, toFloat16Bits } from './float16.js';
import {
  ARRAY_TYPES,
  type Datatype,
  elementCount,
  elementSize,
  type NumericArray,
  type TensorData,
} from './types.js';

const INTEGER_RANGES: Partial<Record<Datatype, readonly [number, number]>> = {
  INT8: [-128, 127],
  INT16: [-32768, 32767],
  INT32: [-2147483648, 2147483647],
  INT64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  UINT8: [0, 255],
  UINT16: [0, 65535],
  UINT32: [0, 4294967295],
  UINT64: [0, Number.MAX_SAFE_INTEGER],
};

/** Float spellings for values JSON numbers cannot express, as in the proto3 JSON mapping. */
const SPECIAL_FLOATS: Record<string, number> = {
  NaN: Number.NaN,
  Infinity: Number.POSITIVE_INFINITY,
  '-Infinity': Number.NEGATIVE_INFINITY,
};

/** The largest finite value of each float datatype. */
const FLOAT_MAX: Partial<Record<Datatype, number>> = {
  FP16: 65504,
  FP32: 3.4028234663852886e38,
  FP64: Number.MAX_VALUE,
};

function invalid(input: string, message: string): StewardError {
  return new StewardError('INVALID_TENSOR', `input "${input}": ${message}`, {
    field: `inputs.${input}.data`,
  });
}

/**
 * Flattens JSON `data` in row-major order. Flat data passes as it is and the caller checks its
 * count. Nested data must follow the shape: each array at depth d has shape[d] items, and the
 * innermost arrays hold the product of the remaining dimensions as scalars.
 */
export function flattenData(input: string, data: unknown, shape: readonly number[]): unknown[] {
  if (!Array.isArray(data)) {
    throw invalid(input, 'data must be an array of values (flat or nested in row-major order)');
  }
  if (!data.some(Array.isArray)) return data;
  const flat: unknown[] = [];
  collect(input, data, shape, 0, flat);
  return flat;
}

function collect(
  input: string,
  level: unknown[],
  shape: readonly number[],
  depth: number,
  out: unknown[],
): void {
  const nested = level.some(Array.isArray);
  if (nested && !level.every(Array.isArray)) {
    throw invalid(input, `nested data mixes arrays and values at depth ${depth}`);
  }
  const expected = nested ? shape[depth] : elementCount(shape.slice(depth));
  if (expected === undefined || level.length !== expected) {
    throw invalid(
      input,
      `nested data does not match shape [${shape.join(',')}]: an array at depth ${depth} has ${level.length} items, expected ${expected ?? 'none (too deep)'}`,
    );
  }
  if (!nested) {
    for (const value of level) out.push(value);
    return;
  }
  for (const child of level) collect(input, child as unknown[], shape, depth + 1, out);
}

/** Converts JSON values to the storage of `datatype`, checking each element's type and range. */
export function decodeJsonValues(input: string, datatype: Datatype, values: unknown[]): TensorData {
  if (datatype === 'BYTES') {
    return values.map((value, index) => {
      if (typeof value !== 'string') {
        throw invalid(input, `element ${index} is ${describe(value)}, but BYTES needs a string`);
      }
      checkNoNul(input, index, value);
      return value;
    });
  }
  const array = new ARRAY_TYPES[datatype](values.length);
  switch (datatype) {
    case 'BOOL':
      fillBooleans(input, values, array as Uint8Array);
      break;
    case 'FP16':
    case 'FP32':
    case 'FP64':
      fillFloats(input, datatype, values, array);
      break;
    default:
      fillIntegers(input, datatype, values, array);
  }
  return array;
}

function fillBooleans(input: string, values: unknown[], array: Uint8Array): void {
  for (let index = 0; index < values.length; index += 1) {
    const value = values[index];
    if (typeof value !== 'boolean') {
      throw invalid(input, `element ${index} is ${describe(value)}, but BOOL needs true or false`);
    }
    array[index] = value ? 1 : 0;
  }
}

function fillFloats(
  input: string,
  datatype: Datatype,
  values: unknown[],
  array: NumericArray,
): void {
  const half = datatype === 'FP16';
  const target = array as Float32Array;
  for (let index = 0; index < values.length; index += 1) {
    const value = values[index];
    if (typeof value === 'string' && value in SPECIAL_FLOATS) {
      const special = SPECIAL_FLOATS[value]!;
      target[index] = half ? toFloat16Bits(special) : special;
      continue;
    }
    if (typeof value !== 'number') {
      throw invalid(
        input,
        `element ${index} is ${describe(value)}, but ${datatype} needs a number ` +
          '(or the strings "NaN", "Infinity", "-Infinity")',
      );
    }
    target[index] = half ? toFloat16Bits(value) : value;
    // Numbers beyond the datatype's range round to infinity, and JSON.parse reads 1e400 as
    // infinity. Both are rejected, so an infinity reaches the model only when sent as a string.
    const stored = half ? fromFloat16Bits(target[index]!) : target[index]!;
    if (!Number.isFinite(stored)) throw outsideFloatRange(input, datatype, index, value);
  }
}

function outsideFloatRange(
  input: string,
  datatype: Datatype,
  index: number,
  value: number,
): StewardError {
  const max = FLOAT_MAX[datatype]!;
  const received = Number.isFinite(value) ? value : `a JSON number that overflows to ${value}`;
  return invalid(
    input,
    `element ${index} (${received}) is outside the ${datatype} range [${-max}, ${max}]; ` +
      'send infinities as the strings "Infinity" and "-Infinity"',
  );
}

function fillIntegers(
  input: string,
  datatype: Datatype,
  values: unknown[],
  array: NumericArray,
): void {
  const [min, max] = INTEGER_RANGES[datatype]!;
  const wide = datatype === 'INT64' || datatype === 'UINT64';
  for (let index = 0; index < values.length; index += 1) {
    const value = values[index];
    if (typeof value !== 'number' || !Number.isInteger(value)) {
      throw invalid(
        input,
        `element ${index} is ${describe(value)}, but ${datatype} needs an integer`,
      );
    }
    if (value < min || value > max) {
      const hint = wide
        ? '; JSON numbers beyond 2^53-1 lose precision, so send such values with the binary tensor extension'
        : '';
      throw invalid(
        input,
        `element ${index} (${value}) is outside the ${datatype} range [${min}, ${max}]${hint}`,
      );
    }
    if (wide) {
      (array as BigInt64Array)[index] = BigInt(value);
    } else {
      (array as Int32Array)[index] = value;
    }
  }
}

/**
 * Reads one input from the binary tensor extension: fixed-size elements in little-endian
 * order, or for BYTES a 4-byte little-endian length before each element.
 */
export function decodeBinaryValues(
  input: string,
  datatype: Datatype,
  count: number,
  chunk: Buffer,
): TensorData {
  if (datatype === 'BYTES') return decodeBinaryStrings(input, count, chunk);
  const expected = count * elementSize(datatype);
  if (chunk.length !== expected) {
    throw invalid(
      input,
      `binary data has ${chunk.length} bytes, but ${count} ${datatype} elements need ${expected}`,
    );
  }
  // Copy into a fresh, aligned buffer that the tensor owns and can transfer to a worker.
  const array = new ARRAY_TYPES[datatype](count);
  new Uint8Array(array.buffer).set(chunk);
  if (datatype === 'BOOL') {
    const bytes = array as Uint8Array;
    for (let index = 0; index < count; index += 1) {
      if (bytes[index]! > 1)
        throw invalid(input, `BOOL element ${index} is ${bytes[index]}, not 0 or 1`);
    }
  }
  return array;
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

function decodeBinaryStrings(input: string, count: number, chunk: Buffer): string[] {
  const strings: string[] = [];
  let offset = 0;
  while (offset < chunk.length) {
    if (offset + 4 > chunk.length)
      throw invalid(input, 'binary BYTES data ends inside a length prefix');
    const length = chunk.readUInt32LE(offset);
    offset += 4;
    if (offset + length > chunk.length) {
      throw invalid(input, `binary BYTES element ${strings.length} runs past the end of the data`);
    }
    let text: string;
    try {
      text = UTF8.decode(chunk.subarray(offset, offset + length));
    } catch {
      throw invalid(
        input,
        `binary BYTES element ${strings.length} is not valid UTF-8, which onnxruntime string tensors need`,
      );
    }
    checkNoNul(input, strings.length, text);
    strings.push(text);
    offset += length;
  }
  if (strings.length !== count) {
    throw invalid(
      input,
      `binary data holds ${strings.length} BYTES elements, but the shape needs ${count}`,
    );
  }
  return strings;
}

/** onnxruntime passes strings as C strings, so a NUL would silently cut the element short. */
function checkNoNul(input: string, index: number, value: string): void {
  if (value.includes('\u0000')) {
    throw invalid(
      input,
      `BYTES element ${index} contains a NUL character, which onnxruntime string tensors cannot carry`,
    );
  }
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'string')
    return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value);
  if (typeof value === 'object') return Array.isArray(value) ? 'an array' : 'an object';
  return String(value);
}
