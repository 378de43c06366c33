/** Tensor datatypes of the Open Inference Protocol that Steward can carry. */
export const DATATYPES = [
  'BOOL',
  'UINT8',
  'UINT16',
  'UINT32',
  'UINT64',
  'INT8',
  'INT16',
  'INT32',
  'INT64',
  'FP16',
  'FP32',
  'FP64',
  'BYTES',
] as const;

export type Datatype = (typeof DATATYPES)[number];

export type NumericArray =
  | Uint8Array
  | Uint16Array
  | Uint32Array
  | BigUint64Array
  | Int8Array
  | Int16Array
  | Int32Array
  | BigInt64Array
  | Float32Array
  | Float64Array;

/**
 * Element storage. BOOL is one byte per element (0 or 1), FP16 holds IEEE half-precision bit
 * patterns, INT64 and UINT64 are BigInt arrays so no value is rounded, BYTES is one string
 * per element.
 */
export type TensorData = NumericArray | string[];

export interface Tensor {
  readonly name: string;
  readonly datatype: Datatype;
  readonly shape: readonly number[];
  readonly data: TensorData;
}

/** An input or output of a model; -1 marks a dimension of any size. */
export interface TensorSpec {
  readonly name: string;
  readonly datatype: Datatype;
  readonly shape: readonly number[];
}

export interface Signature {
  readonly inputs: readonly TensorSpec[];
  readonly outputs: readonly TensorSpec[];
}

export function isDatatype(value: unknown): value is Datatype {
  return typeof value === 'string' && (DATATYPES as readonly string[]).includes(value);
}

/** Returns the number of elements of a shape; a scalar (empty shape) has one. */
export function elementCount(shape: readonly number[]): number {
  let count = 1;
  for (const dim of shape) count *= dim;
  return count;
}

type ArrayConstructorOf = new (length: number) => NumericArray;

/** The typed array class that stores each numeric datatype. */
export const ARRAY_TYPES: Record<Exclude<Datatype, 'BYTES'>, ArrayConstructorOf> = {
  BOOL: Uint8Array,
  UINT8: Uint8Array,
  UINT16: Uint16Array,
  UINT32: Uint32Array,
  UINT64: BigUint64Array,
  INT8: Int8Array,
  INT16: Int16Array,
  INT32: Int32Array,
  INT64: BigInt64Array,
  FP16: Uint16Array,
  FP32: Float32Array,
  FP64: Float64Array,
};

/** Bytes per element in the binary tensor extension; BYTES elements vary in size. */
export function elementSize(datatype: Exclude<Datatype, 'BYTES'>): number {
  return (ARRAY_TYPES[datatype] as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT;
}
