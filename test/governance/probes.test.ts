import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { call, infer, push } from '../support/http.js';
import { scaleModel, scaleRequest } from '../support/models.js';
import { buildModel } from '../support/onnx-builder.js';
import { startTestServer, type TestServer } from '../support/server.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** One probe: [[1, 2, 3, 4]] must come back as `expected`. */
function probeSet(expected: number[], tolerance?: number) {
  const probe = {
    name: 'counting',
    request: { inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4], data: [1, 2, 3, 4] }] },
    expected: { outputs: [{ name: 'y', shape: [1, 4], data: [expected] }] },
  };
  return { probes: [tolerance === undefined ? probe : { ...probe, tolerance }] };
}

/** y = x + x: the same outputs as scaleModel(2) from different bytes. */
function doublingModel(): Buffer {
  return buildModel({
    inputs: [{ name: 'x', type: 'FP32', shape: ['n', 4] }],
    outputs: [{ name: 'y', type: 'FP32', shape: ['n', 4] }],
    nodes: [{ op: 'Add', inputs: ['x', 'x'], outputs: ['y'] }],
  });
}

async function version(url: string, model: string, reference: number | string = 1) {
  return (await call(`${url}/api/v1/models/${model}/versions/${reference}`)).body;
}

/** Polls a version until `done` holds for it, at most about 5 s. */
async function waitFor(url: string, model: string, done: (body: any) => boolean) {
  let body = await version(url, model);
  for (let attempt = 0; attempt < 250 && !done(body); attempt += 1) {
    await sleep(20);
    body = await version(url, model);
  }
  assert.ok(done(body), `condition never held: ${JSON.stringify(body.probes)}`);
  return body;
}

function setProbes(url: string, model: string, body: unknown) {
  return call(`${url}/api/v1/models/${model}/versions/1/probes`, { method: 'PUT', json: body });
}

describe('golden probes', () => {
  let server: TestServer;

  before(async () => {
    server = await startTestServer({ probeIntervalMs: 0 });
  });

  after(async () => {
    await server.destroy();
  });

  it('run after the load and pass when the outputs match', async () => {
    await push(server.url, 'doubler', scaleModel(2));
    const set = await setProbes(server.url, 'doubler', probeSet([2, 4, 6, 8]));
    assert.equal(set.status, 200, JSON.stringify(set.body));
    assert.equal(set.body.probes[0].tolerance, 1e-5);
    assert.equal(set.body.last_run, null, 'an unloaded version runs no probe');

    assert.equal((await infer(server.url, 'doubler', scaleRequest())).status, 200);
    const body = await waitFor(server.url, 'doubler', (v) => v.probes.last_run !== null);
    assert.equal(body.probes.last_run.trigger, 'load');
    assert.equal(body.probes.last_run.passed, true);
    assert.equal(body.probes.last_run.results[0].max_difference, 0);
    assert.equal(body.status, 'healthy');
    assert.equal(body.usage.requests, 1, 'probes are not counted as usage');
  });

  it('mark a mismatch unhealthy with the difference', async () => {
    await push(server.url, 'tripler', scaleModel(3));
    await setProbes(server.url, 'tripler', probeSet([2, 4, 6, 8], 0.5));
    const run = await call(`${server.url}/api/v1/models/tripler/versions/1/probes/run`, {
      method: 'POST',
    });
    assert.equal(run.status, 200, JSON.stringify(run.body));
    assert.equal(run.body.trigger, 'request');
    assert.equal(run.body.passed, false);
    const [result] = run.body.results;
    assert.equal(result.max_difference, 4);
    assert.match(
      result.message,
      /output "y": 4 of 4 values differ by more than 0.5; the largest difference is 4 at index 3 \(expected 8, got 12\)/,
    );

    const body = await version(server.url, 'tripler');
    assert.equal(body.status, 'unhealthy');
    assert.equal(body.health.reasons[0].kind, 'probe_failed');
    assert.equal(body.health.reasons[0].value, 4);
    assert.match(
      body.status_reasons[0],
      /probe "counting" failed in the request run .*difference is 4/,
    );
  });

  it('keep the latest outputs with digests for comparison', async () => {
    await push(server.url, 'adder', doublingModel());
    await setProbes(server.url, 'adder', probeSet([2, 4, 6, 8]));
    for (const model of ['adder', 'doubler']) {
      const run = await call(`${server.url}/api/v1/models/${model}/versions/1/probes/run`, {
        method: 'POST',
      });
      assert.equal(run.status, 200);
    }
    const results = async (model: string) =>
      (await call(`${server.url}/api/v1/models/${model}/versions/1/probes/results`)).body;
    const adder = await results('adder');
    const doubler = await results('doubler');
    const tripler = await results('tripler');
    assert.deepEqual(adder.results[0].outputs, [
      { name: 'y', datatype: 'FP32', shape: [1, 4], data: [2, 4, 6, 8] },
    ]);
    assert.deepEqual(tripler.results[0].outputs[0].data, [3, 6, 9, 12]);
    assert.equal(adder.results[0].request_sha256, doubler.results[0].request_sha256);
    assert.equal(adder.results[0].outputs_sha256, doubler.results[0].outputs_sha256);
    assert.notEqual(adder.results[0].outputs_sha256, tripler.results[0].outputs_sha256);
  });

  it('run again when the probes change on a loaded version', async () => {
    const set = await setProbes(server.url, 'tripler', probeSet([3, 6, 9, 12]));
    assert.equal(set.status, 200);
    const body = await waitFor(server.url, 'tripler', (v) => v.probes.last_run?.passed === true);
    assert.equal(body.probes.last_run.trigger, 'change');
    assert.equal(body.status, 'never used', 'passing probes clear the probe failure');
  });

  it('reject probes that do not fit the version', async () => {
    const cases: Array<{ body: unknown; field: string; message: RegExp }> = [
      {
        body: {
          probes: [
            {
              request: { inputs: [{ name: 'image' }] },
              expected: { outputs: [{ name: 'y', data: [1] }] },
            },
          ],
        },
        field: 'body.probes[0].request.inputs.image',
        message: /unknown input "image"/,
      },
      {
        body: {
          probes: [{ request: scaleRequest(), expected: { outputs: [{ name: 'z', data: [1] }] } }],
        },
        field: 'body.probes[0].expected.outputs[0].name',
        message: /unknown output "z"/,
      },
      {
        body: {
          probes: [
            {
              request: scaleRequest(),
              expected: { outputs: [{ name: 'y', shape: [1, 4], data: [1] }] },
            },
          ],
        },
        field: 'body.probes[0].expected.outputs[0].data',
        message: /shape \[1,4\] needs 4 values, received 1/,
      },
      {
        body: {
          probes: [
            { request: scaleRequest(), expected: { outputs: [{ name: 'y', data: ['one'] }] } },
          ],
        },
        field: 'body.probes[0].expected.outputs[0].data[0]',
        message: /not a value of datatype FP32/,
      },
      { body: { probe: [] }, field: 'body.probes', message: /send \{"probes"/ },
    ];
    for (const { body, field, message } of cases) {
      const response = await setProbes(server.url, 'doubler', body);
      assert.equal(response.status, 400, JSON.stringify(body));
      assert.equal(response.body.field, field);
      assert.match(response.body.error, message);
    }
  });

  it('answer 409 for a run without probes, and remove probes with their results', async () => {
    const removed = await call(`${server.url}/api/v1/models/tripler/versions/1/probes`, {
      method: 'DELETE',
    });
    assert.equal(removed.status, 200);
    assert.deepEqual(removed.body.probes, []);
    assert.equal(removed.body.last_run, null);
    const run = await call(`${server.url}/api/v1/models/tripler/versions/1/probes/run`, {
      method: 'POST',
    });
    assert.equal(run.status, 409);
    assert.equal(run.body.field, 'probes');
    const results = await call(`${server.url}/api/v1/models/tripler/versions/1/probes/results`);
    assert.equal(results.status, 404);
  });

  it('come with an upload and run when a hot alias loads the version', async () => {
    const probes = JSON.stringify(probeSet([5, 10, 15, 20]));
    const uploaded = await push(server.url, 'fiver', scaleModel(5), {
      probes,
      alias: 'production',
    });
    assert.equal(uploaded.status, 201, JSON.stringify(uploaded.body));
    assert.equal(uploaded.body.probes.count, 1);
    const body = await waitFor(server.url, 'fiver', (v) => v.probes.last_run !== null);
    assert.equal(body.probes.last_run.trigger, 'load');
    assert.equal(body.probes.last_run.passed, true);
  });
});

describe('scheduled probes', () => {
  it('run again on loaded versions at the interval', async () => {
    const server = await startTestServer({ probeIntervalMs: 100 });
    try {
      await push(server.url, 'doubler', scaleModel(2));
      await setProbes(server.url, 'doubler', probeSet([2, 4, 6, 8]));
      await call(`${server.url}/api/v1/models/doubler/versions/1/load`, { method: 'POST' });
      const body = await waitFor(
        server.url,
        'doubler',
        (v) => v.probes.last_run?.trigger === 'schedule',
      );
      assert.equal(body.probes.last_run.passed, true);
      assert.equal(body.usage.requests, 0, 'scheduled probes leave the version never used');
      assert.equal(body.status, 'never used');
    } finally {
      await server.destroy();
    }
  });
});
