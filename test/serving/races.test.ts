import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { call, infer, push } from '../support/http.js';
import { largeModel, scaleModel, slowLoadModel, slowRunModel } from '../support/onnx-builder.js';
import { startTestServer } from '../support/server.js';

const ONE = { inputs: [{ name: 'x', datatype: 'FP32', shape: [1], data: [1] }] };
const SCALE_INPUT = {
  inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4], data: [1, 2, 3, 4] }],
};
const SLOW_RUN_INPUT = { inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 1], data: [1] }] };

async function waitFor(check: () => Promise<boolean>, what: string): Promise<void> {
  for (let attempt = 0; attempt < 200; attempt += 1) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.fail(`timed out waiting for ${what}`);
}

describe('lifecycle races', () => {
  it('answers a request waiting on a deleted version and keeps serving', async () => {
    const server = await startTestServer();
    try {
      const model = slowLoadModel(1024, 40);
      assert.equal((await push(server.url, 'doomed', model)).status, 201);
      assert.equal((await push(server.url, 'survivor', model)).status, 201);
      const waiting = infer(server.url, 'doomed', ONE);
      await new Promise((resolve) => setTimeout(resolve, 200));
      const deleted = await call(`${server.url}/api/v1/models/doomed/versions/1`, {
        method: 'DELETE',
      });
      assert.equal(deleted.status, 200);
      assert.equal(deleted.body.artifact_removed, false);
      const response = await waiting;
      assert.equal(response.status, 404, JSON.stringify(response.body));
      assert.match(response.body.error, /was deleted while the request waited for it/);
      assert.equal((await call(`${server.url}/v2/health/live`)).status, 200);
      assert.equal((await infer(server.url, 'survivor', ONE)).status, 200);
    } finally {
      await server.destroy();
    }
  });

  it('never points an alias at a version deleted during its load', async () => {
    const server = await startTestServer();
    try {
      await push(server.url, 'm', scaleModel(2), { alias: 'production' });
      await push(server.url, 'm', slowLoadModel(1024, 40));
      const moving = call(`${server.url}/api/v1/models/m/aliases/production`, {
        method: 'PUT',
        json: { version: 2 },
      });
      await new Promise((resolve) => setTimeout(resolve, 200));
      const deleted = await call(`${server.url}/api/v1/models/m/versions/2`, { method: 'DELETE' });
      const moved = await moving;
      assert.equal(deleted.status, 200, JSON.stringify(deleted.body));
      assert.equal(moved.status, 404, JSON.stringify(moved.body));
      const model = await call(`${server.url}/api/v1/models/m`);
      assert.deepEqual(model.body.aliases, { production: 1 });
      assert.equal((await infer(server.url, 'm', SCALE_INPUT)).status, 200);
    } finally {
      await server.destroy();
    }
  });

  it('keeps production loaded when it moves away and back at once', async () => {
    const server = await startTestServer({ preloadAliases: ['production'] });
    try {
      await push(server.url, 'flip', slowRunModel(1024, 30), { alias: 'production' });
      await push(server.url, 'flip', slowRunModel(1024, 31));
      assert.equal((await infer(server.url, 'flip', SLOW_RUN_INPUT)).status, 200);
      const running = infer(server.url, 'flip', SLOW_RUN_INPUT);
      await new Promise((resolve) => setTimeout(resolve, 50));
      const away = await call(`${server.url}/api/v1/models/flip/aliases/production`, {
        method: 'PUT',
        json: { version: 2 },
      });
      assert.equal(away.status, 200);
      const back = await call(`${server.url}/api/v1/models/flip/aliases/production`, {
        method: 'PUT',
        json: { version: 1 },
      });
      assert.equal(back.status, 200);
      assert.equal((await running).status, 200);
      await waitFor(async () => {
        const version = await call(`${server.url}/api/v1/models/flip/versions/1`);
        return version.body.load.state === 'ready' || version.body.load.state === 'unloaded';
      }, 'version 1 to settle');
      const version = await call(`${server.url}/api/v1/models/flip/versions/1`);
      assert.equal(version.body.load.state, 'ready', JSON.stringify(version.body.load));
      assert.equal(version.body.load.pinned, true);
      assert.equal(version.body.load.instances, 1);
      assert.equal((await call(`${server.url}/v2/health/ready`)).status, 200);
    } finally {
      await server.destroy();
    }
  });
});

describe('memory budget pressure', () => {
  it('is no load failure and leaves no pin behind', async () => {
    const MIB = 1024 * 1024;
    const server = await startTestServer({ memoryBudgetBytes: 12 * MIB, loadTimeoutMs: 500 });
    try {
      await push(server.url, 'held', largeModel(8, 1));
      await push(server.url, 'waiting', largeModel(8, 2));
      await push(server.url, 'huge', largeModel(16, 3));
      const pin = await call(`${server.url}/api/v1/models/held/versions/1/pin`, { method: 'PUT' });
      assert.equal(pin.status, 200);

      const refused = await infer(server.url, 'waiting', {
        inputs: [{ name: 'indices', datatype: 'INT64', shape: [1], data: [0] }],
      });
      assert.equal(refused.status, 503);
      assert.match(
        refused.body.error,
        /pinned versions hold .* of the memory budget of 12\.0 MiB \(held version 1\); unpin a version/,
      );
      const waiting = await call(`${server.url}/api/v1/models/waiting/versions/1`);
      assert.equal(waiting.body.state, 'ready');
      assert.notEqual(waiting.body.load.state, 'failed');

      const tooBig = await call(`${server.url}/api/v1/models/huge/versions/1/pin`, {
        method: 'PUT',
      });
      assert.equal(tooBig.status, 507);
      const huge = await call(`${server.url}/api/v1/models/huge/versions/1`);
      assert.equal(huge.body.load.pinned, false, 'a pin whose load failed is taken back');
      assert.equal(huge.body.state, 'ready');

      await call(`${server.url}/api/v1/models/held/versions/1/pin`, { method: 'DELETE' });
      const served = await infer(server.url, 'waiting', {
        inputs: [{ name: 'indices', datatype: 'INT64', shape: [1], data: [0] }],
      });
      assert.equal(served.status, 200, 'no back-off after a refusal for lack of room');
    } finally {
      await server.destroy();
    }
  });

  it('measures the first load without the runtime setup', async () => {
    const server = await startTestServer({ workers: 1 });
    try {
      await push(server.url, 'tiny', scaleModel(3));
      assert.equal((await infer(server.url, 'tiny', SCALE_INPUT)).status, 200);
      const version = await call(`${server.url}/api/v1/models/tiny/versions/1`);
      assert.ok(
        version.body.load.memory_bytes < 4 * 1024 * 1024,
        `measured ${version.body.load.memory_bytes} bytes`,
      );
    } finally {
      await server.destroy();
    }
  });
});

describe('shutdown and model fields', () => {
  it('answers SHUTTING_DOWN while draining but stays live', async () => {
    const server = await startTestServer();
    try {
      server.steward.draining = true;
      const refused = await call(`${server.url}/api/v1/models`);
      assert.equal(refused.status, 503);
      assert.equal(refused.body.code, 'SHUTTING_DOWN');
      const protocol = await call(`${server.url}/v2/health/ready`);
      assert.equal(protocol.status, 503);
      assert.deepEqual(Object.keys(protocol.body), ['error']);
      assert.equal((await call(`${server.url}/v2/health/live`)).status, 200);
      server.steward.draining = false;
    } finally {
      await server.destroy();
    }
  });

  it('updates a model description and labels', async () => {
    const server = await startTestServer();
    try {
      await push(server.url, 'described', scaleModel(4));
      const updated = await call(`${server.url}/api/v1/models/described`, {
        method: 'PATCH',
        json: { description: 'scales by four', labels: { team: 'search', 'stage/tier': 'gold' } },
      });
      assert.equal(updated.status, 200, JSON.stringify(updated.body));
      assert.equal(updated.body.description, 'scales by four');
      assert.deepEqual(updated.body.labels, { team: 'search', 'stage/tier': 'gold' });
      const bad = await call(`${server.url}/api/v1/models/described`, {
        method: 'PATCH',
        json: { labels: ['x'] },
      });
      assert.equal(bad.status, 400);
      assert.equal(bad.body.field, 'labels');
    } finally {
      await server.destroy();
    }
  });
});
