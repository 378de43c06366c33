import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { call, infer, push } from '../support/http.js';
import { failingReshapeModel, scaleModel, scaleRequest } from '../support/models.js';
import { slowLoadModel, slowRunModel } from '../support/onnx-builder.js';
import { startTestServer, type TestServer } from '../support/server.js';

async function version(url: string, model: string, reference: string | number = 1) {
  const response = await call(`${url}/api/v1/models/${model}/versions/${reference}`);
  assert.equal(response.status, 200, JSON.stringify(response.body));
  return response.body;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function load(url: string, model: string): Promise<void> {
  const response = await call(`${url}/api/v1/models/${model}/versions/1/load`, { method: 'POST' });
  assert.equal(response.status, 200, JSON.stringify(response.body));
}

describe('usage by cause', () => {
  let server: TestServer;

  before(async () => {
    // A load wait of 1 ms makes the first request of a slow-loading model time out.
    server = await startTestServer({ loadWaitMs: 1, loadRetryBackoffMs: 60_000 });
  });

  after(async () => {
    await server.destroy();
  });

  it('counts successes and bad requests with their bytes', async () => {
    await push(server.url, 'scaled', scaleModel(2));
    await load(server.url, 'scaled');
    const request = scaleRequest(3);
    const sent = Buffer.byteLength(JSON.stringify(request));
    const ok = await infer(server.url, 'scaled', request);
    assert.equal(ok.status, 200);
    const bad = await infer(server.url, 'scaled', { inputs: [{ name: 'nope' }] });
    assert.equal(bad.status, 400);

    const body = await version(server.url, 'scaled');
    assert.equal(body.usage.requests, 2);
    assert.equal(body.usage.successes, 1);
    assert.equal(body.usage.failures.bad_request, 1);
    assert.equal(body.usage.client_errors, 1);
    assert.equal(body.usage.errors, 0);
    const badBytes = Buffer.byteLength(JSON.stringify({ inputs: [{ name: 'nope' }] }));
    assert.equal(body.usage.bytes_in, sent + badBytes);
    assert.equal(body.usage.bytes_out, Buffer.byteLength(JSON.stringify(ok.body)));
    assert.equal(body.usage.in_flight, 0);
    assert.ok(body.usage.first_used_at);
    assert.ok(body.usage.last_used_at >= body.usage.first_used_at);
  });

  it('counts a failure inside the model as a model error', async () => {
    await push(server.url, 'reshape', failingReshapeModel());
    await load(server.url, 'reshape');
    const request = { inputs: [{ name: 'x', datatype: 'FP32', shape: [4], data: [1, 2, 3, 4] }] };
    const response = await infer(server.url, 'reshape', request);
    assert.equal(response.status, 500);
    const body = await version(server.url, 'reshape');
    assert.equal(body.usage.failures.model_error, 1);
    assert.equal(body.usage.errors, 1);
    assert.equal(body.usage.successes, 0);
  });

  it('counts a request that outwaits its load as a timeout', async () => {
    await push(server.url, 'slow-load', slowLoadModel(512, 8));
    const response = await infer(server.url, 'slow-load', {
      inputs: [{ name: 'x', datatype: 'FP32', shape: [1], data: [1] }],
    });
    assert.equal(response.status, 503);
    assert.match(response.body.error, /still loading after 1 ms/);
    const body = await version(server.url, 'slow-load');
    assert.equal(body.usage.failures.timeout, 1);
    assert.equal(body.usage.failures.unavailable, 0);
  });

  it('counts a version that cannot load as unavailable', async () => {
    const uploaded = await push(server.url, 'broken', scaleModel(5));
    const sha = uploaded.body.sha256 as string;
    const file = path.join(server.dataDir, 'artifacts', 'sha256', sha.slice(0, 2), sha);
    await fs.writeFile(file, Buffer.from('damaged bytes'));
    // The first request starts the load and waits 1 ms; the load fails, and the second
    // request gets the remembered failure at once.
    await infer(server.url, 'broken', scaleRequest());
    let body = await version(server.url, 'broken');
    for (let attempt = 0; attempt < 100 && body.load.state !== 'failed'; attempt += 1) {
      await sleep(20);
      body = await version(server.url, 'broken');
    }
    const response = await infer(server.url, 'broken', scaleRequest());
    assert.equal(response.status, 503);
    body = await version(server.url, 'broken');
    assert.equal(body.usage.failures.unavailable, 1);
    assert.equal(body.usage.requests, 2);
  });

  it('reports Triton stage timings for successful requests', async () => {
    const stats = await call(`${server.url}/v2/models/scaled/versions/1/stats`);
    assert.equal(stats.status, 200);
    const [entry] = stats.body.model_stats;
    assert.equal(entry.inference_stats.success.count, 1);
    assert.equal(entry.inference_stats.fail.count, 1);
    for (const stage of ['queue', 'compute_input', 'compute_infer', 'compute_output']) {
      assert.equal(entry.inference_stats[stage].count, 1, stage);
      assert.ok(entry.inference_stats[stage].ns > 0, `${stage} ns`);
    }
    // Three rows in the batch dimension count as three inferences in one execution.
    assert.equal(entry.inference_count, 3);
    assert.equal(entry.execution_count, 1);
  });
});

describe('requests in flight', () => {
  it('counts a running request until it finishes', async () => {
    const server = await startTestServer();
    try {
      await push(server.url, 'slow', slowRunModel(512, 30));
      const body = { inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 1], data: [1] }] };
      assert.equal((await infer(server.url, 'slow', body)).status, 200);
      const running = infer(server.url, 'slow', body);
      let seen = 0;
      for (let attempt = 0; attempt < 200 && seen === 0; attempt += 1) {
        seen = (await version(server.url, 'slow')).usage.in_flight;
        if (seen === 0) await sleep(5);
      }
      assert.equal(seen, 1);
      assert.equal((await running).status, 200);
      assert.equal((await version(server.url, 'slow')).usage.in_flight, 0);
    } finally {
      await server.destroy();
    }
  });
});

describe('latency window', () => {
  it('drops requests older than the window but keeps them in all-time figures', async () => {
    const server = await startTestServer({ statsWindowMs: 1000 });
    try {
      await push(server.url, 'scaled', scaleModel(2));
      // Large requests spend far longer in JSON parsing and encoding than small ones.
      for (let i = 0; i < 3; i += 1) {
        assert.equal((await infer(server.url, 'scaled', scaleRequest(50_000))).status, 200);
      }
      const early = await version(server.url, 'scaled');
      assert.equal(early.usage.window.seconds, 1);
      await sleep(1100);
      for (let i = 0; i < 3; i += 1) {
        assert.equal((await infer(server.url, 'scaled', scaleRequest(1))).status, 200);
      }
      const body = await version(server.url, 'scaled');
      assert.equal(body.usage.requests, 6);
      assert.equal(body.usage.window.requests, 3);
      assert.equal(body.usage.window.successes, 3);
      assert.ok(
        body.usage.window.latency_ms.p95 < body.usage.latency_ms.p95,
        `window p95 ${body.usage.window.latency_ms.p95} ms, all-time p95 ${body.usage.latency_ms.p95} ms`,
      );
      // The large requests still make the top of the all-time figures.
      assert.ok(body.usage.latency_ms.p99 >= early.usage.latency_ms.p50);

      await sleep(1100);
      const idle = await version(server.url, 'scaled');
      assert.equal(idle.usage.window.requests, 0);
      assert.equal(idle.usage.window.latency_ms.p95, null);
      assert.equal(idle.usage.window.error_rate, null);
      assert.equal(idle.usage.latency_ms.p95, body.usage.latency_ms.p95);
    } finally {
      await server.destroy();
    }
  });
});

describe('usage across reloads, switches and restarts', () => {
  it('keeps counting per version through unloads and alias moves', async () => {
    const server = await startTestServer();
    try {
      await push(server.url, 'switch', scaleModel(1), { alias: 'production' });
      await push(server.url, 'switch', scaleModel(2));
      for (let i = 0; i < 3; i += 1) await infer(server.url, 'switch', scaleRequest());
      const unload = await call(`${server.url}/api/v1/models/switch/versions/1/unload`, {
        method: 'POST',
      });
      assert.equal(unload.status, 200);
      for (let i = 0; i < 2; i += 1) await infer(server.url, 'switch', scaleRequest());
      const moved = await call(`${server.url}/api/v1/models/switch/aliases/production`, {
        method: 'PUT',
        json: { version: 2 },
      });
      assert.equal(moved.status, 200);
      for (let i = 0; i < 4; i += 1) await infer(server.url, 'switch', scaleRequest());

      const first = await version(server.url, 'switch', 1);
      const second = await version(server.url, 'switch', 2);
      assert.equal(first.usage.successes, 5);
      assert.equal(first.load.load_count, 2);
      assert.equal(second.usage.successes, 4);
    } finally {
      await server.destroy();
    }
  });

  it('keeps every counter and the all-time percentiles after a restart', async () => {
    const first = await startTestServer();
    const dataDir = first.dataDir;
    try {
      await push(first.url, 'kept', scaleModel(2));
      await push(first.url, 'reshape', failingReshapeModel());
      for (let i = 0; i < 3; i += 1) await infer(first.url, 'kept', scaleRequest(2));
      await infer(first.url, 'kept', { inputs: [] });
      await infer(first.url, 'reshape', {
        inputs: [{ name: 'x', datatype: 'FP32', shape: [1], data: [1] }],
      });
      const before = await version(first.url, 'kept');
      const statsBefore = (await call(`${first.url}/v2/models/kept/stats`)).body;
      await first.stop();

      const second = await startTestServer({ dataDir });
      try {
        const after = await version(second.url, 'kept');
        for (const field of ['requests', 'successes', 'bytes_in', 'bytes_out', 'latency_ms']) {
          assert.deepEqual(after.usage[field], before.usage[field], field);
        }
        assert.deepEqual(after.usage.failures, before.usage.failures);
        const statsAfter = (await call(`${second.url}/v2/models/kept/stats`)).body;
        const strip = (entry: any) => ({ ...entry, memory_usage: undefined });
        assert.deepEqual(statsAfter.model_stats.map(strip), statsBefore.model_stats.map(strip));
        const reshape = await version(second.url, 'reshape');
        assert.equal(reshape.usage.failures.model_error, 1);
        // The window lives in memory only.
        assert.equal(after.usage.window.requests, 0);
      } finally {
        await second.stop();
      }
    } finally {
      await fs.rm(dataDir, { recursive: true, force: true });
    }
  });
});
