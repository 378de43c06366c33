import type { Signature, Tensor, TensorSpec } from '../tensors/types.js';
import { elementCount } from '../tensors/types.js';
import { type ElementValue, elementReader, FLOAT_DATATYPES } from '../tensors/values.js';
import type { OutputExpectation, OutputExpectations } from './expectations.js';

export const VIOLATION_KINDS = [
  'missing_output',
  'datatype',
  'shape',
  'nan',
  'infinity',
  'range',
  'probabilities',
  'labels',
] as const;
export type ViolationKind = (typeof VIOLATION_KINDS)[number];

/** One way a response broke its signature or an expectation. */
export interface Violation {
  readonly kind: ViolationKind;
  readonly output: string;
  readonly message: string;
}

/**
 * Checks a response's outputs against the signature (every requested output present, its
 * datatype, rank, fixed dimensions and element count), for NaN and infinities in float
 * outputs, and against the version's expectations. Returns every violation found.
 */
export function checkOutputs(
  signature: Signature,
  requested: readonly string[],
  outputs: readonly Tensor[],
  expectations: OutputExpectations | undefined,
): Violation[] {
  const violations: Violation[] = [];
  const names = requested.length > 0 ? requested : signature.outputs.map((spec) => spec.name);
  const returned = new Set(outputs.map((tensor) => tensor.name));
  for (const name of names) {
    if (!returned.has(name)) {
      violations.push({
        kind: 'missing_output',
        output: name,
        message: `output "${name}" is missing from the response`,
      });
    }
  }
  const specs = new Map(signature.outputs.map((spec) => [spec.name, spec]));
  for (const tensor of outputs) {
    const spec = specs.get(tensor.name);
    if (!spec) {
      violations.push({
        kind: 'missing_output',
        output: tensor.name,
        message: `output "${tensor.name}" is not in the signature`,
      });
      continue;
    }
    violations.push(...checkSignature(tensor, spec));
    violations.push(...checkValues(tensor, expectations?.[tensor.name]));
  }
  return violations;
}

function checkSignature(tensor: Tensor, spec: TensorSpec): Violation[] {
  const found: Violation[] = [];
  const name = tensor.name;
  // NOTE: onnxruntime returns every output in its declared datatype, so no test model reaches
  // this branch; it guards runtimes that convert outputs.
  if (tensor.datatype !== spec.datatype) {
    found.push({
      kind: 'datatype',
      output: name,
      message: `output "${name}": datatype ${tensor.datatype}, expected ${spec.datatype}`,
    });
  }
  const shape = `[${tensor.shape.join(',')}]`;
  // An empty signature shape is an unknown rank, so only the element count is checked then.
  if (spec.shape.length > 0) {
    const expected = `[${spec.shape.join(',')}]`;
    const fits =
      tensor.shape.length === spec.shape.length &&
      spec.shape.every((dim, axis) => dim < 0 || dim === tensor.shape[axis]);
    if (!fits) {
      found.push({
        kind: 'shape',
        output: name,
        message: `output "${name}": shape ${shape} does not match the signature's ${expected}`,
      });
    }
  }
  if (elementCount(tensor.shape) !== tensor.data.length) {
    found.push({
      kind: 'shape',
      output: name,
      message: `output "${name}": shape ${shape} needs ${elementCount(tensor.shape)} values, the response has ${tensor.data.length}`,
    });
  }
  return found;
}

/** Counts of values that break one rule, with the first offending index. */
class Tally {
  count = 0;
  first = -1;

  add(index: number): void {
    if (this.count === 0) this.first = index;
    this.count += 1;
  }
}

/** Values of one output that break each rule. */
interface Tallies {
  readonly nan: Tally;
  readonly infinity: Tally;
  readonly range: Tally;
  readonly labels: Tally;
  readonly probabilities: Tally;
}

function checkValues(tensor: Tensor, expectation: OutputExpectation | undefined): Violation[] {
  const isFloat = FLOAT_DATATYPES.has(tensor.datatype);
  if (!isFloat && !expectation) return [];
  const read = elementReader(tensor);
  const tallies = scanValues(tensor, read, isFloat, expectation);

  const name = tensor.name;
  const length = tensor.data.length;
  const describe = (tally: Tally, what: string) =>
    `output "${name}": ${tally.count} of ${length} values ${what} ` +
    `(first at index ${tally.first}, value ${String(read(tally.first))})`;
  const found: Violation[] = [];
  const report = (kind: ViolationKind, tally: Tally, what: string) => {
    if (tally.count > 0) found.push({ kind, output: name, message: describe(tally, what) });
  };
  report('nan', tallies.nan, 'are NaN');
  report('infinity', tallies.infinity, 'are infinite');
  const min = expectation?.range?.min ?? '-inf';
  const max = expectation?.range?.max ?? 'inf';
  report('range', tallies.range, `lie outside [${min}, ${max}]`);
  report('labels', tallies.labels, 'are not allowed labels');
  if (expectation?.probabilities) {
    report('probabilities', tallies.probabilities, 'lie outside [0, 1]');
    // Row sums are checked only when every value is a probability.
    const rowProblem =
      tallies.probabilities.count === 0
        ? rowSumProblem(tensor, read, expectation.probabilities.tolerance)
        : undefined;
    if (rowProblem) found.push({ kind: 'probabilities', output: name, message: rowProblem });
  }
  return found;
}

/** Reads every value once and counts the values that break each rule. */
function scanValues(
  tensor: Tensor,
  read: (index: number) => ElementValue,
  isFloat: boolean,
  expectation: OutputExpectation | undefined,
): Tallies {
  const tallies: Tallies = {
    nan: new Tally(),
    infinity: new Tally(),
    range: new Tally(),
    labels: new Tally(),
    probabilities: new Tally(),
  };
  const allowed = expectation?.labels ? new Set<ElementValue>(expectation.labels) : undefined;
  const min = expectation?.range?.min ?? Number.NEGATIVE_INFINITY;
  const max = expectation?.range?.max ?? Number.POSITIVE_INFINITY;
  for (let index = 0; index < tensor.data.length; index += 1) {
    const value = read(index);
    if (typeof value === 'number') {
      if (Number.isNaN(value)) {
        tallies.nan.add(index);
        continue;
      }
      if (isFloat && !Number.isFinite(value)) tallies.infinity.add(index);
      if (expectation?.range && (value < min || value > max)) tallies.range.add(index);
      if (expectation?.probabilities && (value < 0 || value > 1)) tallies.probabilities.add(index);
    }
    if (allowed && !allowed.has(value)) tallies.labels.add(index);
  }
  return tallies;
}

/** Checks that each row along the last axis sums to 1; returns a message for the first bad row. */
function rowSumProblem(
  tensor: Tensor,
  read: (index: number) => ElementValue,
  tolerance: number,
): string | undefined {
  const width = tensor.shape.length > 0 ? tensor.shape[tensor.shape.length - 1]! : 1;
  if (width === 0) return undefined;
  const rows = Math.floor(tensor.data.length / width);
  let bad = 0;
  let firstRow = -1;
  let firstSum = 0;
  for (let row = 0; row < rows; row += 1) {
    let sum = 0;
    for (let column = 0; column < width; column += 1) sum += read(row * width + column) as number;
    if (Math.abs(sum - 1) > tolerance) {
      if (bad === 0) {
        firstRow = row;
        firstSum = sum;
      }
      bad += 1;
    }
  }
  if (bad === 0) return undefined;
  return `output "${tensor.name}": ${bad} of ${rows} rows do not sum to 1 within ${tolerance} (row ${firstRow} sums to ${firstSum})`;
}
