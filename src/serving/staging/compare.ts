import { fromFloat16Bits } from '../../tensors/float16.js';
import { elementCount, type Tensor } from '../../tensors/types.js';

/**
 * Comparison rule of an output, by datatype and shape. `scores` are float outputs of shape [batch, classes] with two or
 * more classes (logits or probabilities): a row agrees when both versions pick the same top-1
 * class. `labels` are integer, BOOL and BYTES outputs (class labels, token ids): a row agrees
 * when every element is equal. `values` are the other float outputs (regressions, embeddings):
 * a row agrees when every element is within the tolerance.
 */
export type OutputKind = 'scores' | 'labels' | 'values';

/** Reason an output could not be compared element by element. Its rows count as disagreeing. */
export type OutputMismatch = 'missing' | 'shape' | 'datatype';

/** The comparison of one output of one request. Float outputs also carry numeric differences. */
export interface OutputDifference {
  readonly name: string;
  readonly kind: OutputKind;
  /** Rows along the first dimension, taken as the batch dimension; a scalar is one row. */
  readonly rows: number;
  readonly rowsAgreeing: number;
  /** Float element pairs compared. */
  readonly elements: number;
  /** Float element pairs within the tolerance; equal non-finite values count as within. */
  readonly withinTolerance: number;
  /** Sum and max of |production - staging| over pairs where both values are finite. */
  readonly absDiffSum: number;
  readonly absDiffCount: number;
  readonly maxAbsDiff: number;
  /** Pairs where one value is NaN or infinite and the other differs from it. */
  readonly nonFiniteMismatches: number;
  readonly mismatch: OutputMismatch | undefined;
}

/** The comparison of one request: every output the client received, against staging's. */
export interface RequestDifference {
  readonly outputs: readonly OutputDifference[];
  readonly rows: number;
  /** Rows on which every output agrees. */
  readonly rowsAgreeing: number;
  readonly agrees: boolean;
  readonly maxAbsDiff: number;
}

const FLOAT_TYPES = new Set(['FP16', 'FP32', 'FP64']);

export function kindOf(tensor: Pick<Tensor, 'datatype' | 'shape'>): OutputKind {
  if (!FLOAT_TYPES.has(tensor.datatype)) return 'labels';
  return tensor.shape.length === 2 && tensor.shape[1]! >= 2 ? 'scores' : 'values';
}

function rowsOf(tensor: Tensor): number {
  return tensor.shape.length === 0 ? 1 : tensor.shape[0]!;
}

/** Compares staging's outputs with the outputs that production returned for the same request. */
export function compareOutputs(
  production: readonly Tensor[],
  staging: readonly Tensor[],
  tolerance: number,
): RequestDifference {
  const byName = new Map(staging.map((tensor) => [tensor.name, tensor]));
  const rows = Math.max(0, ...production.map(rowsOf));
  const rowAgrees = new Uint8Array(rows).fill(1);
  const outputs: OutputDifference[] = [];
  for (const expected of production) {
    const { difference, agreeing } = compareOutput(expected, byName.get(expected.name), tolerance);
    outputs.push(difference);
    for (let row = 0; row < rows; row += 1) {
      if (!agreeing[row]) rowAgrees[row] = 0;
    }
  }
  const rowsAgreeing = rowAgrees.reduce((sum, agrees) => sum + agrees, 0);
  return {
    outputs,
    rows,
    rowsAgreeing,
    agrees: rowsAgreeing === rows,
    maxAbsDiff: Math.max(0, ...outputs.map((output) => output.maxAbsDiff)),
  };
}

function compareOutput(
  expected: Tensor,
  actual: Tensor | undefined,
  tolerance: number,
): { difference: OutputDifference; agreeing: Uint8Array } {
  const kind = kindOf(expected);
  const rows = rowsOf(expected);
  const empty = {
    name: expected.name,
    kind,
    rows,
    rowsAgreeing: 0,
    elements: 0,
    withinTolerance: 0,
    absDiffSum: 0,
    absDiffCount: 0,
    maxAbsDiff: 0,
    nonFiniteMismatches: 0,
  };
  const mismatch = actual === undefined ? 'missing' : mismatchOf(expected, actual);
  if (actual === undefined || mismatch !== undefined) {
    return { difference: { ...empty, mismatch }, agreeing: new Uint8Array(rows) };
  }
  const rowLength = rows === 0 ? 0 : elementCount(expected.shape) / rows;
  if (kind === 'labels') {
    const agreeing = compareLabels(expected, actual, rows, rowLength);
    const rowsAgreeing = agreeing.reduce((sum, agrees) => sum + agrees, 0);
    return { difference: { ...empty, rowsAgreeing, mismatch: undefined }, agreeing };
  }
  return compareFloats(expected, actual, kind, rows, rowLength, tolerance, empty.name);
}

function mismatchOf(expected: Tensor, actual: Tensor): OutputMismatch | undefined {
  const expectedFloat = FLOAT_TYPES.has(expected.datatype);
  if (expectedFloat !== FLOAT_TYPES.has(actual.datatype)) return 'datatype';
  if ((expected.datatype === 'BYTES') !== (actual.datatype === 'BYTES')) return 'datatype';
  const sameShape =
    expected.shape.length === actual.shape.length &&
    expected.shape.every((dim, axis) => dim === actual.shape[axis]);
  return sameShape ? undefined : 'shape';
}

/** Marks each row whose elements are all equal. INT64 BigInts compare with INT32 numbers by value. */
function compareLabels(
  expected: Tensor,
  actual: Tensor,
  rows: number,
  rowLength: number,
): Uint8Array {
  const left = expected.data as ArrayLike<unknown>;
  const right = actual.data as ArrayLike<unknown>;
  const sameType = expected.datatype === actual.datatype;
  const agreeing = new Uint8Array(rows);
  for (let row = 0; row < rows; row += 1) {
    let agrees = 1;
    for (let index = row * rowLength; index < (row + 1) * rowLength; index += 1) {
      const a = left[index];
      const b = right[index];
      if (sameType ? a !== b : Number(a) !== Number(b)) {
        agrees = 0;
        break;
      }
    }
    agreeing[row] = agrees;
  }
  return agreeing;
}

function compareFloats(
  expected: Tensor,
  actual: Tensor,
  kind: OutputKind,
  rows: number,
  rowLength: number,
  tolerance: number,
  name: string,
): { difference: OutputDifference; agreeing: Uint8Array } {
  const left = floatReader(expected);
  const right = floatReader(actual);
  const agreeing = new Uint8Array(rows);
  let withinTolerance = 0;
  let absDiffSum = 0;
  let absDiffCount = 0;
  let maxAbsDiff = 0;
  let nonFiniteMismatches = 0;
  for (let row = 0; row < rows; row += 1) {
    const start = row * rowLength;
    let rowWithin = true;
    for (let index = start; index < start + rowLength; index += 1) {
      const a = left(index);
      const b = right(index);
      if (Number.isFinite(a) && Number.isFinite(b)) {
        const difference = Math.abs(a - b);
        absDiffSum += difference;
        absDiffCount += 1;
        if (difference > maxAbsDiff) maxAbsDiff = difference;
        if (difference <= tolerance) withinTolerance += 1;
        else rowWithin = false;
      } else if (Object.is(a, b)) {
        withinTolerance += 1;
      } else {
        nonFiniteMismatches += 1;
        rowWithin = false;
      }
    }
    const agrees =
      kind === 'scores'
        ? argmax(left, start, rowLength) === argmax(right, start, rowLength)
        : rowWithin;
    agreeing[row] = agrees ? 1 : 0;
  }
  const difference: OutputDifference = {
    name,
    kind,
    rows,
    rowsAgreeing: agreeing.reduce((sum, agrees) => sum + agrees, 0),
    elements: rows * rowLength,
    withinTolerance,
    absDiffSum,
    absDiffCount,
    maxAbsDiff,
    nonFiniteMismatches,
    mismatch: undefined,
  };
  return { difference, agreeing };
}

/** Index of the largest value in a row; the first one wins a tie, and NaN never wins. */
function argmax(read: (index: number) => number, start: number, length: number): number {
  let best = -1;
  let bestValue = Number.NEGATIVE_INFINITY;
  for (let offset = 0; offset < length; offset += 1) {
    const value = read(start + offset);
    if (value > bestValue || (best === -1 && value === bestValue)) {
      best = offset;
      bestValue = value;
    }
  }
  return best;
}

function floatReader(tensor: Tensor): (index: number) => number {
  if (tensor.datatype === 'FP16') {
    const bits = tensor.data as Uint16Array;
    return (index) => fromFloat16Bits(bits[index]!);
  }
  const values = tensor.data as Float32Array | Float64Array;
  return (index) => values[index]!;
}
