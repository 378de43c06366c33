import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import h5wasm, { type Dataset } from 'h5wasm/node';
import { storedArtifacts } from '../support/artifacts.js';
import { assertClose } from '../support/assert.js';
import { call, infer, push } from '../support/http.js';
import {
  denseSoftmaxConfig,
  denseWeights,
  writeBigEndianCopy,
  writeKerasFile,
} from '../support/keras-files.js';
import { kerasReference } from '../support/keras-reference.js';
import { SHARED_MODELS, SKIP_WITHOUT_SHARED_MODELS } from '../support/paths.js';
import { startTestServer, type TestServer } from '../support/server.js';

const PUBLIC = path.join(SHARED_MODELS, 'public');

async function readDataset(file: string, name: string): Promise<number[]> {
  await h5wasm.ready;
  const h5 = new h5wasm.File(file, 'r');
  try {
    return Array.from((h5.get(name) as Dataset).value as Float32Array);
  } finally {
    h5.close();
  }
}

/** Runs one FP32 input through a served model and returns the named output's data. */
async function run(
  server: TestServer,
  model: string,
  input: { name: string; shape: number[]; data: number[] },
): Promise<{ shape: number[]; data: number[] }> {
  const response = await infer(server.url, model, {
    inputs: [{ ...input, datatype: 'FP32' }],
  });
  assert.equal(response.status, 200, JSON.stringify(response.body));
  return response.body.outputs[0];
}

/** Predicts every row of a batch with the reference, which takes one sample at a time. */
async function referenceOutputs(
  file: string,
  data: number[],
  sampleShape: number[],
): Promise<number[]> {
  const reference = await kerasReference(file);
  const size = sampleShape.reduce((a, b) => a * b, 1);
  const outputs: number[] = [];
  for (let start = 0; start < data.length; start += size) {
    outputs.push(...reference.predict(data.slice(start, start + size), sampleShape));
  }
  return outputs;
}

describe('Keras HDF5 fixtures', { skip: SKIP_WITHOUT_SHARED_MODELS }, () => {
  let server: TestServer;

  before(async () => {
    server = await startTestServer();
  });

  after(async () => {
    await server.destroy();
  });

  it('dense softmax matches its reference outputs', async () => {
    const folder = path.join(PUBLIC, 'keras-dense-softmax-4in-3class-with-io');
    const model = path.join(folder, 'model.h5');
    const upload = await push(server.url, 'keras-dense', model);
    assert.equal(upload.status, 201, JSON.stringify(upload.body));
    assert.equal(upload.body.format, 'keras_h5');

    const metadata = await call(`${server.url}/v2/models/keras-dense`);
    assert.equal(metadata.body.platform, 'keras_h5');
    assert.deepEqual(metadata.body.inputs, [
      { name: 'dense_1_input', datatype: 'FP32', shape: [-1, 4] },
    ]);
    assert.deepEqual(metadata.body.outputs, [
      { name: 'activation_1', datatype: 'FP32', shape: [-1, 3] },
    ]);

    const io = path.join(folder, 'inputs_and_outputs.h5');
    const input = await readDataset(io, 'inputs/dense_1_input');
    const expected = await readDataset(io, 'predictions/activation_1');
    const output = await run(server, 'keras-dense', {
      name: 'dense_1_input',
      shape: [3, 4],
      data: input,
    });
    assert.deepEqual(output.shape, [3, 3]);
    assertClose(output.data, expected, 1e-6, 'against the reference file');
    assertClose(
      output.data,
      await referenceOutputs(model, input, [4]),
      1e-6,
      'against the forward pass',
    );
  });

  it('functional MLP matches the forward pass', async () => {
    const model = path.join(PUBLIC, 'keras-mlp-functional-3x-dense-relu', 'model.h5');
    const upload = await push(server.url, 'keras-mlp', model);
    assert.equal(upload.status, 201, JSON.stringify(upload.body));
    assert.deepEqual(upload.body.signature, {
      inputs: [{ name: 'input_27', datatype: 'FP32', shape: [-1, 3] }],
      outputs: [{ name: 'dropout_26', datatype: 'FP32', shape: [-1, 6] }],
    });
    const input = [0.5, -1.25, 2, -0.3, 0.8, 1.7, 3, 0, -2];
    const output = await run(server, 'keras-mlp', { name: 'input_27', shape: [3, 3], data: input });
    assert.deepEqual(output.shape, [3, 6]);
    assertClose(output.data, await referenceOutputs(model, input, [3]), 1e-5, 'keras-mlp');
  });

  it('LeNet reads the digit 5 and matches the forward pass', async () => {
    const folder = path.join(PUBLIC, 'keras-conv2d-mnist-lenet');
    const model = path.join(folder, 'model.h5');
    const upload = await push(server.url, 'keras-lenet', model);
    assert.equal(upload.status, 201, JSON.stringify(upload.body));
    const digit: number[] = JSON.parse(
      await readFile(path.join(folder, 'input_digit5.json'), 'utf8'),
    );
    const output = await run(server, 'keras-lenet', {
      name: 'reshape_1_input',
      shape: [1, 28, 28],
      data: digit,
    });
    assert.deepEqual(output.shape, [1, 10]);
    assert.equal(output.data.indexOf(Math.max(...output.data)), 5);
    assertClose(output.data, await referenceOutputs(model, digit, [28, 28]), 1e-5, 'keras-lenet');
  });

  it('Embedding and LSTM match the forward pass', async () => {
    const model = path.join(PUBLIC, 'keras-embedding-lstm', 'model.h5');
    const upload = await push(server.url, 'keras-embedding-lstm', model);
    assert.equal(upload.status, 201, JSON.stringify(upload.body));
    const ids = [0, 1, 2, 3, 3, 2, 1, 0, 1, 1, 3, 3, 0, 0, 2, 2, 1, 3, 0, 2];
    const output = await run(server, 'keras-embedding-lstm', {
      name: 'embedding_1_input',
      shape: [2, 10],
      data: ids,
    });
    assert.deepEqual(output.shape, [2, 10, 6]);
    assertClose(
      output.data,
      await referenceOutputs(model, ids, [10]),
      1e-5,
      'keras-embedding-lstm',
    );
  });

  it('Embedding id out of range is a bad request', async () => {
    const model = path.join(PUBLIC, 'keras-embedding-lstm', 'model.h5');
    const upload = await push(server.url, 'keras-embedding-ids', model);
    assert.equal(upload.status, 201, JSON.stringify(upload.body));
    const response = await infer(server.url, 'keras-embedding-ids', {
      inputs: [
        {
          name: 'embedding_1_input',
          datatype: 'FP32',
          shape: [1, 10],
          data: [0, 1, 2, 3, -1, 0, 1, 2, 3, 0],
        },
      ],
    });
    assert.equal(response.status, 400, JSON.stringify(response.body));
    assert.match(response.body.error, /GatherV2: the index value -1 is not in \[0, 3\]/);
    const version = await call(`${server.url}/api/v1/models/keras-embedding-ids/versions/1`);
    assert.equal(version.body.usage.failures.bad_request, 1);
    assert.equal(version.body.usage.failures.model_error, 0);
  });

  it('LSTM with a fixed batch matches its reference predictions', async () => {
    const folder = path.join(PUBLIC, 'keras-lstm-regression-with-io');
    const model = path.join(folder, 'model.h5');
    const upload = await push(server.url, 'keras-lstm', model);
    assert.equal(upload.status, 201, JSON.stringify(upload.body));
    assert.deepEqual(upload.body.signature.inputs, [
      { name: 'lstm_1_input', datatype: 'FP32', shape: [25, 1, 1] },
    ]);
    const io = path.join(folder, 'inputs_and_outputs.h5');
    const input = await readDataset(io, 'inputs/lstm_1_input');
    const expected = await readDataset(io, 'predictions/dense_1');
    const output = await run(server, 'keras-lstm', {
      name: 'lstm_1_input',
      shape: [25, 1, 1],
      data: input,
    });
    assertClose(output.data, expected, 1e-5, 'against the reference file');
    assertClose(
      output.data,
      await referenceOutputs(model, input, [1, 1]),
      1e-5,
      'against the forward pass',
    );
  });

  it('rejects the weights-only file and stores nothing', async () => {
    const fresh = await startTestServer();
    try {
      const file = path.join(PUBLIC, 'keras-weights-only-no-model-config', 'weights.h5');
      const response = await push(fresh.url, 'weights-only', file);
      assert.equal(response.status, 422);
      assert.equal(response.body.code, 'INVALID_ARTIFACT');
      assert.match(
        response.body.error,
        /holds weights but no model architecture \(no model_config/,
      );
      const listing = await call(`${fresh.url}/api/v1/models/weights-only`);
      assert.equal(listing.status, 404);
      assert.deepEqual(await storedArtifacts(fresh.dataDir), ['sha256', 'tmp', 'unpacked']);
    } finally {
      await fresh.destroy();
    }
  });
});

describe('Keras HDF5 files written by the test', () => {
  let server: TestServer;
  let folder: string;
  let dense: string;
  const input = [0.1, 0.2, 0.3, 0.4, -1, 0.5, 2, 0.25];

  before(async () => {
    server = await startTestServer();
    folder = await mkdtemp(path.join(os.tmpdir(), 'steward-keras-'));
    dense = path.join(folder, 'dense.h5');
    await writeKerasFile(dense, {
      modelConfig: denseSoftmaxConfig(4, 3),
      layers: denseWeights(4, 3),
    });
  });

  after(async () => {
    await server.destroy();
    await rm(folder, { recursive: true, force: true });
  });

  it('serves a Dense model that matches the forward pass', async () => {
    const upload = await push(server.url, 'written-dense', dense);
    assert.equal(upload.status, 201, JSON.stringify(upload.body));
    const output = await run(server, 'written-dense', {
      name: 'dense_1_input',
      shape: [2, 4],
      data: input,
    });
    assertClose(output.data, await referenceOutputs(dense, input, [4]), 1e-6, 'written-dense');
  });

  it('reads big-endian weights right', async () => {
    const bigEndian = path.join(folder, 'big-endian.h5');
    const [kernel, bias] = denseWeights(4, 3)[0]!.weights.map(
      (weight) => weight.values as Float32Array,
    );
    await writeBigEndianCopy(dense, bigEndian, [kernel!, bias!]);
    await h5wasm.ready;
    const h5 = new h5wasm.File(bigEndian, 'r');
    const littleEndian = (h5.get('model_weights/dense_1/dense_1/kernel:0') as Dataset).metadata
      .littleEndian;
    h5.close();
    assert.equal(littleEndian, false, 'the copy stores big-endian floats');

    const upload = await push(server.url, 'big-endian-dense', bigEndian);
    assert.equal(upload.status, 201, JSON.stringify(upload.body));
    const output = await run(server, 'big-endian-dense', {
      name: 'dense_1_input',
      shape: [2, 4],
      data: input,
    });
    assertClose(output.data, await referenceOutputs(dense, input, [4]), 1e-6, 'big-endian-dense');
  });

  it('serves float64 weights narrowed to float32', async () => {
    const file = path.join(folder, 'float64.h5');
    const layers = denseWeights(4, 3).map((layer) => ({
      ...layer,
      weights: layer.weights.map((weight) => ({
        ...weight,
        values: Float64Array.from(weight.values),
      })),
    }));
    await writeKerasFile(file, { modelConfig: denseSoftmaxConfig(4, 3), layers });
    const upload = await push(server.url, 'float64-dense', file);
    assert.equal(upload.status, 201, JSON.stringify(upload.body));
    const output = await run(server, 'float64-dense', {
      name: 'dense_1_input',
      shape: [2, 4],
      data: input,
    });
    assertClose(output.data, await referenceOutputs(dense, input, [4]), 1e-6, 'float64-dense');
  });

  const lambda = {
    class_name: 'Lambda',
    config: { name: 'lambda_1', function: ['4wEAAAAAAAAA', null, null], output_shape: null },
  };
  const custom = { class_name: 'ScaledDense', config: { name: 'scaled_dense_1', scale: 2 } };
  const attention = {
    class_name: 'MultiHeadAttention',
    config: { name: 'attention_1', num_heads: 2 },
  };

  const rejections: Array<{
    name: string;
    options: () => Parameters<typeof writeKerasFile>[1];
    message: RegExp;
  }> = [
    {
      name: 'weights-only file',
      options: () => ({ layers: denseWeights(4, 3), weightsOnly: true }),
      message: /holds weights but no model architecture \(no model_config attribute\)/,
    },
    {
      name: 'Keras 3 file',
      options: () => ({
        modelConfig: denseSoftmaxConfig(4, 3),
        kerasVersion: '3.3.3',
        layers: denseWeights(4, 3),
      }),
      message: /saved by Keras 3 \(keras_version 3\.3\.3\)/,
    },
    {
      name: 'Keras 3 config under version 2.15',
      options: () => {
        const config = denseSoftmaxConfig(4, 3);
        const first = (config.config.layers[0] as { config: Record<string, unknown> }).config;
        first.batch_shape = first.batch_input_shape;
        delete first.batch_input_shape;
        return { modelConfig: config, kerasVersion: '2.15.0', layers: denseWeights(4, 3) };
      },
      message: /model_config is in the Keras 3 format .* although keras_version is 2\.15\.0/,
    },
    {
      name: 'Lambda layer',
      options: () => ({
        modelConfig: denseSoftmaxConfig(4, 3, [lambda]),
        layers: denseWeights(4, 3),
      }),
      message: /TF\.js cannot build these layers: layer "lambda_1" is a Lambda layer/,
    },
    {
      name: 'custom layer class',
      options: () => ({
        modelConfig: denseSoftmaxConfig(4, 3, [custom]),
        layers: denseWeights(4, 3),
      }),
      message: /layer "scaled_dense_1" has the custom class ScaledDense/,
    },
    {
      name: 'layer TF.js lacks',
      options: () => ({
        modelConfig: denseSoftmaxConfig(4, 3, [attention]),
        layers: denseWeights(4, 3),
      }),
      message: /layer "attention_1" has class MultiHeadAttention, which TF.js does not implement/,
    },
    {
      name: 'integer weights',
      options: () => ({
        modelConfig: denseSoftmaxConfig(4, 3),
        layers: denseWeights(4, 3).map((layer) => ({
          ...layer,
          weights: layer.weights.map((weight) => ({
            ...weight,
            values: Int32Array.from(weight.values),
          })),
        })),
      }),
      message: /weight "model_weights\/dense_1\/dense_1\/kernel:0" is stored as 32-bit integers/,
    },
    {
      name: 'missing weights',
      options: () => ({
        modelConfig: denseSoftmaxConfig(4, 3),
        layers: [{ layer: 'dense_1', weights: [] }],
      }),
      message: /TF\.js could not build the model: .*weights are not set: .*dense_1\/kernel/,
    },
    {
      name: 'weights of wrong shape',
      options: () => ({ modelConfig: denseSoftmaxConfig(5, 3), layers: denseWeights(4, 3) }),
      message: /TF\.js could not build the model: .*[Ss]hape/,
    },
    {
      name: 'Theano backend model',
      options: () => ({
        modelConfig: denseSoftmaxConfig(4, 3),
        backend: 'theano',
        layers: denseWeights(4, 3),
      }),
      message: /saved with the theano backend/,
    },
  ];

  for (const rejection of rejections) {
    it(`rejects ${rejection.name}`, async () => {
      const file = path.join(folder, `${rejection.name.replaceAll(' ', '-')}.h5`);
      await writeKerasFile(file, rejection.options());
      const response = await push(server.url, 'rejected', file);
      assert.equal(response.status, 422, JSON.stringify(response.body));
      assert.equal(response.body.code, 'INVALID_ARTIFACT');
      assert.match(response.body.error, rejection.message);
    });
  }

  it('rejects truncated HDF5 file', async () => {
    const bytes = await readFile(dense);
    const response = await push(server.url, 'rejected', bytes.subarray(0, 2000));
    assert.equal(response.status, 422, JSON.stringify(response.body));
    assert.match(response.body.error, /the file is not a readable HDF5 file: H5Fopen\(\)/);
  });

  it('registers nothing for the rejected files', async () => {
    const listing = await call(`${server.url}/api/v1/models/rejected`);
    assert.equal(listing.status, 404);
    const stored = await storedArtifacts(server.dataDir);
    const accepted = await Promise.all(
      ['written-dense', 'big-endian-dense', 'float64-dense'].map(
        async (model) =>
          (await call(`${server.url}/api/v1/models/${model}/versions/1`)).body.sha256,
      ),
    );
    const artifacts = stored
      .filter((entry) => /^sha256\/[0-9a-f]{2}\/[0-9a-f]{64}$/.test(entry))
      .map((entry) => path.basename(entry));
    assert.deepEqual(artifacts.sort(), accepted.sort());
    assert.deepEqual(
      stored.filter((entry) => entry.startsWith('tmp/') || entry.startsWith('unpacked/')),
      [],
    );
  });
});
