import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { type ArchiveFile, tarGzArchive, zipArchive } from '../support/archives.js';
import { storedArtifacts } from '../support/artifacts.js';
import { assertClose } from '../support/assert.js';
import { call, infer, push } from '../support/http.js';
import { externalDataModel, scaleModel, zeroWeightModel } from '../support/onnx-builder.js';
import { SHARED_MODELS, SKIP_WITHOUT_SHARED_MODELS } from '../support/paths.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { denseReluGraphModel, gatherGraphModel } from '../support/tfjs-builder.js';

const PUBLIC = path.join(SHARED_MODELS, 'public');

type Packer = (files: readonly ArchiveFile[]) => Buffer;
const PACKERS: Array<[string, Packer]> = [
  ['zip', zipArchive],
  ['tar.gz', tarGzArchive],
];

async function fixtureFiles(folder: string, names: string[], prefix = ''): Promise<ArchiveFile[]> {
  return Promise.all(
    names.map(async (name) => ({
      path: `${prefix}${name}`,
      data: await readFile(path.join(PUBLIC, folder, name)),
    })),
  );
}

describe('unsafe archives', () => {
  let server: TestServer;

  before(async () => {
    server = await startTestServer({ maxUnpackedBytes: 1024 * 1024 });
  });

  after(async () => {
    await server.destroy();
  });

  for (const [kind, pack] of PACKERS) {
    it(`rejects ${kind} entry with ../ path`, async () => {
      const archive = pack([
        { path: 'model.json', data: '{}' },
        { path: '../escaped.txt', data: 'outside' },
      ]);
      const response = await push(server.url, 'unsafe', archive);
      assert.equal(response.status, 422, JSON.stringify(response.body));
      assert.match(response.body.error, /archive entry "\.\.\/escaped\.txt" has a "\.\." segment/);
    });

    it(`rejects ${kind} symbolic link`, async () => {
      const archive = pack([
        { path: 'model.json', data: '{}' },
        { path: 'weights.bin', symlinkTo: '/etc/passwd' },
      ]);
      const response = await push(server.url, 'unsafe', archive);
      assert.equal(response.status, 422, JSON.stringify(response.body));
      assert.match(response.body.error, /archive entry "weights\.bin" is a symbolic link/);
    });

    it(`rejects ${kind} with 10,000 tiny files`, async () => {
      const files = Array.from({ length: 10_000 }, (_, i) => ({
        path: `shard${i}.bin`,
        data: 'x',
      }));
      const response = await push(server.url, 'unsafe', pack(files));
      assert.equal(response.status, 422, JSON.stringify(response.body));
      assert.match(response.body.error, /the archive has more than 1000 entries/);
    });

    it(`rejects ${kind} that unpacks past the size limit`, async () => {
      const archive = pack([{ path: 'weights.bin', data: Buffer.alloc(2 * 1024 * 1024) }]);
      assert.ok(archive.length < 64 * 1024, 'zeros compress well');
      const response = await push(server.url, 'unsafe', archive);
      assert.equal(response.status, 422, JSON.stringify(response.body));
      assert.match(response.body.error, /unpacks to more than 1048576 bytes .*"weights\.bin"/);
    });

    it(`rejects ${kind} without a model`, async () => {
      const response = await push(server.url, 'unsafe', pack([{ path: 'README.md', data: '#' }]));
      assert.equal(response.status, 422, JSON.stringify(response.body));
      assert.match(response.body.error, /holds no model at its top level \(found README\.md\)/);
    });
  }

  it('rejects tar.gz absolute path', async () => {
    const archive = tarGzArchive([{ path: '/tmp/steward-escaped.txt', data: 'outside' }]);
    const response = await push(server.url, 'unsafe', archive);
    assert.equal(response.status, 422, JSON.stringify(response.body));
    assert.match(response.body.error, /has an absolute path/);
  });

  it('rejects tar.gz whose skipped entry is huge', async () => {
    // An entry for the top folder itself writes nothing, so only the tar stream bound counts
    // its content: 1 MiB of files plus room for the headers of 1000 entries.
    const archive = tarGzArchive([{ path: './', data: Buffer.alloc(16 * 1024 * 1024) }]);
    const response = await push(server.url, 'unsafe', archive);
    assert.equal(response.status, 422, JSON.stringify(response.body));
    assert.equal(response.body.code, 'INVALID_ARTIFACT');
    assert.match(
      response.body.error,
      /the tar stream unpacks to more than 9306112 bytes of files and tar headers; raise --max-unpacked-size/,
    );
  });

  it('rejects tar.gz compressed twice', async () => {
    const archive = gzipSync(tarGzArchive([{ path: 'model.onnx', data: scaleModel(2) }]));
    const response = await push(server.url, 'unsafe', archive);
    assert.equal(response.status, 422, JSON.stringify(response.body));
    assert.match(response.body.error, /the archive is compressed twice/);
  });

  it('rejects tar.gz hard link', async () => {
    const archive = tarGzArchive([
      { path: 'model.json', data: '{}' },
      { path: 'weights.bin', hardLinkTo: 'model.json' },
    ]);
    const response = await push(server.url, 'unsafe', archive);
    assert.equal(response.status, 422, JSON.stringify(response.body));
    assert.match(response.body.error, /archive entry "weights\.bin" is a hard link/);
  });

  it('rejects truncated zip', async () => {
    const archive = zipArchive([{ path: 'model.json', data: '{"format":"layers-model"}' }]);
    const response = await push(server.url, 'unsafe', archive.subarray(0, archive.length - 10));
    assert.equal(response.status, 422, JSON.stringify(response.body));
    assert.match(response.body.error, /the zip archive could not be read/);
  });

  it('rejects Keras 3 .keras archive naming its version', async () => {
    const archive = zipArchive([
      { path: 'metadata.json', data: '{"keras_version": "3.1.0", "date_saved": "2024-03-01"}' },
      { path: 'config.json', data: '{"class_name": "Sequential", "config": {}}' },
      { path: 'model.weights.h5', data: 'not read' },
    ]);
    const response = await push(server.url, 'unsafe', archive);
    assert.equal(response.status, 422, JSON.stringify(response.body));
    assert.match(response.body.error, /Keras 3 \.keras file \(keras_version 3\.1\.0\)/);
  });

  it('rejects TF.js model missing a weight file', async () => {
    const { modelJson } = denseReluGraphModel(new Float32Array(6), new Float32Array(2));
    const response = await push(
      server.url,
      'unsafe',
      zipArchive([{ path: 'model.json', data: modelJson }]),
    );
    assert.equal(response.status, 422, JSON.stringify(response.body));
    assert.match(
      response.body.error,
      /model\.json names weight file that the archive lacks: "weights\.bin"/,
    );
  });

  it('rejects TF.js weight file of the wrong size', async () => {
    const { modelJson, weights } = denseReluGraphModel(new Float32Array(6), new Float32Array(2));
    const archive = zipArchive([
      { path: 'model.json', data: modelJson },
      { path: 'weights.bin', data: weights.subarray(4) },
    ]);
    const response = await push(server.url, 'unsafe', archive);
    assert.equal(response.status, 422, JSON.stringify(response.body));
    assert.match(
      response.body.error,
      /weight files hold 28 bytes, but the 2 weights in model\.json need 32/,
    );
  });

  it('stores nothing for rejected archives', async () => {
    assert.equal((await call(`${server.url}/api/v1/models/unsafe`)).status, 404);
    assert.deepEqual(await storedArtifacts(server.dataDir), ['sha256', 'tmp', 'unpacked']);
  });
});

describe('model archives', () => {
  let server: TestServer;
  const kernel = Float32Array.of(0.5, -1, 2, 0.25, -0.5, 1.5);
  const bias = Float32Array.of(0.1, -0.2);

  before(async () => {
    server = await startTestServer();
  });

  after(async () => {
    await server.destroy();
  });

  for (const [kind, pack] of PACKERS) {
    it(`serves TF.js graph model from ${kind}`, async () => {
      const { modelJson, weights } = denseReluGraphModel(kernel, bias);
      const archive = pack([
        { path: 'model.json', data: modelJson },
        { path: 'weights.bin', data: weights },
      ]);
      const name = `graph-${kind.replace('.', '-')}`;
      const upload = await push(server.url, name, archive);
      assert.equal(upload.status, 201, JSON.stringify(upload.body));
      assert.equal(upload.body.format, 'tfjs_graph');
      const metadata = await call(`${server.url}/v2/models/${name}`);
      assert.equal(metadata.body.platform, 'tfjs_graph');
      assert.deepEqual(metadata.body.inputs, [{ name: 'x', datatype: 'FP32', shape: [-1, 3] }]);

      const x = [1, 2, 3, -1, 0.5, 4];
      const response = await infer(server.url, name, {
        inputs: [{ name: 'x', datatype: 'FP32', shape: [2, 3], data: x }],
      });
      assert.equal(response.status, 200, JSON.stringify(response.body));
      const expected: number[] = [];
      for (let row = 0; row < 2; row += 1) {
        for (let unit = 0; unit < 2; unit += 1) {
          let sum = bias[unit]!;
          for (let i = 0; i < 3; i += 1) sum += x[row * 3 + i]! * kernel[i * 2 + unit]!;
          expected.push(Math.max(0, sum));
        }
      }
      assert.deepEqual(response.body.outputs[0].shape, [2, 2]);
      assertClose(response.body.outputs[0].data, expected, 1e-6, name);
    });
  }

  it('graph Gather index out of range is a bad request', async () => {
    const { modelJson, weights } = gatherGraphModel(Float32Array.of(1, 2, 3, 4, 5, 6), 3);
    const archive = zipArchive([
      { path: 'model.json', data: modelJson },
      { path: 'weights.bin', data: weights },
    ]);
    const upload = await push(server.url, 'graph-gather', archive);
    assert.equal(upload.status, 201, JSON.stringify(upload.body));
    const ok = await infer(server.url, 'graph-gather', {
      inputs: [{ name: 'ids', datatype: 'INT32', shape: [2], data: [2, 0] }],
    });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.deepEqual(ok.body.outputs[0].data, [5, 6, 1, 2]);

    const response = await infer(server.url, 'graph-gather', {
      inputs: [{ name: 'ids', datatype: 'INT32', shape: [2], data: [1, 3] }],
    });
    assert.equal(response.status, 400, JSON.stringify(response.body));
    assert.match(response.body.error, /GatherV2: the index value 3 is not in \[0, 2\]/);
    const version = await call(`${server.url}/api/v1/models/graph-gather/versions/1`);
    assert.equal(version.body.usage.failures.bad_request, 1);
    assert.equal(version.body.usage.failures.model_error, 0);
  });

  it('accepts tar.gz compressed over 1000:1', async () => {
    const model = zeroWeightModel(12);
    for (const [kind, pack] of PACKERS) {
      const archive = pack([{ path: 'model.onnx', data: model }]);
      assert.ok(model.length / archive.length > 1000, `${kind} compresses zeros over 1000:1`);
      const name = `zeros-${kind.replace('.', '-')}`;
      const upload = await push(server.url, name, archive);
      assert.equal(upload.status, 201, `${kind}: ${JSON.stringify(upload.body)}`);
      const response = await infer(server.url, name, {
        inputs: [{ name: 'indices', datatype: 'INT64', shape: [2], data: [0, 3_000_000] }],
      });
      assert.equal(response.status, 200, JSON.stringify(response.body));
      assert.deepEqual(response.body.outputs[0].data, [0, 0]);
    }
  });

  it('loads ONNX external data whatever the working directory', async () => {
    const weights = Float32Array.of(1.5, -2, 0.25);
    const { model, data } = externalDataModel(weights, 'weights.bin');
    const archive = zipArchive([
      { path: 'mul/model.onnx', data: model },
      { path: 'mul/weights.bin', data },
    ]);
    const cwd = process.cwd();
    process.chdir(os.tmpdir());
    try {
      const upload = await push(server.url, 'external-data', archive);
      assert.equal(upload.status, 201, JSON.stringify(upload.body));
      assert.equal(upload.body.platform, 'onnxruntime_onnx');
      const response = await infer(server.url, 'external-data', {
        inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 3], data: [2, 2, 2] }],
      });
      assert.equal(response.status, 200, JSON.stringify(response.body));
      assert.deepEqual(response.body.outputs[0].data, [3, -4, 0.5]);
    } finally {
      process.chdir(cwd);
    }
  });

  it('unpacks an archive again when its folder is gone', async () => {
    const upload = await call(`${server.url}/api/v1/models/external-data/versions/1`);
    await server.stop();
    await rm(path.join(server.dataDir, 'artifacts', 'unpacked', upload.body.sha256), {
      recursive: true,
    });
    const restarted = await startTestServer({ dataDir: server.dataDir });
    server = restarted;
    const response = await infer(server.url, 'external-data', {
      inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 3], data: [1, 1, 1] }],
    });
    assert.equal(response.status, 200, JSON.stringify(response.body));
    assert.deepEqual(response.body.outputs[0].data, [1.5, -2, 0.25]);
  });

  it('rejects ONNX archive missing its external data', async () => {
    const { model } = externalDataModel(Float32Array.of(1, 2), 'tensors/weights.bin');
    const response = await push(
      server.url,
      'no-data',
      tarGzArchive([{ path: 'model.onnx', data: model }]),
    );
    assert.equal(response.status, 422, JSON.stringify(response.body));
    assert.match(
      response.body.error,
      /external data file "tensors\/weights\.bin" of initializer "w" is missing/,
    );
  });

  it('rejects single ONNX file whose external data is absent', async () => {
    const { model } = externalDataModel(Float32Array.of(1, 2), 'weights.bin');
    const response = await push(server.url, 'no-data', model);
    assert.equal(response.status, 422, JSON.stringify(response.body));
    assert.match(
      response.body.error,
      /external data file "weights\.bin" of initializer "w" is missing/,
    );
  });
});

describe('TF.js layers fixtures', { skip: SKIP_WITHOUT_SHARED_MODELS }, () => {
  let server: TestServer;

  before(async () => {
    server = await startTestServer();
  });

  after(async () => {
    await server.destroy();
  });

  it('Embedding and GRU match the upstream expected output', async () => {
    const files = await fixtureFiles('tfjs-layers-embedding-gru', ['model.json', 'weights.bin']);
    const upload = await push(server.url, 'tfjs-gru', zipArchive(files));
    assert.equal(upload.status, 201, JSON.stringify(upload.body));
    const metadata = await call(`${server.url}/v2/models/tfjs-gru`);
    assert.equal(metadata.body.platform, 'tfjs_layers');
    const input = metadata.body.inputs[0];
    assert.deepEqual(input.shape, [-1, 10]);
    const response = await infer(server.url, 'tfjs-gru', {
      inputs: [
        {
          name: input.name,
          datatype: 'FP32',
          shape: [1, 10],
          data: [86, 11, 62, 40, 36, 75, 82, 94, 67, 75],
        },
      ],
    });
    assert.equal(response.status, 200, JSON.stringify(response.body));
    assert.deepEqual(response.body.outputs[0].shape, [1, 4]);
    assertClose(
      response.body.outputs[0].data,
      [-0.003578941337764263, 0.0028922036290168762, -0.002957976423203945, 0.00955402385443449],
      1e-6,
      'tfjs-gru',
    );
  });

  it('Embedding index out of range is a bad request', async () => {
    const files = await fixtureFiles('tfjs-layers-embedding-gru', ['model.json', 'weights.bin']);
    const upload = await push(server.url, 'tfjs-gru-ids', tarGzArchive(files));
    assert.equal(upload.status, 201, JSON.stringify(upload.body));
    const request = {
      inputs: [
        {
          name: 'embedding_Embedding2_input',
          datatype: 'FP32',
          shape: [1, 10],
          data: [1, 1, 1, 1, 1, 1, 1, 1, 1, 1000],
        },
      ],
    };
    for (let i = 0; i < 6; i += 1) {
      const response = await infer(server.url, 'tfjs-gru-ids', request);
      assert.equal(response.status, 400, JSON.stringify(response.body));
      assert.match(response.body.error, /GatherV2: the index value 1000 is not in \[0, 99\]/);
      assert.match(response.body.error, /^TF\.js rejected the input values:/);
    }
    const version = await call(`${server.url}/api/v1/models/tfjs-gru-ids/versions/1`);
    assert.equal(version.body.usage.failures.bad_request, 6);
    assert.equal(version.body.usage.failures.model_error, 0);
    assert.equal(version.body.usage.errors, 0);
    assert.equal(version.body.status, 'healthy');
  });

  it('Tiny VGG from tar.gz with a top folder returns probabilities', async () => {
    const files = await fixtureFiles(
      'tfjs-layers-tiny-vgg-cnn-explainer',
      ['model.json', 'group1-shard1of1.bin'],
      'tiny-vgg/',
    );
    const upload = await push(server.url, 'tfjs-vgg', tarGzArchive(files));
    assert.equal(upload.status, 201, JSON.stringify(upload.body));
    assert.deepEqual(upload.body.signature.outputs, [
      { name: 'output', datatype: 'FP32', shape: [-1, 10] },
    ]);
    const pixels = Array.from({ length: 64 * 64 * 3 }, (_, i) => ((i * 37) % 256) / 255);
    const response = await infer(server.url, 'tfjs-vgg', {
      inputs: [
        {
          name: upload.body.signature.inputs[0].name,
          datatype: 'FP32',
          shape: [1, 64, 64, 3],
          data: pixels,
        },
      ],
    });
    assert.equal(response.status, 200, JSON.stringify(response.body));
    const probabilities: number[] = response.body.outputs[0].data;
    assert.equal(probabilities.length, 10);
    assert.ok(probabilities.every((p) => p >= 0 && p <= 1));
    assertClose([probabilities.reduce((a, b) => a + b, 0)], [1], 1e-5, 'sum of probabilities');
  });
});
