import { buildModel, scaleModel } from './onnx-builder.js';

/** y = Reshape(x, [5]): every request with other than 5 values fails inside onnxruntime. */
export function failingReshapeModel(): Buffer {
  return buildModel({
    inputs: [{ name: 'x', type: 'FP32', shape: ['n'] }],
    outputs: [{ name: 'y', type: 'FP32', shape: [5] }],
    initializers: [{ name: 'shape', type: 'INT64', dims: [1], values: BigInt64Array.of(5n) }],
    nodes: [{ op: 'Reshape', inputs: ['x', 'shape'], outputs: ['y'] }],
  });
}

/** y = Identity(x) whose signature declares y as [2]: any other length breaks the signature. */
export function wrongShapeModel(): Buffer {
  return buildModel({
    inputs: [{ name: 'x', type: 'FP32', shape: ['n'] }],
    outputs: [{ name: 'y', type: 'FP32', shape: [2] }],
    nodes: [{ op: 'Identity', inputs: ['x'], outputs: ['y'] }],
  });
}

/** y = Softmax(x) over the last axis of [n, 3]: rows of probabilities that sum to 1. */
export function softmaxModel(): Buffer {
  return buildModel({
    inputs: [{ name: 'x', type: 'FP32', shape: ['n', 3] }],
    outputs: [{ name: 'y', type: 'FP32', shape: ['n', 3] }],
    nodes: [{ op: 'Softmax', inputs: ['x'], outputs: ['y'], attributes: { axis: -1 } }],
  });
}

/** Builds a request for scaleModel with `rows` rows of four values, each `value`. */
export function scaleRequest(rows = 1, value = 1) {
  return {
    inputs: [
      {
        name: 'x',
        datatype: 'FP32',
        shape: [rows, 4],
        data: Array.from({ length: rows * 4 }, () => value),
      },
    ],
  };
}

export { scaleModel };
