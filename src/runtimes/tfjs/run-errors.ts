import { InvalidInputError } from '../runtime.js';

/**
 * TF.js 4.22 CPU kernel messages that blame an index taken from the request: GatherV2 (which
 * Embedding layers use), GatherNd, ScatterNd, RaggedGather and the sparse segment kernels.
 * The signature cannot catch these, because any number fits an FP32 or INT32 input.
 */
const INDEX_OUT_OF_RANGE =
  /the index value -?\d+ is not in \[|Invalid indices: .* does not index into|indices\[[^\]]*\] =?= -?\d+ (is not in|out of range) \[|Segment id -?\d+ out of range \[/;

/**
 * Returns an InvalidInputError for a run that failed on the request's values, so that the
 * client gets a 400 and the model's health is untouched. Returns other errors unchanged.
 */
export function classifyRunError(error: unknown): unknown {
  const message = error instanceof Error ? error.message : String(error);
  if (!INDEX_OUT_OF_RANGE.test(message)) return error;
  return new InvalidInputError(
    `TF.js rejected the input values: ${message}; send only indices that the model's ` +
      'Embedding or Gather table holds (an Embedding layer with input_dim N accepts 0 to N-1)',
    { cause: error },
  );
}
