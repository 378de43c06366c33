import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { call, infer, push, readJson } from '../support/http.js';
import { example } from '../support/paths.js';
import { startTestServer, type TestServer } from '../support/server.js';
import {
  argmaxRows,
  randomDigitsRequests,
  runConcurrently,
  setStaging,
  settled,
  waitForComparison,
} from '../support/staging.js';

interface RawResponse {
  readonly status: number;
  readonly contentType: string | null;
  readonly bytes: Buffer;
}

async function postRaw(url: string, body: unknown): Promise<RawResponse> {
  const response = await fetch(`${url}/v2/models/digits/infer`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return {
    status: response.status,
    contentType: response.headers.get('content-type'),
    bytes: Buffer.from(await response.arrayBuffer()),
  };
}

/** Returns the top-1 class of each row from one version, by naming it in the request. */
async function classesOf(url: string, body: object, version: string): Promise<number[]> {
  // JSON outputs, whatever the request asked for, so the logits can be read here.
  const response = await infer(url, 'digits', { ...body, parameters: undefined }, version);
  assert.equal(response.status, 200, JSON.stringify(response.body));
  return argmaxRows(response.body.outputs[0].data, 10);
}

describe('shadow traffic', () => {
  let server: TestServer;
  let bodies: object[];

  before(async () => {
    // The queue has room for every request of the load below, so none is dropped.
    server = await startTestServer({ shadowQueueSize: 100_000 });
    const v1 = await push(server.url, 'digits', example('digits-mlp'), { alias: 'production' });
    assert.equal(v1.status, 201, JSON.stringify(v1.body));
    const v2 = await push(server.url, 'digits', example('digits-mlp-v2'), { alias: 'staging' });
    assert.equal(v2.status, 201, JSON.stringify(v2.body));
    const sample = await readJson(example('digits-mlp', 'requests/request.json'));
    bodies = [
      sample,
      { ...sample, parameters: { binary_data_output: true } },
      ...randomDigitsRequests(14, 7),
    ];
  });

  after(async () => {
    await server.destroy();
  });

  it('answers clients byte for byte as production alone', async () => {
    await setStaging(server.url, 'digits', { shadow_percent: 0 });
    const baseline: RawResponse[] = [];
    for (const body of bodies) baseline.push(await postRaw(server.url, body));
    const quiet = (await call(`${server.url}/api/v1/models/digits/comparison`)).body;
    assert.equal(quiet.shadow.mirrored, 0, 'shadow_percent 0 mirrors nothing');

    // What the comparison should find, from each version run on its own.
    let agreeing = 0;
    let rows = 0;
    let rowsAgreeing = 0;
    const total = 320;
    const perBody: Array<{ rows: number; same: number }> = [];
    for (const body of bodies) {
      const production = await classesOf(server.url, body, '1');
      const staging = await classesOf(server.url, body, '2');
      const same = production.filter((label, row) => label === staging[row]).length;
      perBody.push({ rows: production.length, same });
    }
    for (let index = 0; index < total; index += 1) {
      const expected = perBody[index % bodies.length]!;
      rows += expected.rows;
      rowsAgreeing += expected.same;
      if (expected.same === expected.rows) agreeing += 1;
    }

    // Clearing the override returns to the default of 100%.
    const settings = await setStaging(server.url, 'digits', { shadow_percent: null });
    assert.equal(settings.shadow_percent, 100);
    const responses = await runConcurrently(total, 8, (index) =>
      postRaw(server.url, bodies[index % bodies.length]),
    );
    for (const [index, response] of responses.entries()) {
      const expected = baseline[index % bodies.length]!;
      assert.equal(response.status, 200, `request ${index}`);
      assert.equal(response.contentType, expected.contentType, `request ${index} content type`);
      assert.ok(
        response.bytes.equals(expected.bytes),
        `request ${index} differs from production alone`,
      );
    }

    const comparison = await waitForComparison(server.url, 'digits', settled(total));
    assert.equal(comparison.production_version, 1);
    assert.equal(comparison.staging_version, 2);
    assert.equal(comparison.shadow.compared, total);
    assert.equal(comparison.shadow.errors, 0);
    for (const [reason, count] of Object.entries(comparison.shadow.dropped)) {
      assert.equal(count, 0, `dropped for ${reason}`);
    }
    assert.equal(comparison.agreement.requests, total);
    assert.equal(comparison.agreement.agreeing, agreeing);
    assert.equal(comparison.agreement.rows, rows);
    assert.equal(comparison.agreement.rows_agreeing, rowsAgreeing);
    assert.ok(agreeing < total, 'the random rows include disagreements');
    assert.match(
      comparison.summary,
      new RegExp(
        `^staging v2 agrees with production v1 on \\d+\\.\\d% of ${total} requests; p95 latency \\d+\\.\\dx$`,
      ),
    );
    const [logits] = comparison.outputs;
    assert.equal(logits.name, 'logits');
    assert.equal(logits.kind, 'scores');
    assert.ok(logits.max_abs_diff > 0);
    assert.ok(comparison.latency_ms.production.p95 > 0);
    assert.ok(comparison.latency_ms.staging.p95 > 0);

    assert.ok(comparison.disagreements.length > 0);
    assert.ok(comparison.disagreements.length <= 20);
    for (const sample of comparison.disagreements) {
      assert.equal(sample.inputs[0].name, 'pixels');
      const production = argmaxRows(sample.production[0].data, 10);
      const staging = argmaxRows(sample.staging[0].data, 10);
      assert.notDeepEqual(production, staging, 'a kept sample disagrees on a top-1 class');
    }
  });

  it('counts shadow runs apart from live usage', async () => {
    const v2 = (await call(`${server.url}/api/v1/models/digits/versions/2`)).body;
    assert.equal(v2.shadow_usage.requests, 320);
    assert.equal(v2.shadow_usage.errors, 0);
    assert.equal(v2.usage.requests, bodies.length, 'only the requests named to version 2');
    const v1 = (await call(`${server.url}/api/v1/models/digits/versions/1`)).body;
    assert.equal(v1.shadow_usage.requests, 0);
    const model = (await call(`${server.url}/api/v1/models/digits`)).body;
    assert.equal(model.staging.staging_version, 2);
    assert.equal(model.staging.comparison.shadow.compared, 320);
    assert.equal(model.staging.comparison.disagreements, undefined, 'samples only in /comparison');
  });

  it('keeps the totals across a restart', async () => {
    await server.stop();
    server = await startTestServer({ dataDir: server.dataDir, shadowQueueSize: 100_000 });
    const comparison = (await call(`${server.url}/api/v1/models/digits/comparison`)).body;
    assert.equal(comparison.shadow.compared, 320);
    assert.equal(comparison.shadow.mirrored, 320);
    assert.deepEqual(comparison.disagreements, [], 'samples are kept in memory only');
    const v2 = (await call(`${server.url}/api/v1/models/digits/versions/2`)).body;
    assert.equal(v2.shadow_usage.requests, 320);
  });

  it('does not mirror requests that name a version', async () => {
    for (const version of ['1', '2', 'staging']) {
      assert.equal((await infer(server.url, 'digits', bodies[0], version)).status, 200);
    }
    const comparison = (await call(`${server.url}/api/v1/models/digits/comparison`)).body;
    assert.equal(comparison.shadow.mirrored, 320);
    assert.equal((await infer(server.url, 'digits', bodies[0], 'production')).status, 200);
    await waitForComparison(server.url, 'digits', settled(321));
  });

  it('starts over when staging moves, and drops requests it cannot take', async () => {
    // The CNN takes images of shape [batch, 1, 8, 8], not production's [batch, 64].
    const cnn = await push(server.url, 'digits', example('digits-cnn'));
    assert.equal(cnn.body.version, 3);
    const moved = await call(`${server.url}/api/v1/models/digits/aliases/staging`, {
      method: 'PUT',
      json: { version: 3 },
    });
    assert.equal(moved.status, 200, JSON.stringify(moved.body));
    const fresh = (await call(`${server.url}/api/v1/models/digits/comparison`)).body;
    assert.equal(fresh.staging_version, 3);
    assert.equal(fresh.shadow.mirrored, 0);

    for (let index = 0; index < 5; index += 1) {
      assert.equal((await infer(server.url, 'digits', bodies[0])).status, 200);
    }
    const comparison = await waitForComparison(server.url, 'digits', settled(5));
    assert.equal(comparison.shadow.dropped.incompatible, 5);
    assert.equal(comparison.shadow.compared, 0);
    assert.match(
      comparison.summary,
      /has no compared requests yet against production v1; 5 shadow requests dropped/,
    );
  });

  it('reports an inactive comparison without a staging alias', async () => {
    const removed = await call(`${server.url}/api/v1/models/digits/aliases/staging`, {
      method: 'DELETE',
    });
    assert.equal(removed.status, 200);
    const comparison = (await call(`${server.url}/api/v1/models/digits/comparison`)).body;
    assert.equal(comparison.active, false);
    assert.equal(comparison.staging_version, null);
    assert.match(comparison.summary, /has no staging alias/);
    const missing = await call(`${server.url}/api/v1/models/nothing/comparison`);
    assert.equal(missing.status, 404);
    assert.equal(missing.body.code, 'MODEL_NOT_FOUND');
  });
});

describe('disagreement samples with an admin token', () => {
  let server: TestServer;
  const admin = { authorization: 'Bearer sample-secret' };

  before(async () => {
    server = await startTestServer({ adminToken: 'sample-secret' });
    for (const [file, alias] of [
      ['digits-mlp', 'production'],
      ['digits-mlp-v2', 'staging'],
    ] as const) {
      const response = await push(server.url, 'digits', example(file), { alias }, admin);
      assert.equal(response.status, 201, JSON.stringify(response.body));
    }
  });

  after(async () => {
    await server.destroy();
  });

  it('shows samples only with the token', async () => {
    for (const body of randomDigitsRequests(14, 7)) {
      assert.equal((await infer(server.url, 'digits', body)).status, 200);
    }
    await waitForComparison(server.url, 'digits', settled(14));
    const anonymous = (await call(`${server.url}/api/v1/models/digits/comparison`)).body;
    assert.equal(anonymous.shadow.compared, 14);
    assert.equal(anonymous.disagreements, null);
    const withToken = await call(`${server.url}/api/v1/models/digits/comparison`, {
      headers: admin,
    });
    assert.ok(withToken.body.disagreements.length > 0);
    const settings = await call(`${server.url}/api/v1/models/digits/staging`, {
      method: 'PUT',
      json: { canary_percent: 5 },
    });
    assert.equal(settings.status, 401, 'changing settings needs the token');
  });
});
