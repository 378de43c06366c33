/**
 * Writes TF.js graph models by hand: model.json contains a TensorFlow GraphDef in JSON form
 * and a weights manifest, weights.bin the constants in manifest order.
 */

type GraphDtype = 'DT_FLOAT' | 'DT_INT32';

interface ManifestWeight {
  readonly name: string;
  readonly shape: number[];
  readonly dtype: 'float32' | 'int32';
}

const dims = (...sizes: number[]) => ({ dim: sizes.map((size) => ({ size: String(size) })) });

/** Builds a Const node, whose value TF.js reads from the weight of the same name. */
function constant(name: string, dtype: GraphDtype, shape: number[]) {
  return {
    name,
    op: 'Const',
    attr: { dtype: { type: dtype }, value: { tensor: { dtype, tensorShape: dims(...shape) } } },
  };
}

function graphModelJson(nodes: readonly object[], weights: readonly ManifestWeight[]): string {
  return JSON.stringify({
    format: 'graph-model',
    generatedBy: 'steward tests',
    convertedBy: null,
    modelTopology: { node: nodes, versions: { producer: 1 } },
    weightsManifest: [{ paths: ['weights.bin'], weights }],
  });
}

/** Writes a model of y = Relu(MatMul(x, w) + b) for float32 x of shape [batch, inputs]. */
export function denseReluGraphModel(
  kernel: Float32Array,
  bias: Float32Array,
): { modelJson: string; weights: Buffer } {
  const units = bias.length;
  const inputs = kernel.length / units;
  const float = { type: 'DT_FLOAT' };
  const modelJson = graphModelJson(
    [
      {
        name: 'x',
        op: 'Placeholder',
        attr: { dtype: float, shape: { shape: dims(-1, inputs) } },
      },
      constant('w', 'DT_FLOAT', [inputs, units]),
      constant('b', 'DT_FLOAT', [units]),
      {
        name: 'product',
        op: 'MatMul',
        input: ['x', 'w'],
        attr: { T: float, transpose_a: { b: false }, transpose_b: { b: false } },
      },
      { name: 'sum', op: 'AddV2', input: ['product', 'b'], attr: { T: float } },
      { name: 'y', op: 'Relu', input: ['sum'], attr: { T: float } },
    ],
    [
      { name: 'w', shape: [inputs, units], dtype: 'float32' },
      { name: 'b', shape: [units], dtype: 'float32' },
    ],
  );
  const weights = Buffer.concat([Buffer.from(kernel.buffer), Buffer.from(bias.buffer)]);
  return { modelJson, weights };
}

/**
 * Writes a model that looks up rows of a float32 table: y = GatherV2(table, ids, 0) for INT32 ids of
 * shape [n]. The table has `rows` rows of `table.length / rows` values.
 */
export function gatherGraphModel(
  table: Float32Array,
  rows: number,
): { modelJson: string; weights: Buffer } {
  const width = table.length / rows;
  const modelJson = graphModelJson(
    [
      {
        name: 'ids',
        op: 'Placeholder',
        attr: { dtype: { type: 'DT_INT32' }, shape: { shape: dims(-1) } },
      },
      constant('table', 'DT_FLOAT', [rows, width]),
      constant('axis', 'DT_INT32', []),
      {
        name: 'y',
        op: 'GatherV2',
        input: ['table', 'ids', 'axis'],
        attr: { Tparams: { type: 'DT_FLOAT' }, Tindices: { type: 'DT_INT32' } },
      },
    ],
    [
      { name: 'table', shape: [rows, width], dtype: 'float32' },
      { name: 'axis', shape: [], dtype: 'int32' },
    ],
  );
  const axis = Buffer.from(Int32Array.of(0).buffer);
  return { modelJson, weights: Buffer.concat([Buffer.from(table.buffer), axis]) };
}
