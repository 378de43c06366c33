import * as tf from '@tensorflow/tfjs-core';
import type { Datatype, Tensor, TensorData } from '../../tensors/types.js';
import { InvalidModelError } from '../runtime.js';

/** TF.js dtypes and the protocol datatypes that carry them. */
const DATATYPE_OF: Partial<Record<string, Datatype>> = {
  float32: 'FP32',
  int32: 'INT32',
  bool: 'BOOL',
  string: 'BYTES',
};

const DTYPE_OF: Partial<Record<Datatype, tf.DataType>> = {
  FP32: 'float32',
  INT32: 'int32',
  BOOL: 'bool',
  BYTES: 'string',
};

/** Maps a TF.js dtype to a protocol datatype; `tensor` names the tensor in the rejection. */
export function datatypeOf(dtype: string | undefined, tensor: string): Datatype {
  const datatype = dtype === undefined ? undefined : DATATYPE_OF[dtype];
  if (!datatype) {
    throw new InvalidModelError(
      `${tensor} has dtype ${dtype ?? 'unknown'}, which Steward cannot carry; ` +
        `supported TF.js dtypes are ${Object.keys(DATATYPE_OF).join(', ')}`,
    );
  }
  return datatype;
}

/** -1 for every dimension TF.js leaves open (null or -1). */
export function specShape(shape: ReadonlyArray<number | null> | undefined): number[] {
  return (shape ?? []).map((dim) => (dim === null || dim < 0 ? -1 : dim));
}

export function toTfTensor(input: Tensor): tf.Tensor {
  const dtype = DTYPE_OF[input.datatype];
  if (!dtype) throw new Error(`input "${input.name}" has datatype ${input.datatype}`);
  return tf.tensor(input.data as tf.TensorLike, [...input.shape], dtype);
}

/**
 * Copies a TF.js tensor's values out; the caller disposes the tensor. The copy matters: the
 * CPU backend's dataSync returns its own storage, which the worker then transfers (detaches),
 * and that storage may be shared with a weight or another tensor.
 */
export function fromTfTensor(name: string, tensor: tf.Tensor): Tensor {
  const datatype = datatypeOf(tensor.dtype, `output "${name}"`);
  const values = tensor.dataSync();
  let data: TensorData;
  if (datatype === 'BYTES') {
    const decoder = new TextDecoder();
    data = Array.from(values as unknown as Uint8Array[], (bytes) => decoder.decode(bytes));
  } else {
    data = (values as Float32Array | Int32Array | Uint8Array).slice();
  }
  return { name, datatype, shape: [...tensor.shape], data };
}
