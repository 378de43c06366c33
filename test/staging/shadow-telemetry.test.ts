import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import SqliteDatabase from 'better-sqlite3';
import { call, infer, push } from '../support/http.js';
import { identityModel, logModel } from '../support/onnx-builder.js';
import { runCli } from '../support/process.js';
import { parsePrometheus, sampleValue } from '../support/prometheus.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { settled, waitForComparison } from '../support/staging.js';

const REQUESTS = 12;

const SHADOW_TABLES = [
  'shadow_usage',
  'shadow_latency_buckets',
  'shadow_stage_timings',
  'shadow_violation_counts',
] as const;

/** Negative inputs: production (identity) returns them, staging (log) returns NaN. */
function negative(index: number) {
  return { inputs: [{ name: 'x', datatype: 'FP32', shape: [2], data: [-1 - index, -2] }] };
}

/** Counts the rows of a version in each shadow usage table of the registry. */
function shadowRows(dataDir: string, version: number): Record<string, number> {
  const database = new SqliteDatabase(path.join(dataDir, 'registry.sqlite'), { readonly: true });
  try {
    const counts: Record<string, number> = {};
    for (const table of SHADOW_TABLES) {
      const row = database
        .prepare(`select count(*) as count from ${table} where model_name = ? and version = ?`)
        .get('nan', version) as { count: number };
      counts[table] = row.count;
    }
    return counts;
  } finally {
    database.close();
  }
}

/**
 * A staging version whose outputs break an output check on every shadow run: the shadow usage
 * counts them like live usage would, and nothing of the live telemetry does.
 */
describe('shadow runs and live telemetry', () => {
  let server: TestServer;
  let bytesIn = 0;

  before(async () => {
    server = await startTestServer({ shadowQueueSize: 1000 });
    const production = await push(server.url, 'nan', identityModel('FP32'), {
      alias: 'production',
    });
    assert.equal(production.status, 201, JSON.stringify(production.body));
    const staging = await push(server.url, 'nan', logModel(), { alias: 'staging' });
    assert.equal(staging.status, 201, JSON.stringify(staging.body));
    for (let index = 0; index < REQUESTS; index += 1) {
      const body = negative(index);
      bytesIn += Buffer.byteLength(JSON.stringify(body));
      const response = await infer(server.url, 'nan', body);
      assert.equal(response.status, 200, JSON.stringify(response.body));
      assert.deepEqual(response.body.outputs[0].data, [-1 - index, -2]);
    }
    await waitForComparison(server.url, 'nan', settled(REQUESTS));
  });

  after(async () => {
    await server.destroy();
  });

  it('gives shadow usage the figures of live usage', async () => {
    const staging = (await call(`${server.url}/api/v1/models/nan/versions/2`)).body;
    const shadow = staging.shadow_usage;
    assert.equal(shadow.requests, REQUESTS);
    assert.equal(shadow.successes, REQUESTS);
    assert.deepEqual(shadow.failures, {
      bad_request: 0,
      model_error: 0,
      timeout: 0,
      unavailable: 0,
    });
    assert.equal(shadow.in_flight, 0);
    assert.equal(shadow.bytes_in, bytesIn);
    assert.equal(shadow.bytes_out, 0);
    assert.ok(shadow.latency_ms.p95 > 0, JSON.stringify(shadow.latency_ms));
    assert.equal(shadow.window.requests, REQUESTS);
    assert.equal(shadow.window.invalid_responses, REQUESTS);
    assert.equal(shadow.invalid_responses, REQUESTS);
    assert.equal(shadow.violations.nan, REQUESTS);
  });

  it('keeps shadow runs out of live usage and health', async () => {
    const staging = (await call(`${server.url}/api/v1/models/nan/versions/2`)).body;
    assert.equal(staging.usage.requests, 0);
    assert.equal(staging.usage.window.requests, 0);
    assert.equal(staging.validity.invalid_responses, 0);
    assert.equal(staging.status, 'never used');

    const violations = (await call(`${server.url}/api/v1/models/nan/versions/2/violations`)).body;
    assert.equal(violations.invalid_responses, 0);
    assert.equal(violations.violations.nan, 0);
    assert.deepEqual(violations.samples, []);

    const production = (await call(`${server.url}/api/v1/models/nan/versions/1`)).body;
    assert.equal(production.usage.requests, REQUESTS);
    assert.equal(production.shadow_usage.requests, 0);
    assert.equal(production.status, 'healthy');
  });

  it('exports shadow runs apart from the live metrics', async () => {
    const response = await fetch(`${server.url}/metrics`);
    const families = parsePrometheus(await response.text());
    const staging = { model: 'nan', version: '2' };
    const live = (name: string, labels: Record<string, string> = {}) =>
      sampleValue(families, name, { ...staging, ...labels });
    assert.equal(live('steward_inference_requests_total', { outcome: 'success' }), 0);
    assert.equal(live('steward_output_violations_total', { kind: 'nan' }), 0);
    assert.equal(live('steward_inference_invalid_responses_total'), 0);
    assert.equal(live('steward_shadow_requests_total', { outcome: 'success' }), REQUESTS);
    assert.equal(
      sampleValue(families, 'steward_shadow_requests_total', {
        model: 'nan',
        version: '1',
        outcome: 'success',
      }),
      0,
    );
  });

  it('reports the comparison and not the shadow usage in the fleet report', async () => {
    const report = (await call(`${server.url}/api/v1/report`)).body;
    assert.deepEqual(report.staging, [
      {
        model: 'nan',
        production_version: 1,
        staging_version: 2,
        active: true,
        compared_requests: REQUESTS,
        agreement_percent: 0,
        p95_latency_ratio: report.staging[0].p95_latency_ratio,
        shadow_percent: 100,
        canary_percent: 0,
        summary: report.staging[0].summary,
      },
    ]);
    assert.equal(typeof report.staging[0].p95_latency_ratio, 'number');
    assert.match(
      report.staging[0].summary,
      new RegExp(`^staging v2 agrees with production v1 on 0\\.0% of ${REQUESTS} requests`),
    );
    // The staging version has no live traffic, but shadow runs reach it: it is not unused,
    // and its NaN outputs in shadow runs are no finding.
    const aboutStaging = report.findings.filter(
      (finding: { model: string; version: number }) =>
        finding.model === 'nan' && finding.version === 2,
    );
    assert.deepEqual(aboutStaging, []);

    const cli = await runCli(['--url', server.url, 'report']);
    assert.equal(cli.code, 0, cli.stderr);
    assert.ok(
      cli.stdout.includes(`staging: nan: ${report.staging[0].summary}; canary 0%\n`),
      cli.stdout,
    );
  });

  it('stores shadow usage in its own tables across a restart', async () => {
    await server.stop();
    const rows = shadowRows(server.dataDir, 2);
    assert.equal(rows.shadow_usage, 1);
    assert.ok(rows.shadow_latency_buckets! >= 1, 'one row per latency bucket used');
    assert.equal(rows.shadow_stage_timings, 5, 'success and the four stages');
    assert.equal(rows.shadow_violation_counts, 1, 'nan only');
    assert.deepEqual(shadowRows(server.dataDir, 1), {
      shadow_usage: 0,
      shadow_latency_buckets: 0,
      shadow_stage_timings: 0,
      shadow_violation_counts: 0,
    });
    server = await startTestServer({ dataDir: server.dataDir });
    const staging = (await call(`${server.url}/api/v1/models/nan/versions/2`)).body;
    assert.equal(staging.shadow_usage.requests, REQUESTS);
    assert.equal(staging.shadow_usage.violations.nan, REQUESTS);
    assert.ok(staging.shadow_usage.latency_ms.p95 > 0);
    assert.equal(staging.shadow_usage.window.requests, 0, 'the window is kept in memory only');
    assert.equal(staging.usage.requests, 0);
  });

  it('deletes the shadow usage with its version', async () => {
    const removed = await call(`${server.url}/api/v1/models/nan/aliases/staging`, {
      method: 'DELETE',
    });
    assert.equal(removed.status, 200, JSON.stringify(removed.body));
    const deleted = await call(`${server.url}/api/v1/models/nan/versions/2`, {
      method: 'DELETE',
    });
    assert.equal(deleted.status, 200, JSON.stringify(deleted.body));
    assert.deepEqual(shadowRows(server.dataDir, 2), {
      shadow_usage: 0,
      shadow_latency_buckets: 0,
      shadow_stage_timings: 0,
      shadow_violation_counts: 0,
    });
  });
});
