import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { call, infer, push } from '../support/http.js';
import {
  buildModel,
  identityModel,
  scaleModel,
  slowLoadModel,
  slowRunModel,
} from '../support/onnx-builder.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { runConcurrently, setStaging, settled, waitForComparison } from '../support/staging.js';

const ONE = (x: number) => ({
  inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 1], data: [x] }],
});

/** y = Gather(w, x): reads `size` weights by index, and fails at run time for an index >= size. */
function gatherModel(size: number): Buffer {
  return buildModel({
    inputs: [{ name: 'x', type: 'INT64', shape: ['n'] }],
    outputs: [{ name: 'y', type: 'FP32', shape: ['n'] }],
    initializers: [
      {
        name: 'w',
        type: 'FP32',
        dims: [size],
        values: Float32Array.from({ length: size }, (_, index) => index / 2),
      },
    ],
    nodes: [{ op: 'Gather', inputs: ['w', 'x'], outputs: ['y'] }],
  });
}

async function timed(url: string, model: string, count: number): Promise<number[]> {
  return runConcurrently(count, 4, async (index) => {
    const started = performance.now();
    const response = await infer(url, model, ONE(index % 7));
    const elapsed = performance.now() - started;
    assert.equal(response.status, 200, JSON.stringify(response.body));
    // Production multiplies by 8^2; the slow staging version would multiply by 512^2.
    assert.deepEqual(response.body.outputs[0].data, [(index % 7) * 64]);
    assert.equal(response.body.model_version, '1');
    return elapsed;
  });
}

function quantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

describe('faulty staging versions', () => {
  let server: TestServer;

  before(async () => {
    server = await startTestServer({
      workers: 2,
      shadowQueueSize: 4,
      shadowConcurrency: 1,
      shadowLoadWaitMs: 100,
      loadRetryBackoffMs: 60_000,
    });
  });

  after(async () => {
    await server.destroy();
  });

  it('adds no latency to production with a slow staging version', async () => {
    assert.equal(
      (await push(server.url, 'slow', slowRunModel(8, 1), { alias: 'production' })).status,
      201,
    );
    // About 24 * 512^3 multiply-adds: tens of milliseconds per run.
    assert.equal(
      (await push(server.url, 'slow', slowRunModel(512, 24), { alias: 'staging' })).status,
      201,
    );
    const load = await call(`${server.url}/api/v1/models/slow/versions/2/load`, { method: 'POST' });
    assert.equal(load.status, 200, JSON.stringify(load.body));

    await setStaging(server.url, 'slow', { shadow_percent: 0 });
    await timed(server.url, 'slow', 20);
    const off = await timed(server.url, 'slow', 200);
    await setStaging(server.url, 'slow', { shadow_percent: 100 });
    const on = await timed(server.url, 'slow', 200);

    // Generous bounds: the cores are shared with the staging runs and with other tests, but a
    // production request that waited behind a staging run would take tens of milliseconds.
    const [offMedian, onMedian] = [quantile(off, 0.5), quantile(on, 0.5)];
    assert.ok(
      onMedian <= offMedian * 4 + 10,
      `median ${onMedian} ms with shadow, ${offMedian} ms without`,
    );
    const [offP90, onP90] = [quantile(off, 0.9), quantile(on, 0.9)];
    assert.ok(onP90 <= offP90 * 4 + 20, `p90 ${onP90} ms with shadow, ${offP90} ms without`);

    const comparison = await waitForComparison(server.url, 'slow', settled(200));
    const { shadow } = comparison;
    assert.ok(shadow.compared >= 1, 'some shadow runs completed');
    assert.ok(shadow.dropped.queue_full > 0, 'the small queue overflowed');
    assert.equal(shadow.compared + shadow.dropped.queue_full, 200);
    assert.ok(comparison.latency_ms.p95_ratio > 10, `p95 ratio ${comparison.latency_ms.p95_ratio}`);
    assert.match(comparison.summary, /shadow requests dropped$/);
    const staging = (await call(`${server.url}/api/v1/models/slow/versions/2`)).body;
    assert.equal(staging.shadow_usage.requests, shadow.compared);
    assert.equal(staging.usage.requests, 0);
  });

  it('reports a staging version that fails every run', async () => {
    assert.equal(
      (await push(server.url, 'fragile', gatherModel(100), { alias: 'production' })).status,
      201,
    );
    assert.equal(
      (await push(server.url, 'fragile', gatherModel(2), { alias: 'staging' })).status,
      201,
    );
    // Loaded first, so no shadow request waits for the load and is dropped instead of failing.
    const load = await call(`${server.url}/api/v1/models/fragile/versions/2/load`, {
      method: 'POST',
    });
    assert.equal(load.status, 200, JSON.stringify(load.body));

    const body = { inputs: [{ name: 'x', datatype: 'INT64', shape: [2], data: [5, 7] }] };
    for (let index = 0; index < 4; index += 1) {
      const response = await infer(server.url, 'fragile', body);
      assert.equal(response.status, 200, JSON.stringify(response.body));
      assert.deepEqual(response.body.outputs[0].data, [2.5, 3.5]);
    }

    const comparison = await waitForComparison(server.url, 'fragile', settled(4));
    assert.equal(comparison.shadow.errors, 4);
    assert.equal(comparison.shadow.compared, 0);
    assert.match(
      comparison.summary,
      /no compared requests yet against production v1; 4 shadow runs failed$/,
    );

    const staging = (await call(`${server.url}/api/v1/models/fragile/versions/2`)).body;
    assert.equal(staging.shadow_usage.errors, 4);
    const production = (await call(`${server.url}/api/v1/models/fragile/versions/1`)).body;
    assert.equal(production.usage.errors, 0);
    assert.equal(production.usage.successes, 4);
  });

  it('drops shadow requests when staging cannot load', async () => {
    assert.equal(
      (await push(server.url, 'broken', scaleModel(2), { alias: 'production' })).status,
      201,
    );
    const staged = await push(server.url, 'broken', scaleModel(3), { alias: 'staging' });
    const artifact = path.join(
      server.dataDir,
      'artifacts',
      'sha256',
      staged.body.sha256.slice(0, 2),
      staged.body.sha256,
    );
    await fs.writeFile(artifact, Buffer.from('damaged bytes'));
    const body = { inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4], data: [1, 2, 3, 4] }] };
    for (let index = 0; index < 3; index += 1) {
      const response = await infer(server.url, 'broken', body);
      assert.equal(response.status, 200);
      assert.deepEqual(response.body.outputs[0].data, [2, 4, 6, 8]);
    }
    const comparison = await waitForComparison(server.url, 'broken', settled(3));
    assert.equal(comparison.shadow.dropped.load_failed, 3);
  });

  it('drops shadow requests while staging outlasts the load wait', async () => {
    assert.equal(
      (await push(server.url, 'late', identityModel('FP32', [1]), { alias: 'production' })).status,
      201,
    );
    // Constant folding at session creation takes a few hundred milliseconds, over the 100 ms wait.
    assert.equal(
      (await push(server.url, 'late', slowLoadModel(1024, 12), { alias: 'staging' })).status,
      201,
    );
    const body = { inputs: [{ name: 'x', datatype: 'FP32', shape: [1], data: [1] }] };
    assert.equal((await infer(server.url, 'late', body)).status, 200);
    const first = await waitForComparison(server.url, 'late', settled(1));
    assert.equal(first.shadow.dropped.load_timeout, 1, JSON.stringify(first.shadow));

    // Once loaded, the staging version takes the next request.
    let ready = 503;
    for (let attempt = 0; attempt < 100 && ready !== 200; attempt += 1) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      ready = (await call(`${server.url}/v2/models/late/versions/2/ready`)).status;
    }
    assert.equal(ready, 200);
    assert.equal((await infer(server.url, 'late', body)).status, 200);
    const second = await waitForComparison(server.url, 'late', settled(2));
    assert.equal(second.shadow.compared, 1);
  });
});
