import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { assertClose } from '../support/assert.js';
import { call, infer, push, readJson } from '../support/http.js';
import { example } from '../support/paths.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { runConcurrently, setStaging } from '../support/staging.js';

describe('canary routing', () => {
  let server: TestServer;
  let request: unknown;
  const expected: Record<string, number[]> = {};

  before(async () => {
    server = await startTestServer();
    assert.equal(
      (await push(server.url, 'digits', example('digits-mlp'), { alias: 'production' })).status,
      201,
    );
    assert.equal(
      (await push(server.url, 'digits', example('digits-mlp-v2'), { alias: 'staging' })).status,
      201,
    );
    request = await readJson(example('digits-mlp', 'requests/request.json'));
    expected['1'] = (
      await readJson(example('digits-mlp', 'requests/expected.json'))
    ).outputs[0].data;
    expected['2'] = (
      await readJson(example('digits-mlp-v2', 'requests/expected.json'))
    ).outputs[0].data;
  });

  after(async () => {
    await server.destroy();
  });

  async function usageOf(version: number) {
    const body = (await call(`${server.url}/api/v1/models/digits/versions/${version}`)).body;
    return { live: body.usage.requests as number, shadow: body.shadow_usage.requests as number };
  }

  it('sends close to the canary weight to staging', async () => {
    await setStaging(server.url, 'digits', { canary_percent: 20, shadow_percent: 0 });
    const total = 500;
    const versions = await runConcurrently(total, 8, async () => {
      const response = await infer(server.url, 'digits', request);
      assert.equal(response.status, 200, JSON.stringify(response.body));
      const version = response.body.model_version as string;
      assertClose(response.body.outputs[0].data, expected[version]!, 1e-4, `version ${version}`);
      return version;
    });
    const toStaging = versions.filter((version) => version === '2').length;
    // Binomial(500, 0.2): mean 100, standard deviation about 8.9; 4 sigma is 36.
    assert.ok(Math.abs(toStaging - 100) <= 36, `${toStaging} of ${total} went to staging`);
    assert.equal(versions.filter((version) => version === '1').length, total - toStaging);

    const comparison = (await call(`${server.url}/api/v1/models/digits/comparison`)).body;
    assert.equal(comparison.canary.requests_to_staging, toStaging);
    assert.equal(comparison.canary.requests_to_production, total - toStaging);
    assert.equal(comparison.shadow.mirrored, 0, 'shadow is off');
    assert.equal((await usageOf(2)).live, toStaging);

    const audit = await call(`${server.url}/api/v1/audit?model=digits&action=staging_settings`);
    const [change] = audit.body.entries;
    assert.equal(change.version, null);
    assert.equal(change.actor, 'anonymous');
    assert.equal(change.details.canary_percent, 20);
    assert.equal(change.details.shadow_percent, 0);
    assert.equal(change.details.canary_header, null);
  });

  it('keeps each caller on one version by header', async () => {
    const settings = await setStaging(server.url, 'digits', { canary_header: 'X-Caller' });
    assert.equal(settings.canary_header, 'x-caller');
    const seen = new Map<string, Set<string>>();
    await runConcurrently(180, 6, async (index) => {
      const caller = `caller-${index % 60}`;
      const response = await call(`${server.url}/v2/models/digits/infer`, {
        method: 'POST',
        json: request,
        headers: { 'X-Caller': caller },
      });
      assert.equal(response.status, 200);
      const versions = seen.get(caller) ?? new Set<string>();
      versions.add(response.body.model_version);
      seen.set(caller, versions);
    });
    for (const [caller, versions] of seen) {
      assert.equal(versions.size, 1, `${caller} got versions ${[...versions].join(', ')}`);
    }
    const onStaging = [...seen.values()].filter((versions) => versions.has('2')).length;
    assert.ok(onStaging > 0, 'some callers are on staging');
    assert.ok(onStaging < 60, 'some callers are on production');
  });

  it('does not reroute requests that name a version or alias', async () => {
    await setStaging(server.url, 'digits', { canary_percent: 100, canary_header: null });
    assert.equal((await infer(server.url, 'digits', request)).body.model_version, '2');
    for (const [reference, version] of [
      ['1', '1'],
      ['production', '1'],
      ['2', '2'],
    ]) {
      const response = await infer(server.url, 'digits', request, reference);
      assert.equal(response.body.model_version, version, `request to ${reference}`);
    }
  });

  it('sends nothing to staging at 0%', async () => {
    await setStaging(server.url, 'digits', { canary_percent: 0, shadow_percent: 0 });
    const before = await usageOf(2);
    const versions = await runConcurrently(200, 8, async () => {
      const response = await infer(server.url, 'digits', request);
      assert.equal(response.status, 200);
      return response.body.model_version as string;
    });
    assert.deepEqual(new Set(versions), new Set(['1']));
    assert.deepEqual(await usageOf(2), before);
  });

  it('rejects invalid settings, naming the field', async () => {
    for (const [body, field] of [
      [{ canary_percent: 101 }, 'canary_percent'],
      [{ shadow_percent: '50' }, 'shadow_percent'],
      [{ canary_header: 'not a header' }, 'canary_header'],
      [{ tolerance: -1 }, 'tolerance'],
      [{ weight: 5 }, 'weight'],
    ] as const) {
      const response = await call(`${server.url}/api/v1/models/digits/staging`, {
        method: 'PUT',
        json: body,
      });
      assert.equal(response.status, 400, JSON.stringify(body));
      assert.equal(response.body.code, 'INVALID_ARGUMENT');
      assert.equal(response.body.field, field);
    }
    const overflow = await call(`${server.url}/api/v1/models/digits/staging`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: '{"shadow_percent": 1e400}',
    });
    assert.equal(overflow.status, 400, JSON.stringify(overflow.body));
    assert.equal(overflow.body.field, 'shadow_percent');
    assert.match(overflow.body.error, /from 0 to 100, such as 20; received Infinity$/);
    const missing = await call(`${server.url}/api/v1/models/nothing/staging`, {
      method: 'PUT',
      json: { canary_percent: 5 },
    });
    assert.equal(missing.status, 404);
  });
});
