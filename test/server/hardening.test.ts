import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { call, infer, push } from '../support/http.js';
import { identityModel, largeModel, scaleModel, slowLoadModel } from '../support/onnx-builder.js';
import { startTestServer, type TestServer } from '../support/server.js';

const SCALE_INPUT = {
  inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4], data: [1, 2, 3, 4] }],
};

async function artifactFiles(dataDir: string): Promise<string[]> {
  const root = path.join(dataDir, 'artifacts', 'sha256');
  const names: string[] = [];
  for (const prefix of await fs.readdir(root))
    names.push(...(await fs.readdir(path.join(root, prefix))));
  return names;
}

/** Sends a raw HTTP request, so the request target and headers are exactly as given. */
function rawRequest(
  port: number,
  target: string,
  options: { method?: string; headers?: Record<string, string>; body?: Buffer | string } = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = http.request(
      {
        host: '127.0.0.1',
        port,
        method: options.method ?? 'GET',
        path: target,
        headers: options.headers,
      },
      (response) => {
        let body = '';
        response.on('data', (chunk: Buffer) => {
          body += chunk.toString();
        });
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
      },
    );
    request.on('error', reject);
    request.end(options.body);
  });
}

describe('admin token paths', () => {
  let server: TestServer;
  let port: number;

  before(async () => {
    server = await startTestServer({ adminToken: 'secret-token' });
    port = Number(new URL(server.url).port);
  });

  after(async () => {
    await server.destroy();
  });

  it('guards a percent-encoded management path', async () => {
    const bytes = scaleModel(1);
    const response = await rawRequest(port, '/%61pi/v1/models/a1/versions?alias=production', {
      method: 'POST',
      headers: {
        'content-type': 'application/octet-stream',
        'content-length': String(bytes.length),
      },
      body: bytes,
    });
    assert.equal(response.status, 401, response.body);
  });

  it('guards an absolute-form request target', async () => {
    const bytes = scaleModel(1);
    const response = await rawRequest(port, `http://127.0.0.1:${port}/api/v1/models/x/versions`, {
      method: 'POST',
      headers: {
        'content-type': 'application/octet-stream',
        'content-length': String(bytes.length),
      },
      body: bytes,
    });
    assert.equal(response.status, 401, response.body);
    const listing = await call(`${server.url}/api/v1/models`);
    assert.deepEqual(listing.body.models, []);
  });

  it('leaves the repository index open', async () => {
    const index = await call(`${server.url}/v2/repository/index`, { method: 'POST' });
    assert.equal(index.status, 200);
    const load = await call(`${server.url}/v2/repository/models/x/load`, { method: 'POST' });
    assert.equal(load.status, 401);
  });
});

describe('upload edge cases', () => {
  let server: TestServer;

  before(async () => {
    server = await startTestServer({ memoryBudgetBytes: 1024 * 1024, maxUploadBytes: 10_000 });
  });

  after(async () => {
    await server.destroy();
  });

  it('rolls back an upload whose alias cannot move', async () => {
    const big = await startTestServer({ memoryBudgetBytes: 1024 * 1024 });
    try {
      const response = await push(big.url, 'too-big', largeModel(2, 5), { alias: 'production' });
      assert.equal(response.status, 507, JSON.stringify(response.body));
      assert.match(response.body.error, /more than the whole memory budget/);
      assert.equal((await call(`${big.url}/api/v1/models/too-big`)).status, 404);
      assert.deepEqual(await artifactFiles(big.dataDir), []);
    } finally {
      await big.destroy();
    }
  });

  it('rejects a repeated query field and stores nothing', async () => {
    const response = await call(
      `${server.url}/api/v1/models/dup/versions?description=a&description=b`,
      {
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream' },
        body: scaleModel(2),
      },
    );
    assert.equal(response.status, 400, JSON.stringify(response.body));
    assert.match(response.body.error, /description/);
    assert.deepEqual(await artifactFiles(server.dataDir), []);
  });

  it('rejects malformed multipart bodies with 400', async () => {
    const bodies: Array<{ type: string; body: string }> = [
      { type: 'multipart/form-data', body: 'no boundary' },
      {
        type: 'multipart/form-data; boundary=xyz',
        body: '--abc\r\ncontent-disposition: form-data\r\n\r\nx',
      },
      {
        type: 'multipart/form-data; boundary=xyz',
        body: '--xyz\r\nContent-Disposition: form-data; name="file"; filename="m.onnx"\r\n\r\npartial',
      },
    ];
    for (const { type, body } of bodies) {
      const response = await call(`${server.url}/api/v1/models/mp/versions`, {
        method: 'POST',
        headers: { 'content-type': type },
        body,
      });
      assert.ok(
        response.status >= 400 && response.status < 500,
        `${type}: ${response.status} ${JSON.stringify(response.body)}`,
      );
      assert.equal(typeof response.body.error, 'string');
    }
    assert.deepEqual(await artifactFiles(server.dataDir), []);
  });

  it('accepts a multipart file just under the limit', async () => {
    const model = scaleModel(3);
    const form = new FormData();
    form.append('description', 'x'.repeat(10_000 - model.length - 10));
    form.append('file', new Blob([model]), 'm.onnx');
    const response = await call(`${server.url}/api/v1/models/near-limit/versions`, {
      method: 'POST',
      body: form,
    });
    assert.equal(response.status, 201, JSON.stringify(response.body));
  });
});

describe('inference edge cases', () => {
  let server: TestServer;

  before(async () => {
    server = await startTestServer();
    await push(server.url, 'gather', largeModel(1, 3));
    await push(server.url, 'scaled', scaleModel(2));
    await push(server.url, 'text', identityModel('BYTES'));
  });

  after(async () => {
    await server.destroy();
  });

  it('answers 400 when the runtime rejects the input data', async () => {
    const response = await infer(server.url, 'gather', {
      inputs: [{ name: 'indices', datatype: 'INT64', shape: [1], data: [10_000_000] }],
    });
    assert.equal(response.status, 400, JSON.stringify(response.body));
    assert.match(response.body.error, /rejected the input: .*out of (data )?bounds/);
    for (let i = 0; i < 6; i += 1) {
      await infer(server.url, 'gather', {
        inputs: [{ name: 'indices', datatype: 'INT64', shape: [1], data: [-99_999_999] }],
      });
    }
    const version = await call(`${server.url}/api/v1/models/gather/versions/1`);
    assert.equal(version.body.usage.errors, 0);
    assert.equal(version.body.usage.client_errors, 7);
    assert.equal(version.body.status, 'healthy');
    assert.equal(version.body.usage.failures.bad_request, 7);
  });

  it('rejects ragged nested data', async () => {
    const response = await infer(server.url, 'scaled', {
      inputs: [
        {
          name: 'x',
          datatype: 'FP32',
          shape: [2, 4],
          data: [
            [1, 2, 3],
            [4, 5, 6, 7, 8],
          ],
        },
      ],
    });
    assert.equal(response.status, 400);
    assert.match(
      response.body.error,
      /nested data does not match shape \[2,4\]: an array at depth 1 has 3 items, expected 4/,
    );
  });

  it('accepts data nested by rows', async () => {
    const response = await infer(server.url, 'scaled', {
      inputs: [
        {
          name: 'x',
          datatype: 'FP32',
          shape: [2, 4],
          data: [
            [1, 2, 3, 4],
            [5, 6, 7, 8],
          ],
        },
      ],
    });
    assert.equal(response.status, 200);
    assert.deepEqual(response.body.outputs[0].data, [2, 4, 6, 8, 10, 12, 14, 16]);
  });

  it('rejects a NUL character in BYTES', async () => {
    const response = await infer(server.url, 'text', {
      inputs: [{ name: 'x', datatype: 'BYTES', shape: [1], data: ['a\u0000b'] }],
    });
    assert.equal(response.status, 400);
    assert.match(response.body.error, /contains a NUL character/);
  });

  it('rejects invalid UTF-8 in binary BYTES', async () => {
    const element = Buffer.from([2, 0, 0, 0, 0xc3, 0x28]);
    const header = Buffer.from(
      JSON.stringify({
        inputs: [
          {
            name: 'x',
            datatype: 'BYTES',
            shape: [1],
            parameters: { binary_data_size: element.length },
          },
        ],
      }),
    );
    const response = await fetch(`${server.url}/v2/models/text/infer`, {
      method: 'POST',
      headers: { 'inference-header-content-length': String(header.length) },
      body: Buffer.concat([header, element]),
    });
    assert.equal(response.status, 400);
    assert.match(await response.text(), /is not valid UTF-8/);
  });

  it('rejects a header length that is not a plain byte count', async () => {
    const response = await fetch(`${server.url}/v2/models/scaled/infer`, {
      method: 'POST',
      headers: { 'inference-header-content-length': '0x10' },
      body: JSON.stringify(SCALE_INPUT),
    });
    assert.equal(response.status, 400);
  });

  it('rejects an empty version segment', async () => {
    const response = await call(`${server.url}/v2/models/scaled/versions//infer`, {
      method: 'POST',
      json: SCALE_INPUT,
    });
    assert.equal(response.status, 404);
    assert.match(response.body.error, /version .* is empty/);
  });

  it('rejects deeply nested JSON before parsing it', async () => {
    const depth = 100_000;
    const body = `{"inputs":${'['.repeat(depth)}${']'.repeat(depth)}}`;
    const response = await call(`${server.url}/v2/models/scaled/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });
    assert.equal(response.status, 400);
    assert.match(response.body.error, /deeper than 64 levels/);
  });

  it('returns the protocol error body for a malformed path', async () => {
    const response = await call(`${server.url}/v2/models/%E0%A4%A/infer`, {
      method: 'POST',
      json: SCALE_INPUT,
    });
    assert.equal(response.status, 400);
    assert.deepEqual(Object.keys(response.body), ['error']);
  });

  it('names the limit in a 413 for an inference body', async () => {
    const small = await startTestServer({ maxRequestBytes: 64 });
    try {
      await push(small.url, 'scaled', scaleModel(2));
      const response = await infer(small.url, 'scaled', SCALE_INPUT);
      assert.equal(response.status, 413);
      assert.match(response.body.error, /exceeds the limit of 64 bytes; raise --max-request-size/);
    } finally {
      await small.destroy();
    }
  });
});

describe('artifact repair', () => {
  it('repairs a corrupted artifact when the same file is uploaded again', async () => {
    const server = await startTestServer();
    try {
      const model = scaleModel(4);
      const first = await push(server.url, 'repaired', model);
      const file = path.join(
        server.dataDir,
        'artifacts',
        'sha256',
        first.body.sha256.slice(0, 2),
        first.body.sha256,
      );
      await fs.writeFile(file, 'damaged');
      const broken = await infer(server.url, 'repaired', SCALE_INPUT);
      assert.equal(broken.status, 503);
      assert.ok(!broken.body.error.includes(server.dataDir), 'errors must not expose server paths');
      const again = await push(server.url, 'repaired', model);
      assert.equal(again.status, 200);
      const fixed = await infer(server.url, 'repaired', SCALE_INPUT);
      assert.equal(fixed.status, 200, JSON.stringify(fixed.body));
    } finally {
      await server.destroy();
    }
  });

  it('loads a repaired preloaded version without a request', async () => {
    const first = await startTestServer();
    const dataDir = first.dataDir;
    const model = scaleModel(5);
    let sha256: string;
    try {
      const pushed = await push(first.url, 'preloaded', model, { alias: 'production' });
      assert.equal(pushed.status, 201);
      sha256 = pushed.body.sha256;
    } finally {
      await first.stop();
    }
    await fs.writeFile(
      path.join(dataDir, 'artifacts', 'sha256', sha256.slice(0, 2), sha256),
      'damaged',
    );
    const server = await startTestServer({ dataDir, preloadAliases: ['production'] });
    try {
      const waitForReady = async (expected: number, body: RegExp) => {
        for (let attempt = 0; attempt < 100; attempt += 1) {
          const ready = await call(`${server.url}/v2/health/ready`);
          if (ready.status === expected && body.test(JSON.stringify(ready.body))) return;
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        assert.fail(`readiness never answered ${expected} with ${body}`);
      };
      await waitForReady(503, /failed: .*corrupted/);

      const again = await push(server.url, 'preloaded', model);
      assert.equal(again.status, 200);
      await waitForReady(200, /.*/);
      const version = await call(`${server.url}/api/v1/models/preloaded/versions/1`);
      assert.equal(version.body.load.state, 'ready');
      assert.equal(version.body.usage.requests, 0, 'no request was needed');
    } finally {
      await server.destroy();
    }
  });
});

describe('upload checks apart from serving', () => {
  it('do not delay requests to loaded models', async () => {
    const server = await startTestServer({ workers: 1 });
    try {
      await push(server.url, 'scaled', scaleModel(6));
      assert.equal((await infer(server.url, 'scaled', SCALE_INPUT)).status, 200);
      const started = performance.now();
      const uploads = Promise.all([
        push(server.url, 'slow-a', slowLoadModel(1024, 30)),
        push(server.url, 'slow-b', slowLoadModel(1024, 31)),
      ]);
      await new Promise((resolve) => setTimeout(resolve, 100));
      const requestStarted = performance.now();
      const response = await infer(server.url, 'scaled', SCALE_INPUT);
      const requestMs = performance.now() - requestStarted;
      const results = await uploads;
      const uploadMs = performance.now() - started;
      assert.equal(response.status, 200);
      for (const result of results) assert.equal(result.status, 201);
      assert.ok(
        requestMs < uploadMs / 4,
        `the request took ${requestMs} ms while uploads took ${uploadMs} ms`,
      );
    } finally {
      await server.destroy();
    }
  });
});
