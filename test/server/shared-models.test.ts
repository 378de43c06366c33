import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { call, infer, push, readJson } from '../support/http.js';
import { hasSharedModels, SHARED_MODELS } from '../support/paths.js';
import { spawnServer } from '../support/process.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { parseTensorProto } from '../support/tensor-proto.js';

const skip = hasSharedModels() ? false : 'the shared model fixtures (../shared/models) are absent';

/** onnxruntime's StringNormalizer builds this locale by name, so the host must have it. */
const hasUsLocale = /^en_US\.utf-?8$/im.test(spawnSync('locale', ['-a']).stdout?.toString() ?? '');

function maxDifference(actual: number[], expected: number[]): number {
  assert.equal(actual.length, expected.length);
  return Math.max(0, ...actual.map((value, i) => Math.abs(value - expected[i]!)));
}

describe('shared trained models', { skip }, () => {
  let server: TestServer;
  const trained = path.join(SHARED_MODELS, 'trained');

  before(async () => {
    server = await startTestServer();
  });

  after(async () => {
    await server.destroy();
  });

  it('every model with a sample request reproduces its expected outputs', async () => {
    const manifest = await readJson<{ models: Array<{ name: string }> }>(
      path.join(trained, 'manifest.json'),
    );
    assert.ok(manifest.models.length >= 5);
    for (const { name } of manifest.models) {
      const folder = path.join(trained, name);
      assert.equal((await push(server.url, name, path.join(folder, 'model.onnx'))).status, 201);
      const request = await readJson(path.join(folder, 'requests/request.json'));
      const expected = await readJson(path.join(folder, 'requests/expected.json'));
      const response = await infer(server.url, name, request);
      assert.equal(response.status, 200, `${name}: ${JSON.stringify(response.body)}`);
      for (const want of expected.outputs) {
        const got = response.body.outputs.find((o: { name: string }) => o.name === want.name);
        assert.deepEqual(got.shape, want.shape, `${name}.${want.name} shape`);
        if (want.datatype === 'INT64') {
          assert.deepEqual(got.data, want.data, `${name}.${want.name}`);
        } else {
          const difference = maxDifference(got.data, want.data);
          assert.ok(
            difference <= expected.tolerance,
            `${name}.${want.name} differs by ${difference}`,
          );
        }
      }
    }
  });

  it('every broken file is rejected and nothing is registered', async () => {
    const broken = path.join(trained, 'broken');
    for (const name of await readdir(broken)) {
      const response = await push(
        server.url,
        `broken-${name}`,
        path.join(broken, name, 'model.onnx'),
      );
      assert.equal(response.status, 422, `${name}: ${JSON.stringify(response.body)}`);
      assert.equal((await call(`${server.url}/api/v1/models/broken-${name}`)).status, 404);
    }
  });
});

describe('shared public ONNX models', { skip }, () => {
  let server: TestServer;
  const publicModels = path.join(SHARED_MODELS, 'public');

  before(async () => {
    server = await startTestServer();
  });

  after(async () => {
    await server.destroy();
  });

  /** The ONNX backend-test cases: one input and one output as .pb files, bound by position. */
  const backendCases = [
    { folder: 'onnx-backend-pytorch-conv2d', tolerance: 1e-5 },
    { folder: 'onnx-backend-pytorch-embedding-int64', tolerance: 0 },
    { folder: 'onnx-backend-stringnormalizer-string', tolerance: 0 },
  ];

  for (const { folder, tolerance } of backendCases) {
    const needsLocale = folder.includes('string') && !hasUsLocale;
    const reason = needsLocale ? 'the en_US.UTF-8 locale is not installed' : false;
    it(`${folder} reproduces its test data set`, { skip: reason }, async () => {
      const base = path.join(publicModels, folder);
      const uploaded = await push(server.url, folder, path.join(base, 'model.onnx'));
      assert.equal(uploaded.status, 201, JSON.stringify(uploaded.body));
      const signature = uploaded.body.signature;
      assert.equal(
        signature.inputs.length,
        1,
        'initializers listed as graph inputs must not appear',
      );
      const input = parseTensorProto(await readFile(path.join(base, 'test_data_set_0/input_0.pb')));
      const output = parseTensorProto(
        await readFile(path.join(base, 'test_data_set_0/output_0.pb')),
      );
      const response = await infer(server.url, folder, {
        inputs: [
          {
            name: signature.inputs[0].name,
            datatype: input.datatype,
            shape: input.shape,
            data: input.data.map((value) => (typeof value === 'bigint' ? Number(value) : value)),
          },
        ],
      });
      assert.equal(response.status, 200, JSON.stringify(response.body));
      const got = response.body.outputs[0];
      assert.deepEqual(got.shape, output.shape);
      if (output.datatype === 'BYTES') {
        assert.deepEqual(got.data, output.data);
      } else {
        const difference = maxDifference(got.data, output.data as number[]);
        assert.ok(difference <= tolerance, `differs by ${difference}`);
      }
    });
  }

  it('onnx-mnist-cnn-cntk lists only the input a caller feeds', async () => {
    const response = await push(
      server.url,
      'mnist-cntk',
      path.join(publicModels, 'onnx-mnist-cnn-cntk/model.onnx'),
    );
    assert.equal(response.status, 201);
    assert.deepEqual(response.body.signature.inputs, [
      { name: 'Input3', datatype: 'FP32', shape: [1, 1, 28, 28] },
    ]);
    const result = await infer(server.url, 'mnist-cntk', {
      inputs: [
        { name: 'Input3', datatype: 'FP32', shape: [1, 1, 28, 28], data: new Array(784).fill(0) },
      ],
    });
    assert.equal(result.status, 200);
    assert.deepEqual(result.body.outputs[0].shape, [1, 10]);
  });

  it('onnx-mnist-mlp-pytorch returns a probability distribution', async () => {
    const response = await push(
      server.url,
      'mnist-mlp',
      path.join(publicModels, 'onnx-mnist-mlp-pytorch/model.onnx'),
    );
    assert.equal(response.status, 201);
    const pixels = Array.from(
      { length: 784 },
      (_, i) => ((i % 28 > 10 && i % 28 < 18 ? 1 : 0) - 0.1307) / 0.3081,
    );
    const result = await infer(server.url, 'mnist-mlp', {
      inputs: [{ name: 'image', datatype: 'FP32', shape: [1, 1, 28, 28], data: pixels }],
    });
    assert.equal(result.status, 200);
    const sum = (result.body.outputs[0].data as number[]).reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(sum - 1) < 1e-5, `softmax outputs sum to ${sum}`);
  });

  it('onnx-sklearn-titanic-pipeline-nozipmap takes five inputs of three datatypes', async () => {
    const response = await push(
      server.url,
      'titanic',
      path.join(publicModels, 'onnx-sklearn-titanic-pipeline-nozipmap/model.onnx'),
    );
    assert.equal(response.status, 201);
    const rows = 2;
    const result = await infer(server.url, 'titanic', {
      inputs: [
        { name: 'pclass', datatype: 'INT64', shape: [rows, 1], data: [1, 3] },
        { name: 'sex', datatype: 'BYTES', shape: [rows, 1], data: ['female', 'male'] },
        { name: 'age', datatype: 'FP32', shape: [rows, 1], data: [29, 40] },
        { name: 'fare', datatype: 'FP32', shape: [rows, 1], data: [211.3, 7.9] },
        { name: 'embarked', datatype: 'BYTES', shape: [rows, 1], data: ['S', 'S'] },
      ],
    });
    assert.equal(result.status, 200, JSON.stringify(result.body));
    const [label, probabilities] = result.body.outputs;
    assert.equal(label.datatype, 'INT64');
    assert.deepEqual(label.shape, [rows]);
    assert.deepEqual(probabilities.shape, [rows, 2]);
    for (let row = 0; row < rows; row += 1) {
      const pair = probabilities.data.slice(row * 2, row * 2 + 2);
      assert.ok(Math.abs(pair[0] + pair[1] - 1) < 1e-5);
      assert.equal(label.data[row], pair[1] > pair[0] ? 1 : 0);
    }
  });

  it('onnx-superres-pytorch-dynamic-batch serves any batch size', async () => {
    const response = await push(
      server.url,
      'superres',
      path.join(publicModels, 'onnx-superres-pytorch-dynamic-batch/model.onnx'),
    );
    assert.equal(response.status, 201);
    assert.deepEqual(response.body.signature.inputs[0].shape, [-1, 1, 224, 224]);
    const result = await infer(server.url, 'superres', {
      inputs: [
        {
          name: 'input',
          datatype: 'FP32',
          shape: [2, 1, 224, 224],
          data: new Array(2 * 224 * 224).fill(0.5),
        },
      ],
      outputs: [{ name: 'output', parameters: { binary_data: true } }],
    });
    assert.equal(result.status, 200);
    assert.equal(result.headers.get('content-type'), 'application/octet-stream');
    const headerLength = Number(result.headers.get('inference-header-content-length'));
    const header = JSON.parse((result.body as string).slice(0, headerLength));
    assert.deepEqual(header.outputs[0].shape, [2, 1, 672, 672]);
    assert.deepEqual(header.outputs[0].parameters, { binary_data_size: 2 * 672 * 672 * 4 });
  });
});

describe('string model on a host without its locale', { skip }, () => {
  it('is rejected with the locale to install', async () => {
    // glibc reads locales only from LOCPATH when it is set, so an empty folder hides them all.
    const emptyLocales = await mkdtemp(path.join(os.tmpdir(), 'steward-no-locales-'));
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'steward-test-'));
    const server = await spawnServer(['--data-dir', dataDir], { LOCPATH: emptyLocales });
    try {
      const file = path.join(
        SHARED_MODELS,
        'public/onnx-backend-stringnormalizer-string/model.onnx',
      );
      const response = await push(server.url, 'strings', file);
      assert.equal(response.status, 422);
      assert.equal(response.body.code, 'INVALID_ARTIFACT');
      assert.match(
        response.body.error,
        /its string operators need the en_US\.UTF-8 locale, which this host lacks; install it/,
      );
      const models = await call(`${server.url}/api/v1/models`);
      assert.equal(models.body.models.length, 0);
    } finally {
      server.child.kill('SIGTERM');
      await server.exited;
      await rm(emptyLocales, { recursive: true, force: true });
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
