import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import SqliteDatabase from 'better-sqlite3';
import { call, infer, push } from '../support/http.js';
import { buildModel, logModel, scaleModel, slowRunModel } from '../support/onnx-builder.js';
import { runCli } from '../support/process.js';
import { startTestServer, type TestServer } from '../support/server.js';

const DAY_MS = 86_400_000;

function scaleInput(value = 1) {
  return {
    inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4], data: [value, value, value, value] }],
  };
}

/** y = Identity(x * 5): different bytes from scaleModel(5), same outputs. */
function scaleByFiveAgain(): Buffer {
  return buildModel({
    inputs: [{ name: 'x', type: 'FP32', shape: ['n', 4] }],
    outputs: [{ name: 'y', type: 'FP32', shape: ['n', 4] }],
    initializers: [{ name: 'scale', type: 'FP32', dims: [], values: Float32Array.of(5) }],
    nodes: [
      { op: 'Mul', inputs: ['x', 'scale'], outputs: ['scaled'] },
      { op: 'Identity', inputs: ['scaled'], outputs: ['y'] },
    ],
  });
}

function probesFor(expected: number[]) {
  return {
    probes: [
      {
        name: 'ones',
        request: scaleInput(1),
        expected: { outputs: [{ name: 'y', data: expected }] },
      },
    ],
  };
}

/** Rewrites when a version was last used, as a fleet with a history would have it. */
function setLastUsed(dataDir: string, model: string, version: number, daysAgo: number): void {
  const database = new SqliteDatabase(path.join(dataDir, 'registry.sqlite'));
  try {
    const at = new Date(Date.now() - daysAgo * DAY_MS).toISOString();
    const changed = database
      .prepare(
        'update version_usage set last_used_at = ?, first_used_at = ? where model_name = ? and version = ?',
      )
      .run(at, at, model, version);
    assert.equal(changed.changes, 1, `${model} version ${version} has no usage row`);
  } finally {
    database.close();
  }
}

/**
 * A fleet with known truth: 30 versions across 11 models, of which two are outdated, one has
 * the bytes of another, one has another's outputs on its probes, two were never used, one has
 * been idle for 40 days, one fails its probe, one returns NaN, and one is slow. Everything
 * else is used recently and healthy.
 */
describe('fleet report on a synthetic fleet', () => {
  let server: TestServer;
  let dataDir: string;

  before(async () => {
    const first = await startTestServer({ probeIntervalMs: 0 });
    dataDir = first.dataDir;
    let scale = 100;
    const upload = async (model: string, file: Buffer, alias?: string) => {
      const response = await push(first.url, model, file, alias ? { alias } : {});
      assert.equal(response.status, 201, `${model}: ${JSON.stringify(response.body)}`);
      return response.body.version as number;
    };
    const use = async (model: string, version: number, body: unknown = scaleInput()) => {
      const response = await infer(first.url, model, body, String(version));
      assert.equal(response.status, 200, `${model} v${version}: ${JSON.stringify(response.body)}`);
    };
    try {
      // Outdated: versions 1 and 2 of m-outdated were used, then version 3 took production.
      for (let v = 1; v <= 3; v += 1) await upload('m-outdated', scaleModel(scale++));
      for (let v = 1; v <= 3; v += 1) await use('m-outdated', v);
      await call(`${first.url}/api/v1/models/m-outdated/aliases/production`, {
        method: 'PUT',
        json: { version: 3 },
      });

      // Redundant bytes: m-copy version 1 is the same file as m-shared version 1.
      const shared = scaleModel(scale++);
      await upload('m-shared', shared, 'production');
      for (let v = 2; v <= 4; v += 1) await upload('m-shared', scaleModel(scale++));
      await upload('m-copy', shared);
      for (let v = 1; v <= 4; v += 1) await use('m-shared', v);
      await use('m-copy', 1);

      // Unused: m-new versions 2 and 3 were never used.
      await upload('m-new', scaleModel(scale++), 'production');
      await upload('m-new', scaleModel(scale++));
      await upload('m-new', scaleModel(scale++));
      await use('m-new', 1);

      // Failing: m-probe's probe expects outputs the model does not give.
      await upload('m-probe', scaleModel(2), 'production');
      await call(`${first.url}/api/v1/models/m-probe/versions/1/probes`, {
        method: 'PUT',
        json: probesFor([9, 9, 9, 9]),
      });
      await use('m-probe', 1);

      // Redundant outputs: m-twin gives m-five's outputs from different bytes.
      await upload('m-five', scaleModel(5), 'production');
      await upload('m-twin', scaleByFiveAgain(), 'production');
      for (const model of ['m-five', 'm-twin']) {
        await call(`${first.url}/api/v1/models/${model}/versions/1/probes`, {
          method: 'PUT',
          json: probesFor([5, 5, 5, 5]),
        });
        await use(model, 1);
      }

      // Invalid outputs and slow: both get their traffic after the restart below.
      await upload('m-nan', logModel(), 'production');
      await upload('m-slow', slowRunModel(512, 24), 'production');
      await call(`${first.url}/api/v1/models/m-slow/health-thresholds`, {
        method: 'PUT',
        json: { max_p95_ms: 2, min_requests: 5 },
      });

      // Healthy: m-steady has six versions in use, m-busy eight.
      for (let v = 1; v <= 6; v += 1) await upload('m-steady', scaleModel(scale++));
      await call(`${first.url}/api/v1/models/m-steady/aliases/production`, {
        method: 'PUT',
        json: { version: 6 },
      });
      for (let v = 1; v <= 6; v += 1) await use('m-steady', v);
      for (let v = 1; v <= 8; v += 1) await upload('m-busy', scaleModel(scale++));
      for (let v = 1; v <= 8; v += 1) await use('m-busy', v);
    } finally {
      await first.stop();
    }

    setLastUsed(dataDir, 'm-outdated', 1, 20);
    setLastUsed(dataDir, 'm-outdated', 2, 12);
    setLastUsed(dataDir, 'm-shared', 4, 40);

    server = await startTestServer({ dataDir, probeIntervalMs: 0 });
    for (const model of ['m-probe', 'm-five', 'm-twin']) {
      const run = await call(`${server.url}/api/v1/models/${model}/versions/1/probes/run`, {
        method: 'POST',
      });
      assert.equal(run.status, 200, JSON.stringify(run.body));
    }
    for (let i = 0; i < 12; i += 1) {
      const response = await infer(server.url, 'm-nan', {
        inputs: [{ name: 'x', datatype: 'FP32', shape: [2], data: [-1, 1] }],
      });
      assert.equal(response.status, 200);
    }
    for (let i = 0; i < 6; i += 1) {
      const response = await infer(server.url, 'm-slow', {
        inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 1], data: [1] }],
      });
      assert.equal(response.status, 200);
    }
  });

  after(async () => {
    await server.stop();
    await fs.rm(dataDir, { recursive: true, force: true });
  });

  it('counts the fleet', async () => {
    const report = (await call(`${server.url}/api/v1/report`)).body;
    assert.equal(report.totals.models, 11);
    assert.equal(report.totals.versions, 30);
    assert.equal(report.totals.archived_versions, 0);
    assert.ok(report.totals.loaded_versions >= 5);
    assert.ok(report.totals.memory_used_bytes > 0);
    assert.ok(report.totals.disk_used_bytes > 0);
    assert.deepEqual(report.rules, { outdated_days: 7, idle_days: 30 });
  });

  it('finds every planted problem and nothing else', async () => {
    const report = (await call(`${server.url}/api/v1/report`)).body;
    const found = report.findings.map(
      (f: { kind: string; model: string; version: number }) => `${f.kind} ${f.model} ${f.version}`,
    );
    assert.deepEqual(found.sort(), [
      'failing m-probe 1',
      'invalid_outputs m-nan 1',
      'outdated m-outdated 1',
      'outdated m-outdated 2',
      'redundant m-copy 1',
      'redundant m-twin 1',
      'slow m-slow 1',
      'unused m-new 2',
      'unused m-new 3',
      'unused m-shared 4',
    ]);
    assert.deepEqual(report.counts, {
      failing: 1,
      invalid_outputs: 1,
      slow: 1,
      outdated: 2,
      redundant: 2,
      unused: 3,
    });
  });

  it('gives each finding its reason and an action', async () => {
    const report = (await call(`${server.url}/api/v1/report`)).body;
    const reason = (kind: string, model: string, version: number) =>
      report.findings.find(
        (f: { kind: string; model: string; version: number }) =>
          f.kind === kind && f.model === model && f.version === version,
      );
    assert.match(
      reason('outdated', 'm-outdated', 1).reason,
      /newer version 3 holds production, and this version has had no traffic for 20 days/,
    );
    assert.match(reason('outdated', 'm-outdated', 2).reason, /no traffic for 12 days/);
    assert.match(
      reason('redundant', 'm-copy', 1).reason,
      /same bytes \(sha256 [0-9a-f]{12}\) as m-shared version 1/,
    );
    assert.match(
      reason('redundant', 'm-twin', 1).reason,
      /outputs identical to m-five version 1 on its 1 probe/,
    );
    assert.match(
      reason('unused', 'm-new', 2).reason,
      /never used since its upload less than a day ago/,
    );
    assert.match(reason('unused', 'm-shared', 4).reason, /idle for 40 days/);
    assert.match(reason('failing', 'm-probe', 1).reason, /probe/);
    assert.match(reason('failing', 'm-probe', 1).action, /move production back to a good version/);
    assert.match(
      reason('invalid_outputs', 'm-nan', 1).reason,
      /12 of 12 responses .* broke an output check/,
    );
    assert.match(reason('slow', 'm-slow', 1).reason, /p95/);
    for (const finding of report.findings)
      assert.ok(finding.action.length > 10, JSON.stringify(finding));
  });

  it('prints the report as a table and as JSON', async () => {
    const table = await runCli(['--url', server.url, 'report']);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^11 models, 30 versions \(0 archived\)/);
    assert.match(
      table.stdout,
      /findings: 1 failing, 1 invalid outputs, 1 slow, 2 outdated, 2 redundant, 3 unused/,
    );
    assert.match(table.stdout, /FINDING\s+MODEL\s+VERSION\s+REASON\s+RECOMMENDED ACTION/);
    assert.match(table.stdout, /outdated\s+m-outdated\s+1\s+newer version 3 holds production/);
    const json = await runCli(['--url', server.url, 'report', '--json']);
    assert.equal(JSON.parse(json.stdout).findings.length, 10);
  });
});
