import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { GcRun } from '../../src/governance/gc.js';
import { call, infer, push } from '../support/http.js';
import { scaleModel } from '../support/onnx-builder.js';
import { makeDataDir, startTestServer, type TestServer } from '../support/server.js';

const DAY = 86_400_000;
const SCALE_INPUT = {
  inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4], data: [1, 2, 3, 4] }],
};

const POLICY = {
  defaults: { keep_newest: 2, archive_unused_after: '30d', delete_archived_after: '90d' },
  models: { keepall: { keep_newest: null, archive_unused_after: null } },
};

/** Steps without their outcome, which is the one field a dry run and a real run differ in. */
function stepsOf(run: GcRun) {
  return run.results.map(({ outcome: _outcome, error: _error, ...step }) => step);
}

function actions(run: GcRun): string[] {
  return run.results.map((r) => `${r.model} ${r.version} ${r.action}`);
}

describe('gc with a retirement policy', () => {
  let server: TestServer;
  let policyDir: string;
  let start: number;
  const shas = new Map<string, string>();

  /** Plans at `now` with a dry run, runs for real at the same time, and checks they agree. */
  async function dryThenReal(now: Date): Promise<GcRun> {
    const dry = await server.steward.gc.run({ dryRun: true, actor: 'admin:test', now });
    const real = await server.steward.gc.run({ dryRun: false, actor: 'admin:test', now });
    assert.deepEqual(stepsOf(real), stepsOf(dry), 'the real run takes the steps of the dry run');
    for (const result of dry.results) {
      assert.equal(result.outcome, result.action === 'skip' ? 'skipped' : 'planned');
    }
    for (const result of real.results) {
      assert.equal(
        result.outcome,
        result.action === 'skip' ? 'skipped' : 'done',
        result.error ?? '',
      );
    }
    return real;
  }

  async function stateOf(model: string, version: number): Promise<string | number> {
    const response = await call(`${server.url}/api/v1/models/${model}/versions/${version}`);
    return response.status === 200 ? response.body.state : response.status;
  }

  before(async () => {
    policyDir = await makeDataDir();
    const policyFile = path.join(policyDir, 'policy.json');
    await fs.writeFile(policyFile, JSON.stringify(POLICY));
    server = await startTestServer({ policyFile });
    start = Date.now();
    // alpha: 1 behind production, 2 to 4 free. beta: 1 pinned, 2 free. keepall: 1 to 3.
    let scale = 1;
    for (const [model, count] of [
      ['alpha', 4],
      ['beta', 2],
      ['keepall', 3],
    ] as const) {
      for (let v = 1; v <= count; v += 1) {
        const response = await push(server.url, model, scaleModel(scale));
        assert.equal(response.status, 201);
        shas.set(`${model} ${v}`, response.body.sha256);
        scale += 1;
      }
    }
    await call(`${server.url}/api/v1/models/alpha/aliases/production`, {
      method: 'PUT',
      json: { version: 1 },
    });
    await call(`${server.url}/api/v1/models/beta/versions/1/pin`, { method: 'PUT' });
  });

  after(async () => {
    await server.destroy();
    await fs.rm(policyDir, { recursive: true, force: true });
  });

  it('archives versions below the newest K now', async () => {
    const run = await dryThenReal(new Date(start));
    assert.deepEqual(actions(run), ['alpha 1 skip', 'alpha 2 archive']);
    assert.deepEqual(run.results[0]!.protectedBy, ['alias "production"']);
    assert.equal(await stateOf('alpha', 2), 'archived');
    assert.equal(await stateOf('alpha', 1), 'ready');
  });

  it('plans nothing more at the same time', async () => {
    const again = await server.steward.gc.run({
      dryRun: true,
      actor: 'admin:test',
      now: new Date(start),
    });
    assert.deepEqual(actions(again), ['alpha 1 skip']);
  });

  it('archives versions unused for 30 days', async () => {
    // Used now, so 40 days later it has been idle for 40 days like the rest.
    assert.equal((await infer(server.url, 'alpha', SCALE_INPUT, '3')).status, 200);
    const run = await dryThenReal(new Date(start + 40 * DAY));
    assert.deepEqual(actions(run), [
      'alpha 1 skip',
      'alpha 3 archive',
      'alpha 4 archive',
      'beta 1 skip',
      'beta 2 archive',
    ]);
    const alpha3 = run.results[1]!;
    // Versions 3 and 4 are the newest two, so only the idle rule applies to them.
    assert.equal(alpha3.reasons.length, 1);
    assert.match(alpha3.reasons[0]!, /^unused for \d+ d, longer than archive_unused_after 30d$/);
    assert.deepEqual(run.results[3]!.protectedBy, ['pin']);
    for (const v of [1, 2, 3]) assert.equal(await stateOf('keepall', v), 'ready');
  });

  it('deletes versions archived for 90 days with their artifacts', async () => {
    const run = await dryThenReal(new Date(start + 100 * DAY));
    assert.deepEqual(actions(run), [
      'alpha 1 skip',
      'alpha 2 delete',
      'alpha 3 delete',
      'alpha 4 delete',
      'beta 1 skip',
      'beta 2 delete',
    ]);
    for (const [model, v] of [
      ['alpha', 2],
      ['alpha', 3],
      ['alpha', 4],
      ['beta', 2],
    ] as const) {
      assert.equal(await stateOf(model, v), 404);
      const sha = shas.get(`${model} ${v}`)!;
      const file = path.join(server.dataDir, 'artifacts', 'sha256', sha.slice(0, 2), sha);
      assert.equal(existsSync(file), false, `${model} ${v} artifact is removed`);
    }
  });

  it('never touches aliased or pinned versions', async () => {
    assert.equal(await stateOf('alpha', 1), 'ready');
    assert.equal((await infer(server.url, 'alpha', SCALE_INPUT)).status, 200);
    const beta = await call(`${server.url}/api/v1/models/beta/versions/1`);
    assert.equal(beta.body.state, 'ready');
    assert.equal(beta.body.load.pinned, true);
    assert.equal(beta.body.load.loaded, true);
  });

  it('reports a failed step and goes on with the next', async () => {
    for (const scale of [50, 51, 52]) await push(server.url, 'gamma', scaleModel(scale));
    const archive = server.steward.archive;
    const original = archive.archive.bind(archive);
    archive.archive = async (record, request) => {
      if (record.model === 'gamma' && record.version === 1) throw new Error('disk full');
      return original(record, request);
    };
    let run: GcRun;
    try {
      run = await server.steward.gc.run({ dryRun: false, actor: 'admin:test' });
    } finally {
      archive.archive = original;
    }
    const gamma = run.results.filter((r) => r.model === 'gamma');
    assert.deepEqual(
      gamma.map((r) => `${r.version} ${r.action} ${r.outcome}`),
      ['1 archive failed'],
    );
    assert.equal(gamma[0]!.error, 'disk full');
    assert.equal(await stateOf('gamma', 1), 'ready');
  });
});

describe('gc over the API', () => {
  let server: TestServer;
  let policyDir: string;

  before(async () => {
    policyDir = await makeDataDir();
    const policyFile = path.join(policyDir, 'policy.json');
    await fs.writeFile(policyFile, JSON.stringify({ defaults: { keep_newest: 1 } }));
    server = await startTestServer({ policyFile, adminToken: 'gc-token' });
    for (const scale of [1, 2]) {
      await push(server.url, 'm', scaleModel(scale), {}, { authorization: 'Bearer gc-token' });
    }
  });

  after(async () => {
    await server.destroy();
    await fs.rm(policyDir, { recursive: true, force: true });
  });

  it('needs the admin token', async () => {
    const response = await call(`${server.url}/api/v1/gc`, {
      method: 'POST',
      json: { dry_run: true },
    });
    assert.equal(response.status, 401);
  });

  it('requires dry_run as a boolean', async () => {
    for (const json of [{}, { dry_run: 'yes' }]) {
      const response = await call(`${server.url}/api/v1/gc`, {
        method: 'POST',
        headers: { authorization: 'Bearer gc-token' },
        json,
      });
      assert.equal(response.status, 400);
      assert.equal(response.body.field, 'dry_run');
    }
  });

  it('returns a result per version', async () => {
    const response = await call(`${server.url}/api/v1/gc`, {
      method: 'POST',
      headers: { authorization: 'Bearer gc-token' },
      json: { dry_run: true },
    });
    assert.equal(response.status, 200);
    assert.equal(response.body.dry_run, true);
    assert.match(response.body.policy_source, /policy\.json$/);
    assert.deepEqual(response.body.summary, { archive: 1, delete: 0, skip: 0, failed: 0 });
    assert.deepEqual(response.body.results, [
      {
        model: 'm',
        version: 1,
        action: 'archive',
        outcome: 'planned',
        reasons: ['older than the 1 newest versions (keep_newest 1)'],
        protected_by: [],
        error: null,
      },
    ]);
  });

  it('shows the policy in force', async () => {
    const response = await call(`${server.url}/api/v1/policy`);
    assert.equal(response.status, 200);
    assert.deepEqual(response.body.defaults, {
      keep_newest: 1,
      archive_unused_after: null,
      delete_archived_after: null,
    });
    assert.deepEqual(response.body.models, {});
  });
});
