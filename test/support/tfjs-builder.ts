/**
 * Writes a TF.js graph model by hand: model.json contains a TensorFlow GraphDef in JSON form
 * and a weights manifest, weights.bin the float32 constants. The graph computes
 * y = Relu(MatMul(x, w) + b) for x of shape [batch, inputs].
 */
export function denseReluGraphModel(
  kernel: Float32Array,
  bias: Float32Array,
): { modelJson: string; weights: Buffer } {
  const units = bias.length;
  const inputs = kernel.length / units;
  const float = { type: 'DT_FLOAT' };
  const dims = (...sizes: number[]) => ({ dim: sizes.map((size) => ({ size: String(size) })) });
  const constant = (name: string, shape: number[]) => ({
    name,
    op: 'Const',
    attr: { dtype: float, value: { tensor: { dtype: 'DT_FLOAT', tensorShape: dims(...shape) } } },
  });
  const modelJson = {
    format: 'graph-model',
    generatedBy: 'steward tests',
    convertedBy: null,
    modelTopology: {
      node: [
        {
          name: 'x',
          op: 'Placeholder',
          attr: { dtype: float, shape: { shape: dims(-1, inputs) } },
        },
        constant('w', [inputs, units]),
        constant('b', [units]),
        {
          name: 'product',
          op: 'MatMul',
          input: ['x', 'w'],
          attr: { T: float, transpose_a: { b: false }, transpose_b: { b: false } },
        },
        { name: 'sum', op: 'AddV2', input: ['product', 'b'], attr: { T: float } },
        { name: 'y', op: 'Relu', input: ['sum'], attr: { T: float } },
      ],
      versions: { producer: 1 },
    },
    weightsManifest: [
      {
        paths: ['weights.bin'],
        weights: [
          { name: 'w', shape: [inputs, units], dtype: 'float32' },
          { name: 'b', shape: [units], dtype: 'float32' },
        ],
      },
    ],
  };
  const weights = Buffer.concat([Buffer.from(kernel.buffer), Buffer.from(bias.buffer)]);
  return { modelJson: JSON.stringify(modelJson), weights };
}
