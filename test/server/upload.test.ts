import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { call, infer, push } from '../support/http.js';
import { example, hasSharedModels, SHARED_MODELS } from '../support/paths.js';
import { startTestServer, type TestServer } from '../support/server.js';

async function storedArtifacts(dataDir: string): Promise<string[]> {
  const root = path.join(dataDir, 'artifacts', 'sha256');
  const files: string[] = [];
  for (const prefix of await readdir(root)) {
    for (const name of await readdir(path.join(root, prefix))) files.push(name);
  }
  const staged = await readdir(path.join(dataDir, 'artifacts', 'tmp'));
  return [...files, ...staged.map((name) => `tmp/${name}`)];
}

describe('model upload', () => {
  let server: TestServer;

  before(async () => {
    server = await startTestServer({ maxUploadBytes: 50_000 });
  });

  after(async () => {
    await server.destroy();
  });

  it('registers a new version with its signature and checksum', async () => {
    const response = await push(server.url, 'digits', example('digits-mlp'), {
      description: 'first digits model',
      filename: 'digits.onnx',
    });
    assert.equal(response.status, 201);
    assert.equal(response.body.model, 'digits');
    assert.equal(response.body.version, 1);
    assert.equal(response.body.format, 'onnx');
    assert.equal(
      response.body.sha256,
      '3d368d98c980043431b384f79b733f1da6998d7a2b750a98a61a69baf6de2271',
    );
    assert.equal(response.body.size_bytes, 39324);
    assert.equal(response.body.description, 'first digits model');
    assert.equal(response.body.source_name, 'digits.onnx');
    assert.equal(response.body.state, 'ready');
    assert.equal(response.body.status, 'never used');
    assert.equal(response.body.usage.last_used_at, null);
    assert.deepEqual(response.body.signature, {
      inputs: [{ name: 'pixels', datatype: 'FP32', shape: [-1, 64] }],
      outputs: [{ name: 'logits', datatype: 'FP32', shape: [-1, 10] }],
    });
  });

  it('returns the existing version for the same bytes', async () => {
    const again = await push(server.url, 'digits', example('digits-mlp'));
    assert.equal(again.status, 200);
    assert.equal(again.body.version, 1);
    const model = await call(`${server.url}/api/v1/models/digits`);
    assert.equal(model.body.versions.length, 1);
  });

  it('numbers a different file as the next version', async () => {
    const second = await push(server.url, 'digits', example('digits-mlp-v2'), { alias: 'staging' });
    assert.equal(second.status, 201);
    assert.equal(second.body.version, 2);
    assert.deepEqual(second.body.aliases, ['staging']);
  });

  it('stores equal bytes once across models', async () => {
    const before = await storedArtifacts(server.dataDir);
    const other = await push(server.url, 'digits-copy', example('digits-mlp'));
    assert.equal(other.status, 201);
    assert.equal(other.body.version, 1);
    assert.deepEqual(await storedArtifacts(server.dataDir), before);
  });

  it('accepts a multipart upload with form fields', async () => {
    const form = new FormData();
    form.append('description', 'from a form');
    form.append('alias', 'production');
    form.append('file', new Blob([await readFile(example('iris-multi-io'))]), 'iris.onnx');
    const response = await call(`${server.url}/api/v1/models/iris/versions`, {
      method: 'POST',
      body: form,
    });
    assert.equal(response.status, 201, JSON.stringify(response.body));
    assert.equal(response.body.description, 'from a form');
    assert.equal(response.body.source_name, 'iris.onnx');
    assert.deepEqual(response.body.aliases, ['production']);
  });

  it('accepts a raw body sent without a content type', async () => {
    const bytes = await readFile(example('breast-cancer-logreg'));
    const response = await call(`${server.url}/api/v1/models/cancer/versions`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: bytes,
    });
    assert.equal(response.status, 201, JSON.stringify(response.body));
  });

  const invalidNames = ['-leading-dash', 'has space', 'a'.repeat(129), 'semi;colon', '.hidden'];
  for (const name of invalidNames) {
    it(`rejects the model name ${JSON.stringify(name.slice(0, 20))}`, async () => {
      const response = await push(server.url, name, example('digits-mlp'));
      assert.equal(response.status, 400);
      assert.equal(response.body.code, 'INVALID_MODEL_NAME');
      assert.equal(response.body.field, 'name');
      assert.match(response.body.error, /\^\[A-Za-z0-9\]\[A-Za-z0-9\._-\]\{0,127\}\$/);
    });
  }

  it('rejects an invalid alias name before storing anything', async () => {
    const response = await push(server.url, 'digits', example('digits-cnn'), { alias: '42' });
    assert.equal(response.status, 400);
    assert.equal(response.body.field, 'alias');
    const model = await call(`${server.url}/api/v1/models/digits`);
    assert.equal(model.body.versions.length, 2);
  });

  it('rejects unknown and repeated query fields', async () => {
    const misspelt = await push(server.url, 'digits', example('digits-cnn'), {
      alais: 'production',
    });
    assert.equal(misspelt.status, 400);
    assert.equal(misspelt.body.code, 'INVALID_ARGUMENT');
    assert.equal(misspelt.body.field, 'alais');
    assert.match(
      misspelt.body.error,
      /unknown upload field "alais"; the fields are description, alias/,
    );

    const bytes = await readFile(example('digits-cnn'));
    const repeated = await call(`${server.url}/api/v1/models/digits/versions?alias=a&alias=b`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: bytes,
    });
    assert.equal(repeated.status, 400);
    assert.equal(repeated.body.field, 'alias');
    assert.equal(
      repeated.body.error,
      'alias must be a single text of at most 1000 characters; received the field more than once',
    );
    const model = await call(`${server.url}/api/v1/models/digits`);
    assert.equal(model.body.versions.length, 2);
  });

  it('answers 413 above the upload limit and stores nothing', async () => {
    const before = await storedArtifacts(server.dataDir);
    const big = Buffer.alloc(60_000, 8);
    const response = await push(server.url, 'too-big', big);
    assert.equal(response.status, 413);
    assert.equal(response.body.code, 'PAYLOAD_TOO_LARGE');
    assert.match(response.body.error, /--max-upload-size/);
    assert.deepEqual(await storedArtifacts(server.dataDir), before);
    const missing = await call(`${server.url}/api/v1/models/too-big`);
    assert.equal(missing.status, 404);
  });

  it('answers 413 for a multipart file above the limit', async () => {
    const form = new FormData();
    form.append('file', new Blob([Buffer.alloc(60_000, 8)]), 'big.onnx');
    const response = await call(`${server.url}/api/v1/models/too-big/versions`, {
      method: 'POST',
      body: form,
    });
    assert.equal(response.status, 413);
    const missing = await call(`${server.url}/api/v1/models/too-big`);
    assert.equal(missing.status, 404);
  });
});

describe('invalid model files', () => {
  let server: TestServer;

  before(async () => {
    server = await startTestServer();
  });

  after(async () => {
    await server.destroy();
  });

  const digits = example('digits-mlp');
  const cases: Array<{ name: string; bytes: () => Promise<Buffer>; message: RegExp }> = [
    { name: 'an empty file', bytes: async () => Buffer.alloc(0), message: /the file is empty/ },
    {
      name: 'a truncated file',
      bytes: async () => (await readFile(digits)).subarray(0, 19662),
      message: /onnxruntime could not load the model: .*Protobuf parsing failed/,
    },
    {
      name: 'a text file',
      bytes: async () => Buffer.from('This is a plain text file, not an ONNX model.\n'),
      message: /the file is text, not a model/,
    },
    {
      name: 'random bytes',
      bytes: async () => Buffer.from([0x08, 0x07, 0xff, 0xff, 0x00, 0x13, 0x99, 0x42]),
      message: /onnxruntime could not load the model/,
    },
  ];

  for (const testCase of cases) {
    it(`rejects ${testCase.name} and stores nothing`, async () => {
      const response = await push(server.url, 'broken', await testCase.bytes());
      assert.equal(response.status, 422, JSON.stringify(response.body));
      assert.equal(response.body.code, 'INVALID_ARTIFACT');
      assert.match(response.body.error, testCase.message);
      assert.deepEqual(await storedArtifacts(server.dataDir), []);
      const model = await call(`${server.url}/api/v1/models/broken`);
      assert.equal(model.status, 404);
    });
  }

  it('rejects a model whose output is a sequence of maps', {
    skip: !hasSharedModels(),
  }, async () => {
    const file = path.join(SHARED_MODELS, 'public/onnx-sklearn-logreg-zipmap/model.onnx');
    const response = await push(server.url, 'zipmap', file);
    assert.equal(response.status, 422);
    assert.match(response.body.error, /output "output_probability" is a sequence or map/);
    assert.match(response.body.error, /zipmap/);
  });
});

describe('concurrent uploads', () => {
  let server: TestServer;

  before(async () => {
    server = await startTestServer();
  });

  after(async () => {
    await server.destroy();
  });

  it('give distinct consecutive version numbers', async () => {
    const { scaleModel } = await import('../support/onnx-builder.js');
    const files = Array.from({ length: 12 }, (_, index) => scaleModel(index + 1));
    const responses = await Promise.all(files.map((file) => push(server.url, 'scaled', file)));
    for (const response of responses) assert.equal(response.status, 201);
    const numbers = responses.map((response) => response.body.version).sort((a, b) => a - b);
    assert.deepEqual(numbers, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
  });

  it('of the same bytes register one version', async () => {
    const { scaleModel } = await import('../support/onnx-builder.js');
    const file = scaleModel(99);
    const responses = await Promise.all(
      Array.from({ length: 6 }, () => push(server.url, 'same', file)),
    );
    const versions = new Set(responses.map((response) => response.body.version));
    assert.deepEqual([...versions], [1]);
    assert.equal(responses.filter((response) => response.status === 201).length, 1);
    assert.equal(responses.filter((response) => response.status === 200).length, 5);
  });

  it('keep an artifact that a delete races', async () => {
    const { scaleModel } = await import('../support/onnx-builder.js');
    for (let round = 0; round < 30; round += 1) {
      const file = scaleModel(1000 + round);
      const first = await push(server.url, `old-${round}`, file);
      assert.equal(first.status, 201);
      // The delete lands at different points of the second upload in different rounds.
      const [second, deleted] = await Promise.all([
        push(server.url, `new-${round}`, file),
        new Promise((resolve) => setTimeout(resolve, round % 6)).then(() =>
          call(`${server.url}/api/v1/models/old-${round}?force=true`, { method: 'DELETE' }),
        ),
      ]);
      assert.equal(second.status, 201, JSON.stringify(second.body));
      assert.equal(deleted.status, 200, JSON.stringify(deleted.body));
      const sha = second.body.sha256 as string;
      const stored = path.join(server.dataDir, 'artifacts', 'sha256', sha.slice(0, 2), sha);
      await readFile(stored);
      const response = await infer(server.url, `new-${round}`, {
        inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4], data: [1, 1, 1, 1] }],
      });
      assert.equal(response.status, 200, `round ${round}: ${JSON.stringify(response.body)}`);
    }
  });
});

describe('failed upload with an alias', () => {
  it('keeps the model that existed before it', async () => {
    const server = await startTestServer({ memoryBudgetBytes: 20_000 });
    try {
      const small = await push(server.url, 'kept', example('breast-cancer-logreg'));
      assert.equal(small.status, 201);
      const patch = await call(`${server.url}/api/v1/models/kept`, {
        method: 'PATCH',
        json: { description: 'important', labels: { team: 'fraud' } },
      });
      assert.equal(patch.status, 200);
      const removed = await call(`${server.url}/api/v1/models/kept/versions/1`, {
        method: 'DELETE',
      });
      assert.equal(removed.status, 200);

      // digits-mlp (38 KiB) cannot fit in a 20 kB budget, so production cannot move to it.
      const failed = await push(server.url, 'kept', example('digits-mlp'), {
        alias: 'production',
      });
      assert.equal(failed.status, 507, JSON.stringify(failed.body));
      const model = await call(`${server.url}/api/v1/models/kept`);
      assert.equal(model.status, 200);
      assert.equal(model.body.description, 'important');
      assert.deepEqual(model.body.labels, { team: 'fraud' });
      assert.deepEqual(model.body.versions, []);

      // A model that the failed upload created leaves nothing behind.
      const fresh = await push(server.url, 'fresh', example('digits-mlp'), {
        alias: 'production',
      });
      assert.equal(fresh.status, 507);
      assert.equal((await call(`${server.url}/api/v1/models/fresh`)).status, 404);
    } finally {
      await server.destroy();
    }
  });
});

describe('upload content types', () => {
  let server: TestServer;

  before(async () => {
    server = await startTestServer();
  });

  after(async () => {
    await server.destroy();
  });

  for (const type of [
    'text/plain',
    'application/json',
    'application/x-www-form-urlencoded',
    'application/onnx',
  ]) {
    it(`takes a raw body sent as ${type}`, async () => {
      const bytes = await readFile(example('breast-cancer-logreg'));
      const response = await call(`${server.url}/api/v1/models/typed/versions`, {
        method: 'POST',
        headers: { 'content-type': type },
        body: bytes,
      });
      assert.ok(
        response.status === 201 || response.status === 200,
        `${response.status} ${JSON.stringify(response.body)}`,
      );
      assert.equal(response.body.version, 1);
    });
  }
});
