import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { call, infer, push } from '../support/http.js';
import { failingReshapeModel, scaleModel, scaleRequest } from '../support/models.js';
import { logModel } from '../support/onnx-builder.js';
import { startTestServer, type TestServer } from '../support/server.js';

const FIVE = { inputs: [{ name: 'x', datatype: 'FP32', shape: [5], data: [1, 2, 3, 4, 5] }] };
const FOUR = { inputs: [{ name: 'x', datatype: 'FP32', shape: [4], data: [1, 2, 3, 4] }] };
const NAN = { inputs: [{ name: 'x', datatype: 'FP32', shape: [1], data: [-1] }] };
const FINE = { inputs: [{ name: 'x', datatype: 'FP32', shape: [1], data: [1] }] };

async function health(url: string, model: string) {
  const body = (await call(`${url}/api/v1/models/${model}/versions/1`)).body;
  return { status: body.status, reasons: body.health.reasons, messages: body.status_reasons };
}

function thresholds(url: string, model: string, body: unknown, method = 'PUT') {
  return call(`${url}/api/v1/models/${model}/health-thresholds`, { method, json: body });
}

describe('health rules', () => {
  let server: TestServer;

  before(async () => {
    server = await startTestServer({ healthMinRequests: 3, healthMaxP95Ms: 60_000 });
  });

  after(async () => {
    await server.destroy();
  });

  it('reports a version without requests as never used', async () => {
    await push(server.url, 'idle', scaleModel(2));
    const result = await health(server.url, 'idle');
    assert.equal(result.status, 'never used');
    assert.deepEqual(result.reasons, [
      { kind: 'never_used', message: 'no request has reached this version' },
    ]);
    assert.deepEqual(result.messages, ['no request has reached this version']);
  });

  it('degrades a version whose error rate passes its threshold', async () => {
    await push(server.url, 'flaky', failingReshapeModel());
    const set = await thresholds(server.url, 'flaky', { max_error_rate: 0.5, min_requests: 4 });
    assert.equal(set.status, 200, JSON.stringify(set.body));
    assert.deepEqual(set.body.overrides, { max_error_rate: 0.5, min_requests: 4 });
    assert.equal(set.body.thresholds.max_p95_ms, 60_000);

    for (const body of [FIVE, FIVE, FOUR]) await infer(server.url, 'flaky', body);
    // Bad requests stay out of the error rate.
    await infer(server.url, 'flaky', { inputs: [{ name: 'wrong' }] });
    assert.equal((await health(server.url, 'flaky')).status, 'healthy', '3 requests are too few');
    await infer(server.url, 'flaky', FOUR);
    assert.equal((await health(server.url, 'flaky')).status, 'healthy', '2 of 4 is not above 50%');

    await infer(server.url, 'flaky', FOUR);
    const result = await health(server.url, 'flaky');
    assert.equal(result.status, 'degraded');
    assert.equal(result.reasons.length, 1);
    assert.equal(result.reasons[0].kind, 'error_rate');
    assert.equal(result.reasons[0].value, 0.6);
    assert.equal(result.reasons[0].threshold, 0.5);
    assert.match(
      result.reasons[0].message,
      /3 of 5 requests in the last 5 min \(60%\) failed \(model errors 3, timeouts 0, unavailable 0\), above the limit of 50%/,
    );
  });

  it('degrades a version whose p95 latency passes its threshold', async () => {
    await push(server.url, 'slowish', scaleModel(3));
    await thresholds(server.url, 'slowish', { max_p95_ms: 0, min_requests: 2 });
    await infer(server.url, 'slowish', scaleRequest());
    assert.equal((await health(server.url, 'slowish')).status, 'healthy', 'one request is too few');
    await infer(server.url, 'slowish', scaleRequest());
    const result = await health(server.url, 'slowish');
    assert.equal(result.status, 'degraded');
    assert.equal(result.reasons[0].kind, 'slow');
    assert.equal(result.reasons[0].threshold, 0);
    assert.ok(result.reasons[0].value > 0);
    assert.match(
      result.reasons[0].message,
      /p95 latency of .* ms over the last 5 min \(2 successful requests\) exceeds the limit of 0 ms/,
    );

    await thresholds(server.url, 'slowish', { max_p95_ms: 60_000 });
    assert.equal((await health(server.url, 'slowish')).status, 'healthy');
  });

  it('marks a version unhealthy when invalid outputs pass their threshold', async () => {
    await push(server.url, 'log', logModel());
    await thresholds(server.url, 'log', { max_invalid_output_rate: 0.25, min_requests: 4 });
    for (const body of [NAN, FINE, FINE, FINE]) await infer(server.url, 'log', body);
    assert.equal((await health(server.url, 'log')).status, 'healthy', '1 of 4 is not above 25%');
    await infer(server.url, 'log', NAN);
    const result = await health(server.url, 'log');
    assert.equal(result.status, 'unhealthy');
    assert.equal(result.reasons[0].kind, 'invalid_outputs');
    assert.equal(result.reasons[0].value, 0.4);
    assert.match(
      result.reasons[0].message,
      /2 of 5 responses in the last 5 min \(40%\) broke an output check/,
    );
  });

  it('marks a version whose load failed unhealthy', async () => {
    const uploaded = await push(server.url, 'broken', scaleModel(9));
    const sha = uploaded.body.sha256 as string;
    const file = path.join(server.dataDir, 'artifacts', 'sha256', sha.slice(0, 2), sha);
    await fs.writeFile(file, Buffer.from('damaged bytes'));
    assert.equal((await infer(server.url, 'broken', scaleRequest())).status, 503);
    const result = await health(server.url, 'broken');
    assert.equal(result.status, 'unhealthy');
    assert.equal(result.reasons[0].kind, 'load_failed');
    assert.match(result.reasons[0].message, /^load failed: .*corrupted/);
  });

  it('uses the server defaults and returns to them when overrides are removed', async () => {
    const current = await call(`${server.url}/api/v1/models/log/health-thresholds`);
    assert.deepEqual(current.body.defaults, {
      max_error_rate: 0.05,
      max_p95_ms: 60_000,
      max_invalid_output_rate: 0.01,
      min_requests: 3,
    });
    const removed = await thresholds(server.url, 'log', undefined, 'DELETE');
    assert.equal(removed.status, 200);
    assert.deepEqual(removed.body.overrides, {});
    assert.deepEqual(removed.body.thresholds, removed.body.defaults);
    // With the default 1% limit, 2 of 5 invalid responses are far over.
    assert.equal((await health(server.url, 'log')).status, 'unhealthy');
  });

  it('rejects invalid thresholds naming the field', async () => {
    const cases: Array<{ body: unknown; field: string; message: RegExp }> = [
      { body: { max_error_rate: 2 }, field: 'max_error_rate', message: /from 0 to 1/ },
      { body: { min_requests: 0 }, field: 'min_requests', message: /whole number of 1 or more/ },
      { body: { max_p95_ms: 'fast' }, field: 'max_p95_ms', message: /milliseconds/ },
      { body: { p99: 5 }, field: 'p99', message: /unknown threshold "p99"/ },
      { body: [1], field: 'body', message: /JSON object/ },
    ];
    for (const { body, field, message } of cases) {
      const response = await thresholds(server.url, 'idle', body);
      assert.equal(response.status, 400, JSON.stringify(body));
      assert.equal(response.body.field, field);
      assert.match(response.body.error, message);
    }
    const overflow = await call(`${server.url}/api/v1/models/idle/health-thresholds`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: '{"max_p95_ms": -1e400}',
    });
    assert.equal(overflow.status, 400, JSON.stringify(overflow.body));
    assert.equal(overflow.body.field, 'max_p95_ms');
    assert.match(overflow.body.error, /received -Infinity$/);
    const unknown = await thresholds(server.url, 'no-such-model', { max_error_rate: 0.1 });
    assert.equal(unknown.status, 404);
  });
});

describe('checks after a restart', () => {
  it('keeps thresholds, expectations, probes and the latest probe run', async () => {
    const first = await startTestServer({ probeIntervalMs: 0 });
    const dataDir = first.dataDir;
    try {
      await push(first.url, 'kept', scaleModel(2));
      await thresholds(first.url, 'kept', { max_p95_ms: 250 });
      const base = `${first.url}/api/v1/models/kept/versions/1`;
      await call(`${base}/expectations`, {
        method: 'PUT',
        json: { outputs: { y: { range: { min: 0 } } } },
      });
      const probes = {
        probes: [
          {
            request: scaleRequest(1, 1),
            expected: { outputs: [{ name: 'y', data: [3, 3, 3, 3] }] },
          },
        ],
      };
      await call(`${base}/probes`, { method: 'PUT', json: probes });
      const run = await call(`${base}/probes/run`, { method: 'POST' });
      assert.equal(run.body.passed, false);
      await first.stop();

      const second = await startTestServer({ dataDir, probeIntervalMs: 0 });
      try {
        const body = (await call(`${second.url}/api/v1/models/kept/versions/1`)).body;
        assert.equal(body.health.thresholds.max_p95_ms, 250);
        assert.deepEqual(body.validity.expectations.outputs, { y: { range: { min: 0 } } });
        assert.equal(body.probes.count, 1);
        assert.equal(
          body.probes.last_run.ran_at,
          run.body.ran_at,
          JSON.stringify([body.probes.last_run.trigger, run.body.trigger]),
        );
        assert.equal(body.status, 'unhealthy');
        assert.equal(body.health.reasons[0].kind, 'probe_failed');
        const results = await call(`${second.url}/api/v1/models/kept/versions/1/probes/results`);
        assert.deepEqual(results.body.results[0].outputs[0].data, [2, 2, 2, 2]);
      } finally {
        await second.destroy();
      }
    } catch (error) {
      await fs.rm(dataDir, { recursive: true, force: true });
      throw error;
    }
  });

  it('forgets the checks of a deleted model', async () => {
    const server = await startTestServer();
    try {
      await push(server.url, 'gone', scaleModel(2));
      await thresholds(server.url, 'gone', { max_error_rate: 0.2 });
      await call(`${server.url}/api/v1/models/gone/versions/1/expectations`, {
        method: 'PUT',
        json: { outputs: { y: { range: { min: 0 } } } },
      });
      assert.equal(
        (await call(`${server.url}/api/v1/models/gone`, { method: 'DELETE' })).status,
        200,
      );
      await push(server.url, 'gone', scaleModel(3));
      const body = (await call(`${server.url}/api/v1/models/gone/versions/2`)).body;
      assert.equal(body.health.thresholds.max_error_rate, 0.05);
      assert.equal(body.validity.expectations, null);
    } finally {
      await server.destroy();
    }
  });
});
