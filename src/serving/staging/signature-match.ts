import type { Signature } from '../../tensors/types.js';

/**
 * Returns why `candidate` would reject a request that `current` accepts, or null when it
 * accepts them all: the same input names and datatypes, and each dimension either the same or
 * of any size in `candidate`.
 */
export function inputMismatch(current: Signature, candidate: Signature): string | null {
  const byName = new Map(candidate.inputs.map((spec) => [spec.name, spec]));
  for (const spec of current.inputs) {
    const other = byName.get(spec.name);
    if (!other) return `input "${spec.name}" is missing`;
    if (other.datatype !== spec.datatype) {
      return `input "${spec.name}" takes ${other.datatype} instead of ${spec.datatype}`;
    }
    // An empty shape is an unknown rank: in the candidate it accepts any, in the current
    // version it may let through shapes that the candidate rejects.
    if (other.shape.length === 0) continue;
    const fits =
      spec.shape.length === other.shape.length &&
      spec.shape.every((dim, axis) => {
        const otherDim = other.shape[axis]!;
        return otherDim < 0 || dim === otherDim;
      });
    if (!fits) {
      return `input "${spec.name}" has shape [${other.shape.join(',')}] instead of [${spec.shape.join(',')}]`;
    }
  }
  const known = new Set(current.inputs.map((spec) => spec.name));
  const extra = candidate.inputs.find((spec) => !known.has(spec.name));
  if (extra) return `input "${extra.name}" is new, and requests do not send it`;
  return null;
}

/**
 * Returns why a caller of `current` could break on `candidate`: an input mismatch, or an
 * output that `candidate` lacks and a request may ask for by name. Null when there is none.
 */
export function signatureMismatch(current: Signature, candidate: Signature): string | null {
  const inputs = inputMismatch(current, candidate);
  if (inputs) return inputs;
  const outputs = new Set(candidate.outputs.map((spec) => spec.name));
  const missing = current.outputs.find((spec) => !outputs.has(spec.name));
  return missing ? `output "${missing.name}" is missing` : null;
}
