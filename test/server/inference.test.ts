import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { assertClose } from '../support/assert.js';
import { call, infer, push, readJson } from '../support/http.js';
import { example } from '../support/paths.js';
import { startTestServer, type TestServer } from '../support/server.js';

const EXAMPLES = [
  'digits-mlp',
  'digits-mlp-v2',
  'digits-cnn',
  'breast-cancer-logreg',
  'iris-multi-io',
];

interface Expected {
  tolerance: number;
  outputs: Array<{ name: string; datatype: string; shape: number[]; data: number[] }>;
}

describe('inference on the example models', () => {
  let server: TestServer;

  before(async () => {
    server = await startTestServer();
    for (const name of EXAMPLES) {
      const response = await push(server.url, name, example(name));
      assert.equal(response.status, 201, JSON.stringify(response.body));
    }
  });

  after(async () => {
    await server.destroy();
  });

  for (const name of EXAMPLES) {
    it(`${name} matches its expected outputs`, async () => {
      const request = await readJson(example(name, 'requests/request.json'));
      const expected = await readJson<Expected>(example(name, 'requests/expected.json'));
      const response = await infer(server.url, name, request);
      assert.equal(response.status, 200, JSON.stringify(response.body));
      assert.equal(response.body.model_name, name);
      assert.equal(response.body.model_version, '1');
      for (const want of expected.outputs) {
        const got = response.body.outputs.find((o: { name: string }) => o.name === want.name);
        assert.ok(got, `output ${want.name} missing`);
        assert.equal(got.datatype, want.datatype);
        assert.deepEqual(got.shape, want.shape);
        if (want.datatype === 'INT64') {
          assert.deepEqual(got.data, want.data);
        } else {
          assertClose(got.data, want.data, expected.tolerance, `${name}.${want.name}`);
        }
      }
    });
  }

  it('accepts nested data in row-major order', async () => {
    const request = await readJson(example('digits-mlp', 'requests/request.json'));
    const flat = request.inputs[0].data as number[];
    const nested = [];
    for (let row = 0; row < 8; row += 1) nested.push(flat.slice(row * 64, row * 64 + 64));
    const response = await infer(server.url, 'digits-mlp', {
      inputs: [{ ...request.inputs[0], data: nested }],
    });
    const reference = await infer(server.url, 'digits-mlp', request);
    assert.equal(response.status, 200);
    assert.deepEqual(response.body.outputs, reference.body.outputs);
  });

  it('echoes the request id', async () => {
    const request = await readJson(example('digits-mlp', 'requests/request.json'));
    const response = await infer(server.url, 'digits-mlp', { ...request, id: 'req-42' });
    assert.equal(response.body.id, 'req-42');
  });

  it('returns only the requested outputs', async () => {
    const request = await readJson(example('iris-multi-io', 'requests/request.json'));
    const response = await infer(server.url, 'iris-multi-io', {
      ...request,
      outputs: [{ name: 'label' }],
    });
    assert.equal(response.status, 200);
    assert.deepEqual(
      response.body.outputs.map((o: { name: string }) => o.name),
      ['label'],
    );
    assert.deepEqual(response.body.outputs[0].data, [0, 2, 1, 1, 0, 1, 0, 0]);
  });

  it('serves an explicit version and its metadata', async () => {
    const metadata = await call(`${server.url}/v2/models/iris-multi-io/versions/1`);
    assert.equal(metadata.status, 200);
    assert.equal(metadata.body.name, 'iris-multi-io');
    assert.equal(metadata.body.platform, 'onnxruntime_onnx');
    assert.deepEqual(metadata.body.versions, ['1']);
    assert.deepEqual(metadata.body.inputs, [
      { name: 'sepal', datatype: 'FP32', shape: [-1, 2] },
      { name: 'petal', datatype: 'FP32', shape: [-1, 2] },
    ]);
    assert.deepEqual(metadata.body.outputs, [
      { name: 'probabilities', datatype: 'FP32', shape: [-1, 3] },
      { name: 'label', datatype: 'INT64', shape: [-1] },
    ]);
  });

  it('reports server metadata and liveness', async () => {
    const server2 = await call(`${server.url}/v2`);
    assert.equal(server2.body.name, 'steward');
    assert.ok(server2.body.extensions.includes('binary_tensor_data'));
    const live = await call(`${server.url}/v2/health/live`);
    assert.equal(live.status, 200);
    const ready = await call(`${server.url}/v2/health/ready`);
    assert.equal(ready.status, 200);
  });
});

describe('inference request errors', () => {
  let server: TestServer;
  let request: { inputs: Array<Record<string, unknown>> };

  before(async () => {
    server = await startTestServer();
    await push(server.url, 'digits-mlp', example('digits-mlp'));
    await push(server.url, 'iris-multi-io', example('iris-multi-io'));
    request = await readJson(example('digits-mlp', 'requests/request.json'));
  });

  after(async () => {
    await server.destroy();
  });

  const pixels = () => request.inputs[0]!;

  const cases: Array<{
    name: string;
    model?: string;
    body: () => unknown;
    status: number;
    message: RegExp;
  }> = [
    {
      name: 'unknown model',
      model: 'no-such-model',
      body: () => request,
      status: 404,
      message: /model "no-such-model" is not registered/,
    },
    {
      name: 'unknown input name',
      body: () => ({ inputs: [{ ...pixels(), name: 'image' }] }),
      status: 400,
      message: /unknown input "image"; the model's inputs are "pixels"/,
    },
    {
      name: 'wrong datatype',
      body: () => ({ inputs: [{ ...pixels(), datatype: 'FP64' }] }),
      status: 400,
      message: /input "pixels": expected datatype FP32, received FP64/,
    },
    {
      name: 'unknown datatype',
      body: () => ({ inputs: [{ ...pixels(), datatype: 'FLOAT' }] }),
      status: 400,
      message: /datatype "FLOAT" is not a protocol datatype; expected FP32/,
    },
    {
      name: 'wrong rank',
      body: () => ({ inputs: [{ ...pixels(), shape: [512] }] }),
      status: 400,
      message: /expected shape \[-1,64\] \(rank 2\), received \[512\] \(rank 1\)/,
    },
    {
      name: 'wrong fixed dimension',
      body: () => ({ inputs: [{ ...pixels(), shape: [16, 32] }] }),
      status: 400,
      message: /received \[16,32\]: dimension 1 must be 64/,
    },
    {
      name: 'data length not matching the shape',
      body: () => ({ inputs: [{ ...pixels(), shape: [9, 64] }] }),
      status: 400,
      message: /shape \[9,64\] needs 576 values, received 512/,
    },
    {
      name: 'non-numeric element',
      body: () => ({
        inputs: [{ ...pixels(), data: ['x', ...(pixels().data as number[]).slice(1)] }],
      }),
      status: 400,
      message: /element 0 is "x", but FP32 needs a number/,
    },
    {
      name: 'missing inputs array',
      body: () => ({ id: 'a' }),
      status: 400,
      message: /"inputs" must be a non-empty array/,
    },
    {
      name: 'missing input',
      model: 'iris-multi-io',
      body: () => ({
        inputs: [{ name: 'sepal', datatype: 'FP32', shape: [1, 2], data: [5.1, 3.5] }],
      }),
      status: 400,
      message: /missing input: "petal"/,
    },
    {
      name: 'duplicate input',
      body: () => ({ inputs: [pixels(), pixels()] }),
      status: 400,
      message: /input "pixels" appears more than once/,
    },
    {
      name: 'unknown output',
      body: () => ({ ...request, outputs: [{ name: 'probabilities' }] }),
      status: 400,
      message: /unknown output "probabilities"; the model's outputs are "logits"/,
    },
    {
      name: 'non-string id',
      body: () => ({ ...request, id: 7 }),
      status: 400,
      message: /"id" must be a string/,
    },
    {
      name: 'negative dimension',
      body: () => ({ inputs: [{ ...pixels(), shape: [-8, 64] }] }),
      status: 400,
      message: /shape must be an array of non-negative integers/,
    },
    {
      name: 'unknown version',
      body: () => request,
      status: 404,
      message: /model "digits-mlp" has no version 9/,
    },
    {
      name: 'classification extension',
      body: () => ({
        ...request,
        outputs: [{ name: 'logits', parameters: { classification: 3 } }],
      }),
      status: 501,
      message: /classification extension is not supported/,
    },
  ];

  for (const testCase of cases) {
    it(`rejects ${testCase.name}`, async () => {
      const model = testCase.model ?? 'digits-mlp';
      const version = testCase.name === 'unknown version' ? '9' : undefined;
      const response = await infer(server.url, model, testCase.body(), version);
      assert.equal(response.status, testCase.status, JSON.stringify(response.body));
      assert.deepEqual(Object.keys(response.body), ['error']);
      assert.match(response.body.error, testCase.message);
    });
  }

  it('rejects a body that is not JSON', async () => {
    const response = await call(`${server.url}/v2/models/digits-mlp/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"inputs": [',
    });
    assert.equal(response.status, 400);
    assert.match(response.body.error, /request body is not valid JSON/);
  });

  it('rejects an empty body', async () => {
    const response = await call(`${server.url}/v2/models/digits-mlp/infer`, { method: 'POST' });
    assert.equal(response.status, 400);
    assert.match(response.body.error, /request body is empty/);
  });

  it('rejects a body above the request limit with 413', async () => {
    const small = await startTestServer({ maxRequestBytes: 1024 });
    try {
      await push(small.url, 'digits-mlp', example('digits-mlp'));
      const response = await infer(small.url, 'digits-mlp', request);
      assert.equal(response.status, 413);
      assert.ok(typeof response.body.error === 'string');
    } finally {
      await small.destroy();
    }
  });

  it('counts rejected requests as client errors', async () => {
    const listing = await call(`${server.url}/api/v1/models/digits-mlp/versions/1`);
    assert.ok(listing.body.usage.client_errors >= 10);
    assert.equal(listing.body.usage.errors, 0);
  });
});
