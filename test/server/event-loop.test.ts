import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { infer, push } from '../support/http.js';
import { slowLoadModel, slowRunModel } from '../support/onnx-builder.js';
import { startTestServer, type TestServer } from '../support/server.js';

/**
 * Polls liveness while `work` runs and returns the slowest liveness answer in milliseconds,
 * with how long the work took.
 */
async function livenessDuring(url: string, work: () => Promise<unknown>) {
  let running = true;
  let slowest = 0;
  let probes = 0;
  const poller = (async () => {
    while (running) {
      const started = performance.now();
      const response = await fetch(`${url}/v2/health/live`);
      await response.text();
      assert.equal(response.status, 200);
      slowest = Math.max(slowest, performance.now() - started);
      probes += 1;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  })();
  const started = performance.now();
  await work();
  const workMs = performance.now() - started;
  running = false;
  await poller;
  return { slowest, probes, workMs };
}

describe('event loop', () => {
  let server: TestServer;

  before(async () => {
    server = await startTestServer({ workers: 1, intraOpThreads: 1 });
  });

  after(async () => {
    await server.destroy();
  });

  it('answers liveness while a slow model loads', async () => {
    const model = slowLoadModel(1024, 40);
    const upload = await livenessDuring(server.url, async () => {
      const response = await push(server.url, 'slow-load', model);
      assert.equal(response.status, 201);
    });
    const firstRequest = await livenessDuring(server.url, async () => {
      const response = await infer(server.url, 'slow-load', {
        inputs: [{ name: 'x', datatype: 'FP32', shape: [1], data: [1] }],
      });
      assert.equal(response.status, 200, JSON.stringify(response.body));
    });
    for (const phase of [upload, firstRequest]) {
      assert.ok(
        phase.workMs > 500,
        `the load took only ${phase.workMs} ms, too short to prove anything`,
      );
      assert.ok(phase.probes >= 5, `only ${phase.probes} liveness probes ran`);
      assert.ok(
        phase.slowest < phase.workMs / 4,
        `liveness took ${phase.slowest} ms during a ${phase.workMs} ms load`,
      );
    }
  });

  it('answers liveness while a slow model runs', async () => {
    assert.equal((await push(server.url, 'slow-run', slowRunModel(1024, 40))).status, 201);
    const run = await livenessDuring(server.url, async () => {
      const response = await infer(server.url, 'slow-run', {
        inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 1], data: [2] }],
      });
      assert.equal(response.status, 200, JSON.stringify(response.body));
      assert.deepEqual(response.body.outputs[0].data, [2 * 1024 * 1024]);
    });
    assert.ok(run.workMs > 300, `the run took only ${run.workMs} ms, too short to prove anything`);
    assert.ok(
      run.slowest < run.workMs / 4,
      `liveness took ${run.slowest} ms during a ${run.workMs} ms run`,
    );
  });
});
