import type { Tensor } from './types.js';

/** Copies tensors with their own data, for a second run after the first took the buffers. */
export function copyTensors(tensors: readonly Tensor[]): Tensor[] {
  return tensors.map((tensor) => ({
    ...tensor,
    data: Array.isArray(tensor.data) ? [...tensor.data] : tensor.data.slice(),
  }));
}
