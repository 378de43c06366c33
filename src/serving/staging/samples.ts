import { fromFloat16Bits } from '../../tensors/float16.js';
import type { Tensor } from '../../tensors/types.js';

/** Elements kept per tensor of a sample, so one large input cannot fill the memory. */
export const MAX_SAMPLE_ELEMENTS = 4096;

/** A tensor as the API shows it in a sample: JSON values, cut to MAX_SAMPLE_ELEMENTS. */
export interface SampleTensor {
  readonly name: string;
  readonly datatype: string;
  readonly shape: readonly number[];
  /** Flat in row-major order; NaN and infinities as the strings "NaN", "Infinity", "-Infinity". */
  readonly data: ReadonlyArray<number | string | boolean>;
  /** True when `data` holds only the first MAX_SAMPLE_ELEMENTS elements. */
  readonly truncated: boolean;
}

/** The request of a disagreement: its inputs and both versions' outputs. */
export interface DisagreementTensors {
  /** The `id` of the inference request, when the client sent one. */
  readonly requestId: string | null;
  readonly inputs: readonly SampleTensor[];
  readonly production: readonly SampleTensor[];
  readonly staging: readonly SampleTensor[];
}

/** One request on which staging disagreed with production, and by how much. */
export interface Disagreement extends DisagreementTensors {
  readonly at: string;
  readonly rows: number;
  readonly rowsDisagreeing: number;
  readonly maxAbsDiff: number;
}

/** Copies a tensor into a sample, converting BigInts, half floats and non-finite values. */
export function toSampleTensor(tensor: Tensor): SampleTensor {
  const count = tensor.data.length;
  const kept = Math.min(count, MAX_SAMPLE_ELEMENTS);
  const data: Array<number | string | boolean> = new Array(kept);
  for (let index = 0; index < kept; index += 1) {
    data[index] = sampleValue(tensor, index);
  }
  return {
    name: tensor.name,
    datatype: tensor.datatype,
    shape: [...tensor.shape],
    data,
    truncated: kept < count,
  };
}

function sampleValue(tensor: Tensor, index: number): number | string | boolean {
  const raw = (tensor.data as ArrayLike<unknown>)[index];
  if (typeof raw === 'string') return raw;
  if (typeof raw === 'bigint') {
    // Beyond 2^53 a JSON number would round, so such values keep every digit as a string.
    return Number.isSafeInteger(Number(raw)) ? Number(raw) : raw.toString();
  }
  if (tensor.datatype === 'BOOL') return raw !== 0;
  const value = tensor.datatype === 'FP16' ? fromFloat16Bits(raw as number) : (raw as number);
  if (Number.isFinite(value)) return value;
  if (Number.isNaN(value)) return 'NaN';
  return value > 0 ? 'Infinity' : '-Infinity';
}

/** The largest disagreements seen so far, most severe first, at most `limit` of them. */
export class DisagreementSamples {
  readonly #limit: number;
  #samples: Disagreement[] = [];

  constructor(limit: number) {
    this.#limit = limit;
  }

  get all(): readonly Disagreement[] {
    return this.#samples;
  }

  /** Returns whether a disagreement of this size would enter the sample. */
  wouldKeep(rowsDisagreeing: number, maxAbsDiff: number): boolean {
    if (this.#limit === 0) return false;
    if (this.#samples.length < this.#limit) return true;
    const smallest = this.#samples[this.#samples.length - 1]!;
    return severity(rowsDisagreeing, maxAbsDiff, smallest) > 0;
  }

  add(sample: Disagreement): void {
    if (!this.wouldKeep(sample.rowsDisagreeing, sample.maxAbsDiff)) return;
    this.#samples.push(sample);
    this.#samples.sort((a, b) => -severity(a.rowsDisagreeing, a.maxAbsDiff, b));
    if (this.#samples.length > this.#limit) this.#samples.length = this.#limit;
  }
}

/**
 * Orders disagreements: more disagreeing rows first, then the larger numeric difference.
 * Positive when the first one is more severe than `other`.
 */
function severity(rowsDisagreeing: number, maxAbsDiff: number, other: Disagreement): number {
  if (rowsDisagreeing !== other.rowsDisagreeing) return rowsDisagreeing - other.rowsDisagreeing;
  return maxAbsDiff - other.maxAbsDiff;
}
