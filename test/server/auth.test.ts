import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { checkExposure } from '../../src/cli/serve.js';
import { resolveConfig } from '../../src/config/config.js';
import { call, infer, push, readJson } from '../support/http.js';
import { example } from '../support/paths.js';
import { startTestServer, type TestServer } from '../support/server.js';

const TOKEN = 'test-admin-token-4711';

describe('admin token', () => {
  let server: TestServer;

  before(async () => {
    server = await startTestServer({ adminToken: TOKEN });
  });

  after(async () => {
    await server.destroy();
  });

  it('rejects an upload without the token', async () => {
    const response = await push(server.url, 'digits', example('digits-mlp'));
    assert.equal(response.status, 401);
    assert.equal(response.body.code, 'UNAUTHORIZED');
    assert.match(response.body.error, /Authorization: Bearer <token>/);
    const listing = await call(`${server.url}/api/v1/models`);
    assert.deepEqual(listing.body.models, []);
  });

  it('rejects an upload with a wrong token', async () => {
    const response = await push(
      server.url,
      'digits',
      example('digits-mlp'),
      {},
      { authorization: `Bearer ${TOKEN}x` },
    );
    assert.equal(response.status, 401);
  });

  it('accepts an upload with the token', async () => {
    const response = await push(
      server.url,
      'digits',
      example('digits-mlp'),
      {},
      { authorization: `Bearer ${TOKEN}` },
    );
    assert.equal(response.status, 201);
  });

  it('leaves reads and inference open', async () => {
    assert.equal((await call(`${server.url}/api/v1/models`)).status, 200);
    const request = await readJson(example('digits-mlp', 'requests/request.json'));
    assert.equal((await infer(server.url, 'digits', request)).status, 200);
  });
});

describe('bind address check', () => {
  it('refuses a public address without a token', () => {
    const config = resolveConfig({ host: '0.0.0.0' }, {});
    assert.throws(
      () => checkExposure(config),
      /refusing to listen on 0\.0\.0\.0 without an admin token/,
    );
  });

  it('allows a public address with a token or --insecure', () => {
    assert.doesNotThrow(() =>
      checkExposure(resolveConfig({ host: '0.0.0.0', adminToken: 't' }, {})),
    );
    assert.doesNotThrow(() =>
      checkExposure(resolveConfig({ host: '0.0.0.0', insecure: true }, {})),
    );
  });

  it('allows loopback addresses without a token', () => {
    for (const host of ['127.0.0.1', '127.0.0.2', 'localhost', '::1']) {
      assert.doesNotThrow(() => checkExposure(resolveConfig({ host }, {})), host);
    }
  });
});
