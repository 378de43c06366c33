import { fromFloat16Bits } from './float16.js';
import type { Datatype, Tensor } from './types.js';

/** An element as a number (floats, integers, BOOL as 0 or 1) or a string (BYTES). */
export type ElementValue = number | string;

export const FLOAT_DATATYPES: ReadonlySet<Datatype> = new Set(['FP16', 'FP32', 'FP64']);

/**
 * Returns a reader of a tensor's elements in row-major order. FP16 bits are decoded and 64-bit
 * integers become numbers, which round beyond 2^53; that is exact enough for checks and
 * comparisons but not for returning the values.
 */
export function elementReader(tensor: Tensor): (index: number) => ElementValue {
  const data = tensor.data;
  if (Array.isArray(data)) return (index) => data[index]!;
  if (tensor.datatype === 'FP16') return (index) => fromFloat16Bits(data[index] as number);
  if (data instanceof BigInt64Array || data instanceof BigUint64Array) {
    return (index) => Number(data[index]!);
  }
  return (index) => data[index] as number;
}

/** A tensor in the JSON form of the Open Inference Protocol, its data possibly cut short. */
export interface JsonTensor {
  readonly name: string;
  readonly datatype: Datatype;
  readonly shape: readonly number[];
  /** Flat data; NaN and infinities are the strings "NaN", "Infinity" and "-Infinity". */
  readonly data: ReadonlyArray<number | string | boolean>;
  /** Present and true when `data` holds only the first elements. */
  readonly truncated?: true;
}

/** Converts a tensor to JSON, keeping at most `limit` elements. */
export function toJsonTensor(tensor: Tensor, limit = Number.POSITIVE_INFINITY): JsonTensor {
  const length = tensor.data.length;
  const count = Math.min(length, limit);
  const read = exactReader(tensor);
  const data: Array<number | string | boolean> = [];
  for (let index = 0; index < count; index += 1) data.push(read(index));
  const json = { name: tensor.name, datatype: tensor.datatype, shape: [...tensor.shape], data };
  return count < length ? { ...json, truncated: true } : json;
}

/** Reads elements as JSON values: 64-bit integers beyond 2^53 become decimal strings. */
function exactReader(tensor: Tensor): (index: number) => number | string | boolean {
  const data = tensor.data;
  if (Array.isArray(data)) return (index) => data[index]!;
  if (tensor.datatype === 'BOOL') return (index) => data[index] !== 0;
  if (data instanceof BigInt64Array || data instanceof BigUint64Array) {
    return (index) => {
      const value = data[index]!;
      const asNumber = Number(value);
      return Number.isSafeInteger(asNumber) ? asNumber : value.toString();
    };
  }
  const read = elementReader(tensor);
  return (index) => jsonNumber(read(index) as number);
}

/** Spells NaN and infinities as the strings the inference API uses. */
export function jsonNumber(value: number): number | string {
  if (Number.isFinite(value)) return value;
  if (Number.isNaN(value)) return 'NaN';
  return value > 0 ? 'Infinity' : '-Infinity';
}
