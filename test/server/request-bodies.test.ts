import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { call, push } from '../support/http.js';
import { scaleModel } from '../support/onnx-builder.js';
import { startTestServer, type TestServer } from '../support/server.js';

/** Sends `body` exactly as given, with the given Content-Type. */
function send(url: string, method: string, body: string, type = 'application/json') {
  return call(url, { method, headers: { 'content-type': type }, body });
}

describe('management request bodies', () => {
  let server: TestServer;
  let model: string;

  before(async () => {
    server = await startTestServer();
    const upload = await push(server.url, 'scaled', scaleModel(2), { alias: 'production' });
    assert.equal(upload.status, 201, JSON.stringify(upload.body));
    model = `${server.url}/api/v1/models/scaled`;
    const described = await call(model, { method: 'PATCH', json: { description: 'kept' } });
    assert.equal(described.status, 200, JSON.stringify(described.body));
  });

  after(async () => {
    await server.destroy();
  });

  it('PATCH rejects a body that is not an object', async () => {
    const cases: Array<[string, string]> = [
      ['[1]', 'an array'],
      ['"str"', 'a string'],
      ['null', 'null'],
      ['5', 'a number'],
    ];
    for (const [body, received] of cases) {
      const response = await send(model, 'PATCH', body);
      assert.equal(response.status, 400, `${body}: ${JSON.stringify(response.body)}`);
      assert.equal(response.body.code, 'INVALID_ARGUMENT');
      assert.equal(response.body.field, 'body');
      assert.equal(
        response.body.error,
        `the request body must be a JSON object with the fields description, labels; received ${received}`,
      );
    }
    const current = await call(model);
    assert.equal(current.body.description, 'kept');
  });

  it('PATCH rejects an unknown field', async () => {
    const response = await call(model, { method: 'PATCH', json: { descripton: 'typo' } });
    assert.equal(response.status, 400, JSON.stringify(response.body));
    assert.equal(response.body.field, 'descripton');
    assert.equal(
      response.body.error,
      'unknown field "descripton"; the fields are description, labels',
    );
    const current = await call(model);
    assert.equal(current.body.description, 'kept');
  });

  it('PATCH rejects a text/plain body', async () => {
    const response = await send(model, 'PATCH', '{"description": "x"}', 'text/plain');
    assert.equal(response.status, 415, JSON.stringify(response.body));
    assert.equal(response.body.code, 'UNSUPPORTED_MEDIA_TYPE');
    assert.equal(response.body.field, 'content-type');
    assert.equal(
      response.body.error,
      'Content-Type "text/plain" is not accepted; send the body as JSON with Content-Type ' +
        'application/json, or send no body',
    );
    const current = await call(model);
    assert.equal(current.body.description, 'kept');
  });

  it('staging rejects a null body', async () => {
    const response = await send(`${model}/staging`, 'PUT', 'null');
    assert.equal(response.status, 400, JSON.stringify(response.body));
    assert.equal(response.body.field, 'body');
    assert.match(response.body.error, /must be a JSON object with the fields shadow_percent, /);
    assert.match(response.body.error, /; received null$/);
  });

  it('alias rejects a reason that is not text', async () => {
    const response = await call(`${model}/aliases/staging`, {
      method: 'PUT',
      json: { version: 1, reason: 5 },
    });
    assert.equal(response.status, 400, JSON.stringify(response.body));
    assert.equal(response.body.code, 'INVALID_ARGUMENT');
    assert.equal(response.body.field, 'reason');
    assert.match(response.body.error, /^reason must be a single text of at most 1000 characters/);
    const current = await call(model);
    assert.equal(current.body.aliases.staging, undefined);
  });

  it('repository load rejects parameters that are not an object', async () => {
    const load = `${server.url}/v2/repository/models/scaled/load`;
    const response = await call(load, { method: 'POST', json: { parameters: 'x' } });
    assert.equal(response.status, 400, JSON.stringify(response.body));
    assert.deepEqual(Object.keys(response.body), ['error']);
    assert.match(
      response.body.error,
      /^parameters must be a JSON object, such as \{"version": "2"\}/,
    );
    const array = await send(load, 'POST', '[]');
    assert.equal(array.status, 400, JSON.stringify(array.body));
    assert.match(
      array.body.error,
      /the request body must be a JSON object with the fields parameters/,
    );
    const loaded = await call(load, { method: 'POST', json: { parameters: { version: '1' } } });
    assert.equal(loaded.status, 200, JSON.stringify(loaded.body));
  });

  it('repository index names the content type to send', async () => {
    // curl -d sends application/x-www-form-urlencoded unless -H sets another type.
    const response = await send(
      `${server.url}/v2/repository/index`,
      'POST',
      'ready=true',
      'application/x-www-form-urlencoded',
    );
    assert.equal(response.status, 415, JSON.stringify(response.body));
    assert.deepEqual(Object.keys(response.body), ['error']);
    assert.match(
      response.body.error,
      /^Content-Type "application\/x-www-form-urlencoded" is not accepted; send the body as JSON with Content-Type application\/json, or send no body$/,
    );
  });

  it('repository index rejects a ready that is not a boolean', async () => {
    const index = `${server.url}/v2/repository/index`;
    const response = await call(index, { method: 'POST', json: { ready: 'yes' } });
    assert.equal(response.status, 400, JSON.stringify(response.body));
    assert.match(response.body.error, /^ready must be true or false; received "yes"/);
    const ready = await call(index, { method: 'POST', json: { ready: true } });
    assert.equal(ready.status, 200, JSON.stringify(ready.body));
  });
});
