import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { call, infer, push } from '../support/http.js';
import { largeModel, scaleModel } from '../support/onnx-builder.js';
import { makeDataDir, startTestServer, type TestServer } from '../support/server.js';

const TOKEN = 'audit-test-token';
const ALICE = { authorization: `Bearer ${TOKEN}`, 'x-steward-actor': 'alice' };
const SCALE_INPUT = {
  inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4], data: [1, 2, 3, 4] }],
};
const GATHER = { inputs: [{ name: 'indices', datatype: 'INT64', shape: [1], data: [0] }] };
const MIB = 1024 * 1024;

interface Entry {
  id: number;
  at: string;
  actor: string;
  action: string;
  model: string | null;
  version: number | null;
  reason: string;
  details: Record<string, any>;
}

describe('audit log', () => {
  let server: TestServer;
  let policyDir: string;

  /** Reads entries of the audit log, newest first. */
  async function audit(query: Record<string, string> = {}): Promise<Entry[]> {
    const response = await call(`${server.url}/api/v1/audit?${new URLSearchParams(query)}`);
    assert.equal(response.status, 200, JSON.stringify(response.body));
    return response.body.entries;
  }

  /** Returns the newest entry of an action on a model, polling while a background action finishes. */
  async function newest(model: string, action: string): Promise<Entry> {
    for (let attempt = 0; attempt < 50; attempt += 1) {
      const [entry] = await audit({ model, action, limit: '1' });
      if (entry) return entry;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`no ${action} entry for ${model}`);
  }

  async function write(method: string, route: string, json?: unknown) {
    const response = await call(`${server.url}${route}`, { method, headers: ALICE, json });
    assert.ok(response.status < 300, `${method} ${route}: ${JSON.stringify(response.body)}`);
    return response;
  }

  before(async () => {
    policyDir = await makeDataDir();
    const policyFile = path.join(policyDir, 'policy.json');
    await fs.writeFile(policyFile, JSON.stringify({ defaults: { keep_newest: 1 } }));
    // Room for one 10 MiB model, not two, so loading the second evicts the first.
    server = await startTestServer({
      adminToken: TOKEN,
      memoryBudgetBytes: 19 * MIB,
      policyFile,
    });
  });

  after(async () => {
    await server.destroy();
    await fs.rm(policyDir, { recursive: true, force: true });
  });

  it('records an upload with the load and alias change it caused', async () => {
    const response = await push(server.url, 'alpha', scaleModel(2), { alias: 'production' }, ALICE);
    assert.equal(response.status, 201);

    const upload = await newest('alpha', 'upload');
    assert.equal(upload.actor, 'admin:alice');
    assert.equal(upload.version, 1);
    assert.equal(upload.details.sha256, response.body.sha256);
    assert.equal(upload.details.format, 'onnx');

    const load = await newest('alpha', 'load');
    assert.equal(load.actor, 'admin:alice');
    assert.equal(load.reason, 'alias "production" is moving to it');
    assert.equal(typeof load.details.load_ms, 'number');

    const alias = await newest('alpha', 'alias_set');
    assert.equal(alias.reason, 'set at upload');
    assert.deepEqual(alias.details, { alias: 'production', from_version: null, to_version: 1 });
  });

  it('records alias moves and removals with their reasons', async () => {
    await push(server.url, 'alpha', scaleModel(3), {}, ALICE);
    await write('PUT', '/api/v1/models/alpha/aliases/production', {
      version: 2,
      reason: 'release 2',
    });
    const moved = await newest('alpha', 'alias_set');
    assert.equal(moved.version, 2);
    assert.equal(moved.reason, 'release 2');
    assert.deepEqual(moved.details, { alias: 'production', from_version: 1, to_version: 2 });

    // The version that production left is unloaded in the background.
    const unload = await newest('alpha', 'unload');
    assert.equal(unload.version, 1);
    assert.equal(unload.actor, 'admin:alice');
    assert.equal(unload.reason, 'alias "production" moved away');

    await write('PUT', '/api/v1/models/alpha/aliases/canary', { version: 1 });
    await write('DELETE', '/api/v1/models/alpha/aliases/canary?reason=done');
    const removed = await newest('alpha', 'alias_remove');
    assert.equal(removed.version, 1);
    assert.equal(removed.reason, 'done');
    assert.deepEqual(removed.details, { alias: 'canary', from_version: 1, to_version: null });
  });

  it('records explicit loads and unloads and lazy loads', async () => {
    await write('POST', '/api/v1/models/alpha/versions/1/load');
    const load = await newest('alpha', 'load');
    assert.equal(load.version, 1);
    assert.equal(load.actor, 'admin:alice');
    assert.equal(load.reason, 'explicit load');

    await write('POST', '/api/v1/models/alpha/versions/1/unload');
    const unload = await newest('alpha', 'unload');
    assert.equal(unload.reason, 'explicit unload');
    assert.equal(unload.actor, 'admin:alice');

    assert.equal((await infer(server.url, 'alpha', SCALE_INPUT, '1')).status, 200);
    const lazy = await newest('alpha', 'load');
    assert.notEqual(lazy.id, load.id);
    assert.equal(lazy.actor, 'steward');
    assert.equal(lazy.reason, 'an inference request needs it');
  });

  it('records an eviction for the memory budget', async () => {
    await push(server.url, 'big-a', largeModel(10, 1), {}, ALICE);
    await push(server.url, 'big-b', largeModel(10, 2), {}, ALICE);
    assert.equal((await infer(server.url, 'big-a', GATHER)).status, 200);
    assert.equal((await infer(server.url, 'big-b', GATHER)).status, 200);
    const evict = await newest('big-a', 'evict');
    assert.equal(evict.actor, 'steward');
    assert.equal(evict.reason, 'evicted to make room for big-b version 1');
    assert.ok(evict.details.memory_bytes >= 10 * MIB);
  });

  it('records a failed load with its cause', async () => {
    const uploaded = await push(server.url, 'broken', scaleModel(4), {}, ALICE);
    const sha = uploaded.body.sha256 as string;
    const file = path.join(server.dataDir, 'artifacts', 'sha256', sha.slice(0, 2), sha);
    await fs.writeFile(file, 'damaged');
    assert.equal((await infer(server.url, 'broken', SCALE_INPUT)).status, 503);
    const failed = await newest('broken', 'load_failed');
    assert.equal(failed.actor, 'steward');
    assert.match(failed.reason, /corrupted/);
    assert.equal(failed.details.requested_because, 'an inference request needs it');
  });

  it('records pins, archives and restores', async () => {
    await write('PUT', '/api/v1/models/alpha/versions/1/pin');
    assert.equal((await newest('alpha', 'pin')).actor, 'admin:alice');
    await write('DELETE', '/api/v1/models/alpha/versions/1/pin');
    assert.equal((await newest('alpha', 'unpin')).reason, 'explicit unpin');

    await write('POST', '/api/v1/models/alpha/versions/1/archive', { reason: 'replaced by 2' });
    const archive = await newest('alpha', 'archive');
    assert.equal(archive.version, 1);
    assert.equal(archive.reason, 'replaced by 2');
    assert.equal(archive.details.previous_state, 'ready');

    await write('POST', '/api/v1/models/alpha/versions/1/restore', { reason: 'needed again' });
    const restore = await newest('alpha', 'restore');
    assert.equal(restore.reason, 'needed again');
    assert.equal(restore.actor, 'admin:alice');
  });

  it('records gc runs but not dry runs', async () => {
    await write('POST', '/api/v1/gc', { dry_run: true });
    assert.deepEqual(await audit({ action: 'gc' }), []);

    await write('POST', '/api/v1/gc', { dry_run: false });
    const [run] = await audit({ action: 'gc' });
    assert.equal(run!.actor, 'admin:alice');
    assert.equal(run!.model, null);
    assert.match(run!.reason, /^policy .*policy\.json$/);
    // keep_newest 1 archives alpha version 1; every other model has a single version.
    assert.equal(run!.details.archived, 1);
    assert.equal(typeof run!.details.run_id, 'string');

    const archived = await newest('alpha', 'archive');
    assert.equal(archived.version, 1);
    assert.match(archived.reason, /^retirement policy: older than the 1 newest versions/);
  });

  it('records deletes, and keeps them after the model is gone', async () => {
    await write('DELETE', '/api/v1/models/alpha/versions/1?reason=cleanup');
    const deleted = await newest('alpha', 'delete');
    assert.equal(deleted.version, 1);
    assert.equal(deleted.reason, 'cleanup');
    assert.equal(deleted.details.previous_state, 'archived');
    assert.equal(deleted.details.artifact_removed, true);

    await write('DELETE', '/api/v1/models/alpha?force=true');
    const model = await newest('alpha', 'delete_model');
    assert.equal(model.version, null);
    assert.deepEqual(model.details.deleted_versions, [2]);

    const perModel = await call(`${server.url}/api/v1/models/alpha/audit?action=alias_remove`);
    assert.equal(perModel.status, 200);
    assert.equal(perModel.body.model, 'alpha');
    assert.equal(perModel.body.entries[0].reason, 'version 2 deleted');
  });

  it('filters by version, actor, time and id', async () => {
    const all = await audit({ model: 'big-a', limit: '1000' });
    assert.ok(all.length >= 3);
    for (const entry of await audit({ model: 'big-a', version: '1' })) {
      assert.equal(entry.version, 1);
    }
    for (const entry of await audit({ actor: 'steward', limit: '1000' })) {
      assert.equal(entry.actor, 'steward');
    }

    const middle = all[1]!;
    const since = await audit({ model: 'big-a', since: middle.at });
    assert.ok(since.every((entry) => entry.at >= middle.at));
    assert.ok(since.some((entry) => entry.id === middle.id));
    const until = await audit({ model: 'big-a', until: middle.at });
    assert.ok(until.every((entry) => entry.at < middle.at));

    const page = await audit({ model: 'big-a', before: String(middle.id), limit: '1' });
    assert.equal(page.length, 1);
    assert.equal(page[0]!.id, all[2]!.id);
  });

  it('rejects invalid filters naming the field', async () => {
    for (const [query, field] of [
      ['version=0', 'version'],
      ['action=bogus', 'action'],
      ['since=yesterday', 'since'],
      ['limit=5000', 'limit'],
      ['model=..', 'name'],
    ] as const) {
      const response = await call(`${server.url}/api/v1/audit?${query}`);
      assert.equal(response.status, 400, query);
      assert.equal(response.body.field, field, query);
    }
  });

  it('records the unloads at shutdown', async () => {
    await server.stop();
    server = await startTestServer({ dataDir: server.dataDir, adminToken: TOKEN });
    const unload = await newest('big-b', 'unload');
    assert.equal(unload.reason, 'server stopping');
    assert.equal(unload.actor, 'steward');
  });
});
