import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { tarGzArchive } from '../support/archives.js';
import { call, infer, push, readJson } from '../support/http.js';
import {
  externalDataModel,
  scaleModel,
  slowLoadModel,
  slowRunModel,
} from '../support/onnx-builder.js';
import { example } from '../support/paths.js';
import { startTestServer, type TestServer } from '../support/server.js';

const ONE = { inputs: [{ name: 'x', datatype: 'FP32', shape: [1], data: [1] }] };
const SCALE_INPUT = {
  inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4], data: [1, 2, 3, 4] }],
};

async function transitions(url: string, model: string, version: number | string) {
  const response = await call(`${url}/api/v1/models/${model}/versions/${version}/transitions`);
  return response.body.transitions as Array<{ from: string; to: string; reason: string }>;
}

function artifactPath(dataDir: string, sha256: string): string {
  return path.join(dataDir, 'artifacts', 'sha256', sha256.slice(0, 2), sha256);
}

describe('lazy loading', () => {
  let server: TestServer;

  before(async () => {
    server = await startTestServer({ loadWaitMs: 30_000 });
  });

  after(async () => {
    await server.destroy();
  });

  it('reports a registered version as not ready until its first request', async () => {
    await push(server.url, 'scaled', scaleModel(2));
    const ready = await call(`${server.url}/v2/models/scaled/ready`);
    assert.equal(ready.status, 503);
    assert.match(
      ready.body.error,
      /is registered, not loaded; the next inference request loads it/,
    );
    const listing = await call(`${server.url}/api/v1/models/scaled/versions/1`);
    assert.equal(listing.body.load.state, 'registered');
    assert.equal(listing.body.load.loaded, false);

    assert.equal((await infer(server.url, 'scaled', SCALE_INPUT)).status, 200);
    const after = await call(`${server.url}/v2/models/scaled/ready`);
    assert.equal(after.status, 200);
    assert.equal(after.body.ready, true);
  });

  it('starts one load for concurrent first requests', async () => {
    await push(server.url, 'slow-load', slowLoadModel(1024, 20));
    const responses = await Promise.all(
      Array.from({ length: 8 }, () => infer(server.url, 'slow-load', ONE)),
    );
    for (const response of responses)
      assert.equal(response.status, 200, JSON.stringify(response.body));
    const loads = (await transitions(server.url, 'slow-load', 1)).filter((t) => t.to === 'loading');
    assert.equal(loads.length, 1);
  });
});

describe('load deadlines and failures', () => {
  let server: TestServer;

  before(async () => {
    server = await startTestServer({
      loadWaitMs: 200,
      loadTimeoutMs: 60_000,
      loadRetryBackoffMs: 60_000,
    });
  });

  after(async () => {
    await server.destroy();
  });

  it('answers 503 when a request outwaits its load, then serves', async () => {
    await push(server.url, 'slow-load', slowLoadModel(1024, 40));
    const early = await infer(server.url, 'slow-load', ONE);
    assert.equal(early.status, 503);
    assert.match(early.body.error, /is still loading after 200 ms; retry later/);
    let response = early;
    for (let attempt = 0; attempt < 100 && response.status !== 200; attempt += 1) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      response = await infer(server.url, 'slow-load', ONE);
    }
    assert.equal(response.status, 200);
    const loads = (await transitions(server.url, 'slow-load', 1)).filter((t) => t.to === 'loading');
    assert.equal(loads.length, 1);
  });

  it('remembers a failed load and answers with its reason at once', async () => {
    const uploaded = await push(server.url, 'corrupt', scaleModel(3));
    const file = artifactPath(server.dataDir, uploaded.body.sha256);
    const original = await fs.readFile(file);
    await fs.writeFile(file, Buffer.from('damaged bytes'));

    const first = await infer(server.url, 'corrupt', SCALE_INPUT);
    assert.equal(first.status, 503);
    assert.match(first.body.error, /failed to load: artifact .* is corrupted/);
    const started = performance.now();
    const second = await infer(server.url, 'corrupt', SCALE_INPUT);
    const elapsed = performance.now() - started;
    assert.equal(second.status, 503);
    assert.match(
      second.body.error,
      /is corrupted: .*next automatic retry in \d+ s, or load it explicitly/,
    );
    assert.ok(elapsed < 1000, `the remembered failure took ${elapsed} ms`);
    const loads = (await transitions(server.url, 'corrupt', 1)).filter((t) => t.to === 'loading');
    assert.equal(loads.length, 1, 'the second request must not retry the load');

    const listing = await call(`${server.url}/api/v1/models/corrupt/versions/1`);
    assert.equal(listing.body.state, 'failed');
    assert.match(listing.body.state_reason, /corrupted/);
    assert.equal(listing.body.status, 'unhealthy');
    assert.equal(listing.body.health.reasons[0].kind, 'load_failed');
    assert.equal(listing.body.usage.failures.unavailable, 2);
    assert.ok(listing.body.load.retry_at);

    // An explicit load retries at once; with the file repaired it succeeds.
    await fs.writeFile(file, original);
    const load = await call(`${server.url}/v2/repository/models/corrupt/load`, { method: 'POST' });
    assert.equal(load.status, 200, JSON.stringify(load.body));
    assert.equal((await infer(server.url, 'corrupt', SCALE_INPUT)).status, 200);
    const repaired = await call(`${server.url}/api/v1/models/corrupt/versions/1`);
    assert.equal(repaired.body.state, 'ready');
  });
});

describe('load timeout', () => {
  it('rejects an upload whose check outlasts the timeout', async () => {
    const server = await startTestServer({ loadTimeoutMs: 300 });
    try {
      const response = await push(server.url, 'slow-load', slowLoadModel(1024, 60));
      assert.equal(response.status, 422);
      assert.match(response.body.error, /took longer than 300 ms \(--load-timeout\)/);
      assert.equal((await call(`${server.url}/api/v1/models/slow-load`)).status, 404);
    } finally {
      await server.destroy();
    }
  });

  it('fails a load past its timeout and keeps serving others', async () => {
    const first = await startTestServer();
    const dataDir = first.dataDir;
    try {
      assert.equal((await push(first.url, 'slow-load', slowLoadModel(1024, 60))).status, 201);
      assert.equal((await push(first.url, 'scaled', scaleModel(5))).status, 201);
    } finally {
      await first.stop();
    }
    const server = await startTestServer({
      dataDir,
      workers: 2,
      loadTimeoutMs: 300,
      loadWaitMs: 10_000,
    });
    try {
      const response = await infer(server.url, 'slow-load', ONE);
      assert.equal(response.status, 503);
      assert.match(response.body.error, /load timed out after 300 ms/);

      const other = await infer(server.url, 'scaled', SCALE_INPUT);
      assert.equal(other.status, 200, JSON.stringify(other.body));
      assert.deepEqual(other.body.outputs[0].data, [5, 10, 15, 20]);

      const state = await call(`${server.url}/api/v1/models/slow-load/versions/1`);
      assert.equal(state.body.load.state, 'failed');
      assert.equal(state.body.load.loaded, false);
      const loaded = await call(`${server.url}/api/v1/loaded`);
      assert.deepEqual(
        loaded.body.versions.map((v: { model: string }) => v.model),
        ['scaled'],
      );
    } finally {
      await server.destroy();
    }
  });
});

describe('readiness', () => {
  it('is ready with zero models', async () => {
    const server = await startTestServer({ preloadAliases: ['production'] });
    try {
      assert.equal((await call(`${server.url}/v2/health/ready`)).status, 200);
    } finally {
      await server.destroy();
    }
  });

  it('waits for preloaded versions and reports failures', async () => {
    const first = await startTestServer();
    const dataDir = first.dataDir;
    let good: { body: { sha256: string } };
    let bad: { body: { sha256: string } };
    try {
      good = await push(first.url, 'slow', slowLoadModel(1024, 40), { alias: 'production' });
      bad = await push(first.url, 'broken', scaleModel(7), { alias: 'production' });
    } finally {
      await first.stop();
    }
    await fs.writeFile(artifactPath(dataDir, bad.body.sha256), 'damaged');

    const second = await startTestServer({ dataDir, preloadAliases: ['production'] });
    try {
      const during = await call(`${second.url}/v2/health/ready`);
      assert.equal(during.status, 503);
      assert.match(during.body.error, /slow version 1 \(production\) is (loading|registered)/);
      for (let attempt = 0; attempt < 100; attempt += 1) {
        const state = await call(`${second.url}/api/v1/models/slow/versions/1`);
        if (state.body.load.state === 'ready') break;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      const after = await call(`${second.url}/v2/health/ready`);
      assert.equal(after.status, 503);
      assert.match(
        after.body.error,
        /broken version 1 \(production\) is failed: artifact .* is corrupted/,
      );
      assert.doesNotMatch(after.body.error, /slow version/);
      const pinned = await call(`${second.url}/api/v1/models/slow/versions/1`);
      assert.equal(pinned.body.load.pinned, true);
      assert.ok(good.body.sha256);
    } finally {
      await second.destroy();
    }
  });
});

describe('promotion under load', () => {
  let server: TestServer;

  before(async () => {
    server = await startTestServer();
  });

  after(async () => {
    await server.destroy();
  });

  it('switches outputs with no failed request', async () => {
    await push(server.url, 'digits', example('digits-mlp'), { alias: 'production' });
    await push(server.url, 'digits', example('digits-mlp-v2'));
    const request = await readJson(example('digits-mlp', 'requests/request.json'));
    const expectedV1 = await readJson(example('digits-mlp', 'requests/expected.json'));
    const expectedV2 = await readJson(example('digits-mlp-v2', 'requests/expected.json'));

    let running = true;
    const failures: string[] = [];
    const clients = Array.from({ length: 4 }, async () => {
      const seen: string[] = [];
      while (running) {
        const response = await infer(server.url, 'digits', request);
        if (response.status !== 200) {
          failures.push(`${response.status} ${JSON.stringify(response.body)}`);
          continue;
        }
        const version = response.body.model_version as string;
        const expected = version === '1' ? expectedV1 : expectedV2;
        const difference = Math.max(
          ...response.body.outputs[0].data.map((v: number, i: number) =>
            Math.abs(v - expected.outputs[0].data[i]),
          ),
        );
        if (difference > 1e-4) failures.push(`version ${version} output differs by ${difference}`);
        seen.push(version);
      }
      return seen;
    });

    await new Promise((resolve) => setTimeout(resolve, 300));
    const moved = await call(`${server.url}/api/v1/models/digits/aliases/production`, {
      method: 'PUT',
      json: { version: 2, reason: 'better accuracy' },
    });
    assert.equal(moved.status, 200, JSON.stringify(moved.body));
    assert.equal(moved.body.previous_version, 1);
    await new Promise((resolve) => setTimeout(resolve, 300));
    running = false;
    const seen = await Promise.all(clients);

    assert.deepEqual(failures, []);
    for (const versions of seen) {
      assert.equal(versions[0], '1');
      assert.equal(versions[versions.length - 1], '2');
      const firstNew = versions.indexOf('2');
      assert.ok(
        versions.slice(firstNew).every((v) => v === '2'),
        'no old answer after the switch',
      );
    }
    // The old version is unloaded once its requests finish.
    for (let attempt = 0; attempt < 50; attempt += 1) {
      const old = await call(`${server.url}/api/v1/models/digits/versions/1`);
      if (old.body.load.state === 'unloaded') break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const old = await call(`${server.url}/api/v1/models/digits/versions/1`);
    assert.equal(old.body.load.state, 'unloaded');

    const history = await call(`${server.url}/api/v1/models/digits/history`);
    assert.deepEqual(
      history.body.history.map(
        (h: { alias: string; from_version: number | null; to_version: number }) => [
          h.alias,
          h.from_version,
          h.to_version,
        ],
      ),
      [
        ['production', 1, 2],
        ['production', null, 1],
      ],
    );
    assert.equal(history.body.history[0].reason, 'better accuracy');
    assert.equal(history.body.history[0].actor, 'anonymous');
    assert.ok(history.body.history[0].changed_at);
  });

  it('keeps the old version serving when the new one fails to load', async () => {
    const uploaded = await push(server.url, 'digits', example('digits-cnn'));
    assert.equal(uploaded.body.version, 3);
    await fs.writeFile(artifactPath(server.dataDir, uploaded.body.sha256), 'damaged');
    const moved = await call(`${server.url}/api/v1/models/digits/aliases/production`, {
      method: 'PUT',
      json: { version: 3 },
    });
    assert.equal(moved.status, 503);
    assert.match(moved.body.error, /version 3 failed to load: artifact .* is corrupted/);
    const model = await call(`${server.url}/api/v1/models/digits`);
    assert.equal(model.body.aliases.production, 2);
    const request = await readJson(example('digits-mlp', 'requests/request.json'));
    const response = await infer(server.url, 'digits', request);
    assert.equal(response.status, 200);
    assert.equal(response.body.model_version, '2');
  });

  it('rejects an alias to a missing version or with a bad body', async () => {
    const missing = await call(`${server.url}/api/v1/models/digits/aliases/production`, {
      method: 'PUT',
      json: { version: 99 },
    });
    assert.equal(missing.status, 404);
    assert.match(missing.body.error, /model "digits" has no version 99/);
    const bad = await call(`${server.url}/api/v1/models/digits/aliases/production`, {
      method: 'PUT',
      json: { version: 'two' },
    });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.field, 'version');
  });

  it('removes an alias and records it', async () => {
    await call(`${server.url}/api/v1/models/digits/aliases/canary`, {
      method: 'PUT',
      json: { version: 1 },
    });
    const removed = await call(`${server.url}/api/v1/models/digits/aliases/canary`, {
      method: 'DELETE',
    });
    assert.equal(removed.status, 200);
    assert.equal(removed.body.previous_version, 1);
    const again = await call(`${server.url}/api/v1/models/digits/aliases/canary`, {
      method: 'DELETE',
    });
    assert.equal(again.status, 404);
    const history = await call(`${server.url}/api/v1/models/digits/history`);
    assert.deepEqual(
      [
        history.body.history[0].alias,
        history.body.history[0].from_version,
        history.body.history[0].to_version,
      ],
      ['canary', 1, null],
    );
  });
});

describe('unload and delete', () => {
  let server: TestServer;

  before(async () => {
    server = await startTestServer();
  });

  after(async () => {
    await server.destroy();
  });

  it('lets requests in flight finish before an unload', async () => {
    await push(server.url, 'slow-run', slowRunModel(1024, 30));
    const body = { inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 1], data: [1] }] };
    assert.equal((await infer(server.url, 'slow-run', body)).status, 200);
    const inFlight = Array.from({ length: 3 }, () => infer(server.url, 'slow-run', body));
    await new Promise((resolve) => setTimeout(resolve, 50));
    const unload = await call(`${server.url}/v2/repository/models/slow-run/unload`, {
      method: 'POST',
    });
    assert.equal(unload.status, 200);
    for (const response of await Promise.all(inFlight)) {
      assert.equal(response.status, 200, JSON.stringify(response.body));
    }
    const state = await call(`${server.url}/api/v1/models/slow-run/versions/1`);
    assert.equal(state.body.load.state, 'unloaded');
    assert.equal(state.body.load.in_flight, 0);
  });

  it('refuses to delete an aliased version unless forced', async () => {
    const first = await push(server.url, 'deletable', scaleModel(11), { alias: 'production' });
    const refused = await call(`${server.url}/api/v1/models/deletable/versions/1`, {
      method: 'DELETE',
    });
    assert.equal(refused.status, 409);
    assert.match(
      refused.body.error,
      /is behind alias "production"; move the alias first, or delete with force=true/,
    );
    assert.equal((await infer(server.url, 'deletable', SCALE_INPUT)).status, 200);

    const forced = await call(`${server.url}/api/v1/models/deletable/versions/1?force=true`, {
      method: 'DELETE',
    });
    assert.equal(forced.status, 200);
    assert.deepEqual(forced.body.removed_aliases, ['production']);
    assert.equal(forced.body.artifact_removed, true);
    await assert.rejects(fs.access(artifactPath(server.dataDir, first.body.sha256)));
    assert.equal((await infer(server.url, 'deletable', SCALE_INPUT, '1')).status, 404);
    const loaded = await call(`${server.url}/api/v1/loaded`);
    assert.ok(!loaded.body.versions.some((v: { model: string }) => v.model === 'deletable'));

    // Numbers are never reused after a delete.
    const next = await push(server.url, 'deletable', scaleModel(12));
    assert.equal(next.body.version, 2);
  });

  it('keeps an artifact that another version still uses', async () => {
    const shared = scaleModel(13);
    const a = await push(server.url, 'shared-a', shared);
    await push(server.url, 'shared-b', shared);
    const deleted = await call(`${server.url}/api/v1/models/shared-a/versions/1`, {
      method: 'DELETE',
    });
    assert.equal(deleted.body.artifact_removed, false);
    await fs.access(artifactPath(server.dataDir, a.body.sha256));
    assert.equal((await infer(server.url, 'shared-b', SCALE_INPUT)).status, 200);
  });

  it('removes the unpacked folder of a deleted archive', async () => {
    const { model, data } = externalDataModel(Float32Array.of(1, 2, 3, 4), 'weights.bin');
    const archive = tarGzArchive([
      { path: 'model.onnx', data: model },
      { path: 'weights.bin', data },
    ]);
    const uploaded = await push(server.url, 'archived-onnx', archive);
    assert.equal(uploaded.status, 201, JSON.stringify(uploaded.body));
    assert.equal((await infer(server.url, 'archived-onnx', SCALE_INPUT)).status, 200);
    const folder = path.join(server.dataDir, 'artifacts', 'unpacked', uploaded.body.sha256);
    await fs.access(folder);
    const deleted = await call(`${server.url}/api/v1/models/archived-onnx/versions/1`, {
      method: 'DELETE',
    });
    assert.equal(deleted.body.artifact_removed, true);
    await assert.rejects(fs.access(folder));
  });

  it('deletes a whole model and continues its numbering', async () => {
    await push(server.url, 'whole', scaleModel(21));
    await push(server.url, 'whole', scaleModel(22));
    const deleted = await call(`${server.url}/api/v1/models/whole`, { method: 'DELETE' });
    assert.equal(deleted.status, 200);
    assert.deepEqual(deleted.body.deleted_versions, [1, 2]);
    assert.equal((await call(`${server.url}/api/v1/models/whole`)).status, 404);
    const again = await push(server.url, 'whole', scaleModel(23));
    assert.equal(again.body.version, 3);
  });
});

describe('pinning and idle unload', () => {
  let server: TestServer;

  before(async () => {
    server = await startTestServer({ idleUnloadMs: 400 });
  });

  after(async () => {
    await server.destroy();
  });

  it('unloads idle versions but keeps pinned ones', async () => {
    await push(server.url, 'idle', scaleModel(31));
    await push(server.url, 'kept', scaleModel(32));
    assert.equal((await infer(server.url, 'idle', SCALE_INPUT)).status, 200);
    const pin = await call(`${server.url}/api/v1/models/kept/versions/1/pin`, { method: 'PUT' });
    assert.equal(pin.status, 200);
    assert.equal(pin.body.load.pinned, true);
    assert.equal(pin.body.load.state, 'ready');

    await new Promise((resolve) => setTimeout(resolve, 1200));
    const idle = await call(`${server.url}/api/v1/models/idle/versions/1`);
    assert.equal(idle.body.load.state, 'unloaded');
    assert.match(idle.body.load.reason, /idle for \d+ s/);
    const kept = await call(`${server.url}/api/v1/models/kept/versions/1`);
    assert.equal(kept.body.load.state, 'ready');

    const unpin = await call(`${server.url}/api/v1/models/kept/versions/1/pin`, {
      method: 'DELETE',
    });
    assert.equal(unpin.body.load.pinned, false);
    await new Promise((resolve) => setTimeout(resolve, 1200));
    const released = await call(`${server.url}/api/v1/models/kept/versions/1`);
    assert.equal(released.body.load.state, 'unloaded');
  });

  it('rejects explicit unload of a pinned version', async () => {
    await push(server.url, 'held', scaleModel(33));
    const pin = await call(`${server.url}/api/v1/models/held/versions/1/pin`, { method: 'PUT' });
    assert.equal(pin.status, 200);

    const unload = await call(`${server.url}/api/v1/models/held/versions/1/unload`, {
      method: 'POST',
    });
    assert.equal(unload.status, 409);
    assert.equal(unload.body.code, 'CONFLICT');
    assert.equal(unload.body.field, 'version');
    assert.match(unload.body.error, /version 1 is pinned \(user\)/);
    assert.match(unload.body.error, /steward unpin held 1/);
    const repository = await call(`${server.url}/v2/repository/models/held/unload`, {
      method: 'POST',
    });
    assert.equal(repository.status, 409);
    assert.match(repository.body.error, /is pinned/);
    const still = await call(`${server.url}/api/v1/models/held/versions/1`);
    assert.equal(still.body.load.state, 'ready');

    await call(`${server.url}/api/v1/models/held/versions/1/pin`, { method: 'DELETE' });
    const unpinned = await call(`${server.url}/api/v1/models/held/versions/1/unload`, {
      method: 'POST',
    });
    assert.equal(unpinned.status, 200);
    assert.equal(unpinned.body.load.state, 'unloaded');
  });
});
