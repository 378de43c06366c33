import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { call, infer, push } from '../support/http.js';
import { scaleModel, scaleRequest, softmaxModel, wrongShapeModel } from '../support/models.js';
import { logModel } from '../support/onnx-builder.js';
import { startTestServer, type TestServer } from '../support/server.js';

const LOG_INPUT = { inputs: [{ name: 'x', datatype: 'FP32', shape: [3], data: [-1, 0, 1] }] };

function softmaxRequest(row: number[]) {
  return { inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 3], data: row }] };
}

async function validity(url: string, model: string) {
  return (await call(`${url}/api/v1/models/${model}/versions/1`)).body.validity;
}

function expect(url: string, model: string, body: unknown) {
  return call(`${url}/api/v1/models/${model}/versions/1/expectations`, {
    method: 'PUT',
    json: body,
  });
}

describe('output validity', () => {
  let server: TestServer;

  before(async () => {
    server = await startTestServer({ violationSamples: 2 });
  });

  after(async () => {
    await server.destroy();
  });

  it('counts NaN and infinite outputs and keeps a sample', async () => {
    await push(server.url, 'log', logModel());
    const response = await infer(server.url, 'log', LOG_INPUT);
    assert.equal(response.status, 200, 'an invalid output is still returned');
    assert.deepEqual(response.body.outputs[0].data, ['NaN', '-Infinity', 0]);

    const checks = await validity(server.url, 'log');
    assert.equal(checks.invalid_responses, 1);
    assert.equal(checks.violations.nan, 1);
    assert.equal(checks.violations.infinity, 1);
    assert.equal(checks.violations.range, 0);

    const violations = await call(`${server.url}/api/v1/models/log/versions/1/violations`);
    assert.equal(violations.status, 200);
    assert.equal(violations.body.checked_responses, 1);
    const [sample] = violations.body.samples;
    assert.deepEqual(
      sample.violations.map((violation: { kind: string }) => violation.kind),
      ['nan', 'infinity'],
    );
    assert.match(
      sample.violations[0].message,
      /output "y": 1 of 3 values are NaN \(first at index 0/,
    );
    assert.deepEqual(sample.inputs, [
      { name: 'x', datatype: 'FP32', shape: [3], data: [-1, 0, 1] },
    ]);
    assert.deepEqual(sample.outputs[0].data, ['NaN', '-Infinity', 0]);
  });

  it('counts valid responses of the same version as valid', async () => {
    const ok = await infer(server.url, 'log', {
      inputs: [{ name: 'x', datatype: 'FP32', shape: [2], data: [1, 2] }],
    });
    assert.equal(ok.status, 200);
    const checks = await validity(server.url, 'log');
    assert.equal(checks.invalid_responses, 1);
    const violations = await call(`${server.url}/api/v1/models/log/versions/1/violations`);
    assert.equal(violations.body.checked_responses, 2);
  });

  it('keeps no more samples than configured', async () => {
    for (let i = 0; i < 4; i += 1) await infer(server.url, 'log', LOG_INPUT);
    const violations = await call(`${server.url}/api/v1/models/log/versions/1/violations`);
    assert.equal(violations.body.invalid_responses, 5);
    assert.equal(violations.body.samples.length, 2);
  });

  it('flags outputs whose shape breaks the signature', async () => {
    await push(server.url, 'wrong-shape', wrongShapeModel());
    const response = await infer(server.url, 'wrong-shape', {
      inputs: [{ name: 'x', datatype: 'FP32', shape: [4], data: [1, 2, 3, 4] }],
    });
    assert.equal(response.status, 200);
    const checks = await validity(server.url, 'wrong-shape');
    assert.equal(checks.violations.shape, 1);
    const violations = await call(`${server.url}/api/v1/models/wrong-shape/versions/1/violations`);
    assert.match(
      violations.body.samples[0].violations[0].message,
      /shape \[4\] does not match the signature's \[2\]/,
    );
  });

  it('applies a range expectation', async () => {
    await push(server.url, 'softmax', softmaxModel());
    const set = await expect(server.url, 'softmax', {
      outputs: { y: { range: { min: 0, max: 0.5 }, probabilities: { tolerance: 1e-4 } } },
    });
    assert.equal(set.status, 200, JSON.stringify(set.body));
    assert.deepEqual(set.body.outputs.y.range, { min: 0, max: 0.5 });

    assert.equal((await infer(server.url, 'softmax', softmaxRequest([0, 0, 0]))).status, 200);
    let checks = await validity(server.url, 'softmax');
    assert.equal(checks.invalid_responses, 0);

    assert.equal((await infer(server.url, 'softmax', softmaxRequest([10, 0, 0]))).status, 200);
    checks = await validity(server.url, 'softmax');
    assert.equal(checks.invalid_responses, 1);
    assert.equal(checks.violations.range, 1);
    assert.equal(checks.violations.probabilities, 0);
    assert.deepEqual(checks.expectations.outputs.y.probabilities, { tolerance: 1e-4 });
  });

  it('applies probability and label expectations', async () => {
    await push(server.url, 'scaled', scaleModel(1));
    const set = await expect(server.url, 'scaled', {
      outputs: { y: { probabilities: true, labels: [0.25, 0.5] } },
    });
    assert.equal(set.status, 200, JSON.stringify(set.body));
    assert.deepEqual(set.body.outputs.y.probabilities, { tolerance: 1e-3 });

    assert.equal((await infer(server.url, 'scaled', scaleRequest(2, 0.25))).status, 200);
    assert.equal((await validity(server.url, 'scaled')).invalid_responses, 0);

    assert.equal((await infer(server.url, 'scaled', scaleRequest(1, 0.5))).status, 200);
    const checks = await validity(server.url, 'scaled');
    assert.equal(checks.violations.probabilities, 1);
    assert.equal(checks.violations.labels, 0);
    const samples = (await call(`${server.url}/api/v1/models/scaled/versions/1/violations`)).body
      .samples;
    assert.match(
      samples[0].violations[0].message,
      /1 of 1 rows do not sum to 1 within 0.001 \(row 0 sums to 2\)/,
    );

    assert.equal((await infer(server.url, 'scaled', scaleRequest(1, 0.1))).status, 200);
    assert.equal((await validity(server.url, 'scaled')).violations.labels, 1);
  });

  it('rejects expectations that do not fit the version', async () => {
    const cases: Array<{ body: unknown; field: string; message: RegExp }> = [
      {
        body: { outputs: { z: { range: { max: 1 } } } },
        field: 'body.outputs.z',
        message: /unknown output "z"; the version's outputs are "y"/,
      },
      {
        body: { outputs: { y: { range: { min: 2, max: 1 } } } },
        field: 'body.outputs.y.range',
        message: /min 2 is greater than max 1/,
      },
      {
        body: { outputs: { y: { labels: ['cat'] } } },
        field: 'body.outputs.y.labels[0]',
        message: /must be a number, as the output is FP32/,
      },
      {
        body: { outputs: { y: { mean: 0 } } },
        field: 'body.outputs.y.mean',
        message: /unknown expectation "mean"/,
      },
      {
        body: { outputs: { y: { probabilities: { tolerance: -1 } } } },
        field: 'body.outputs.y.probabilities.tolerance',
        message: /0 or more/,
      },
      { body: [], field: 'body.outputs', message: /send \{"outputs"/ },
    ];
    for (const { body, field, message } of cases) {
      const response = await expect(server.url, 'scaled', body);
      assert.equal(response.status, 400, JSON.stringify(body));
      assert.equal(response.body.code, 'INVALID_ARGUMENT');
      assert.equal(response.body.field, field);
      assert.match(response.body.error, message);
    }
    const kept = await call(`${server.url}/api/v1/models/scaled/versions/1/expectations`);
    assert.deepEqual(Object.keys(kept.body.outputs), ['y'], 'a rejected update keeps the old set');
  });

  it('removes expectations', async () => {
    const removed = await call(`${server.url}/api/v1/models/scaled/versions/1/expectations`, {
      method: 'DELETE',
    });
    assert.equal(removed.status, 200);
    assert.deepEqual(removed.body.outputs, {});
    assert.equal((await validity(server.url, 'scaled')).expectations, null);
  });

  it('takes expectations with an upload', async () => {
    const expectations = JSON.stringify({ outputs: { y: { range: { min: 0 } } } });
    const uploaded = await push(server.url, 'with-checks', scaleModel(3), { expectations });
    assert.equal(uploaded.status, 201, JSON.stringify(uploaded.body));
    assert.deepEqual(uploaded.body.validity.expectations.outputs, { y: { range: { min: 0 } } });

    const rejected = await push(server.url, 'bad-checks', scaleModel(4), {
      expectations: JSON.stringify({ outputs: { nope: { range: { min: 0 } } } }),
    });
    assert.equal(rejected.status, 400);
    assert.equal(rejected.body.field, 'expectations.outputs.nope');
    const missing = await call(`${server.url}/api/v1/models/bad-checks`);
    assert.equal(missing.status, 404, 'a rejected upload registers nothing');

    const malformed = await push(server.url, 'bad-checks', scaleModel(4), { expectations: '{' });
    assert.equal(malformed.status, 400);
    assert.equal(malformed.body.field, 'expectations');
  });
});
