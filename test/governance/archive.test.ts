import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { call, infer, push } from '../support/http.js';
import { scaleModel, slowRunModel } from '../support/onnx-builder.js';
import { startTestServer, type TestServer } from '../support/server.js';

const SCALE_INPUT = {
  inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4], data: [1, 2, 3, 4] }],
};
const ONE = { inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 1], data: [1] }] };

describe('archive and restore', () => {
  let server: TestServer;

  const version = (model: string, v: number | string) =>
    `${server.url}/api/v1/models/${model}/versions/${v}`;
  const archive = (model: string, v: number, json: unknown = {}) =>
    call(`${version(model, v)}/archive`, { method: 'POST', json });
  const restore = (model: string, v: number, json: unknown = {}) =>
    call(`${version(model, v)}/restore`, { method: 'POST', json });

  before(async () => {
    server = await startTestServer();
    // scaled: version 1 behind production, version 2 newest; both serve.
    await push(server.url, 'scaled', scaleModel(2), { alias: 'production' });
    await push(server.url, 'scaled', scaleModel(3));
  });

  after(async () => {
    await server.destroy();
  });

  it('rejects a version behind an alias with the fix', async () => {
    const response = await archive('scaled', 1);
    assert.equal(response.status, 409);
    assert.equal(response.body.code, 'CONFLICT');
    assert.equal(response.body.field, 'version');
    assert.match(response.body.error, /is behind alias "production"/);
    assert.match(response.body.error, /steward alias set scaled production N/);
    assert.match(response.body.error, /steward alias rm scaled production/);
    assert.equal((await call(version('scaled', 1))).body.state, 'ready');
  });

  it('rejects a pinned version with the fix', async () => {
    await call(`${version('scaled', 2)}/pin`, { method: 'PUT' });
    const response = await archive('scaled', 2);
    assert.equal(response.status, 409);
    assert.match(response.body.error, /is pinned; unpin it first/);
    assert.match(response.body.error, /steward unpin scaled 2/);
    await call(`${version('scaled', 2)}/pin`, { method: 'DELETE' });
  });

  it('unloads a version once its request in flight finishes', async () => {
    await push(server.url, 'slow', slowRunModel(256, 200));
    assert.equal((await infer(server.url, 'slow', ONE)).status, 200);
    const running = infer(server.url, 'slow', ONE);
    let inFlight = 0;
    for (let attempt = 0; attempt < 200 && inFlight === 0; attempt += 1) {
      inFlight = (await call(version('slow', 1))).body.load.in_flight;
      if (inFlight === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    }
    assert.equal(inFlight, 1, 'the request is running when the archive starts');
    const archived = await archive('slow', 1, { reason: 'too slow' });
    assert.equal(archived.status, 200, JSON.stringify(archived.body));
    assert.equal(archived.body.changed, true);
    assert.equal(archived.body.state, 'archived');
    assert.equal(archived.body.state_reason, 'too slow');
    assert.equal(archived.body.load.state, 'archived');
    assert.equal(archived.body.load.loaded, false);
    assert.equal((await running).status, 200, 'the request in flight completes');
  });

  it('stays loaded when an alias wins the race', async () => {
    await push(server.url, 'raced', scaleModel(7));
    assert.equal((await infer(server.url, 'raced', SCALE_INPUT)).status, 200);
    const { registry } = server.steward;
    const original = registry.models.archiveVersion.bind(registry.models);
    // An alias lands between the first check and the registry update.
    registry.models.archiveVersion = async (model, v, reason, at) => {
      await registry.aliases.set(model, 'production', v, 'anonymous', 'raced', at);
      return original(model, v, reason, at);
    };
    let response: Awaited<ReturnType<typeof archive>>;
    try {
      response = await archive('raced', 1);
    } finally {
      registry.models.archiveVersion = original;
    }
    assert.equal(response.status, 409);
    assert.match(response.body.error, /is behind alias "production"/);

    const record = await call(version('raced', 1));
    assert.equal(record.body.state, 'ready');
    assert.equal(record.body.load.state, 'ready');
    assert.equal(record.body.load.loaded, true);
    assert.equal((await infer(server.url, 'raced', SCALE_INPUT)).status, 200);
    assert.equal((await call(version('raced', 1))).body.load.load_count, 1, 'no second load');
  });

  it('serves no request for an archived version', async () => {
    const archived = await archive('scaled', 2);
    assert.equal(archived.status, 200, JSON.stringify(archived.body));

    const explicit = await infer(server.url, 'scaled', SCALE_INPUT, '2');
    assert.equal(explicit.status, 503);
    assert.match(explicit.body.error, /version 2 is archived and does not serve requests/);
    assert.match(explicit.body.error, /steward restore scaled 2/);

    // The model name alone resolves to production, which is version 1.
    const byName = await infer(server.url, 'scaled', SCALE_INPUT);
    assert.equal(byName.status, 200);
    assert.equal(byName.body.model_version, '1');

    const load = await call(`${version('scaled', 2)}/load`, { method: 'POST' });
    assert.equal(load.status, 409);
    const pin = await call(`${version('scaled', 2)}/pin`, { method: 'PUT' });
    assert.equal(pin.status, 409);
    assert.match(pin.body.error, /archived; restore it before pinning it/);
    const alias = await call(`${server.url}/api/v1/models/scaled/aliases/staging`, {
      method: 'PUT',
      json: { version: 2 },
    });
    assert.equal(alias.status, 409);

    const metadata = await call(`${server.url}/v2/models/scaled`);
    assert.deepEqual(metadata.body.versions, ['1']);
    const index = await call(`${server.url}/v2/repository/index`, { method: 'POST', json: {} });
    const entry = index.body.find((e: any) => e.name === 'scaled' && e.version === '2');
    assert.equal(entry.state, 'UNAVAILABLE');
    assert.equal(entry.reason, 'archived');
  });

  it('keeps the row and the artifact of an archived version', async () => {
    const record = await call(version('scaled', 2));
    assert.equal(record.status, 200);
    assert.equal(record.body.state, 'archived');
    assert.ok(Date.parse(record.body.archived_at) > 0);
    const sha = record.body.sha256 as string;
    const file = path.join(server.dataDir, 'artifacts', 'sha256', sha.slice(0, 2), sha);
    assert.ok(existsSync(file), 'the artifact stays');
  });

  it('changes nothing when archived twice', async () => {
    const again = await archive('scaled', 2);
    assert.equal(again.status, 200);
    assert.equal(again.body.changed, false);
    assert.equal(again.body.state, 'archived');
  });

  it('keeps the archive across a restart', async () => {
    await server.stop();
    server = await startTestServer({ dataDir: server.dataDir });
    const record = await call(version('scaled', 2));
    assert.equal(record.body.state, 'archived');
    assert.equal(record.body.load.state, 'archived');
    assert.equal((await infer(server.url, 'scaled', SCALE_INPUT, '2')).status, 503);
  });

  it('restores a version so it serves again', async () => {
    const restored = await restore('scaled', 2, { reason: 'needed again' });
    assert.equal(restored.status, 200, JSON.stringify(restored.body));
    assert.equal(restored.body.changed, true);
    assert.equal(restored.body.state, 'ready');
    assert.equal(restored.body.archived_at, null);
    assert.ok(Date.parse(restored.body.restored_at) > 0);
    const response = await infer(server.url, 'scaled', SCALE_INPUT, '2');
    assert.equal(response.status, 200);
    assert.deepEqual(response.body.outputs[0].data, [3, 6, 9, 12]);

    const again = await restore('scaled', 2);
    assert.equal(again.body.changed, false);
  });

  it('rejects an invalid reason and an unknown version', async () => {
    const reason = await archive('scaled', 2, { reason: 42 });
    assert.equal(reason.status, 400);
    assert.equal(reason.body.field, 'reason');
    const missing = await archive('scaled', 9);
    assert.equal(missing.status, 404);
    assert.equal(missing.body.code, 'VERSION_NOT_FOUND');
  });
});
