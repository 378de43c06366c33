import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { call, infer, push } from '../support/http.js';
import { identityModel, logModel, type OnnxType } from '../support/onnx-builder.js';
import { startTestServer, type TestServer } from '../support/server.js';

/** A value list per datatype that round-trips through an Identity model unchanged. */
const ROUND_TRIPS: Array<{ type: OnnxType; data: unknown[] }> = [
  { type: 'BOOL', data: [true, false, true] },
  { type: 'UINT8', data: [0, 17, 255] },
  { type: 'UINT16', data: [0, 300, 65535] },
  { type: 'UINT32', data: [0, 70000, 4294967295] },
  { type: 'UINT64', data: [0, 1, 9007199254740991] },
  { type: 'INT8', data: [-128, 0, 127] },
  { type: 'INT16', data: [-32768, 5, 32767] },
  { type: 'INT32', data: [-2147483648, 7, 2147483647] },
  { type: 'INT64', data: [-9007199254740991, 0, 9007199254740991] },
  { type: 'FP16', data: [0.5, -2, 65504] },
  { type: 'FP32', data: [0.25, -1.5, 3.5] },
  { type: 'FP64', data: [0.1, -1e300, 123456789.123] },
  { type: 'BYTES', data: ['hello', '', 'naïve ünïcode'] },
];

function tensor(type: OnnxType, data: unknown[], shape = [data.length]) {
  return { inputs: [{ name: 'x', datatype: type, shape, data }] };
}

describe('datatypes', () => {
  let server: TestServer;

  before(async () => {
    server = await startTestServer();
    for (const { type } of ROUND_TRIPS) {
      const response = await push(
        server.url,
        `identity-${type.toLowerCase()}`,
        identityModel(type),
      );
      assert.equal(response.status, 201, JSON.stringify(response.body));
    }
    const log = await push(server.url, 'log', logModel());
    assert.equal(log.status, 201);
  });

  after(async () => {
    await server.destroy();
  });

  for (const { type, data } of ROUND_TRIPS) {
    it(`${type} round-trips through an Identity model`, async () => {
      const response = await infer(
        server.url,
        `identity-${type.toLowerCase()}`,
        tensor(type, data),
      );
      assert.equal(response.status, 200, JSON.stringify(response.body));
      const output = response.body.outputs[0];
      assert.equal(output.datatype, type);
      assert.deepEqual(output.shape, [data.length]);
      assert.deepEqual(output.data, data);
    });
  }

  it('rejects an INT64 beyond 2^53 instead of rounding it', async () => {
    const body =
      '{"inputs":[{"name":"x","datatype":"INT64","shape":[1],"data":[9007199254740993]}]}';
    const response = await call(`${server.url}/v2/models/identity-int64/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });
    assert.equal(response.status, 400);
    assert.match(response.body.error, /outside the INT64 range/);
    assert.match(response.body.error, /binary tensor extension/);
  });

  it('returns INT64 values beyond 2^53 with every digit', async () => {
    const values = BigInt64Array.of(9007199254740993n, -9223372036854775808n, 9223372036854775807n);
    const response = await binaryInfer(
      server.url,
      'identity-int64',
      'INT64',
      Buffer.from(values.buffer),
      3,
    );
    assert.equal(response.status, 200);
    const text = await response.text();
    assert.match(text, /"data":\[9007199254740993,-9223372036854775808,9223372036854775807\]/);
  });

  it('rejects out-of-range integers for the datatype', async () => {
    const response = await infer(server.url, 'identity-uint8', tensor('UINT8', [256]));
    assert.equal(response.status, 400);
    assert.match(response.body.error, /element 0 \(256\) is outside the UINT8 range \[0, 255\]/);
  });

  it('rejects fractions for an integer datatype', async () => {
    const response = await infer(server.url, 'identity-int32', tensor('INT32', [1.5]));
    assert.equal(response.status, 400);
    assert.match(response.body.error, /element 0 is 1.5, but INT32 needs an integer/);
  });

  it('rejects numbers for BOOL', async () => {
    const response = await infer(server.url, 'identity-bool', tensor('BOOL', [1]));
    assert.equal(response.status, 400);
    assert.match(response.body.error, /BOOL needs true or false/);
  });

  it('rounds FP16 inputs to half precision', async () => {
    const response = await infer(server.url, 'identity-fp16', tensor('FP16', [0.1, 65519]));
    assert.equal(response.status, 200);
    assert.deepEqual(response.body.outputs[0].data, [0.0999755859375, 65504]);
  });

  it('rejects floats beyond the datatype range', async () => {
    const cases: Array<[OnnxType, number[], RegExp]> = [
      [
        'FP32',
        [1e39, -1e39],
        /input "x": element 0 \(1e\+39\) is outside the FP32 range \[-3\.4028234663852886e\+38, 3\.4028234663852886e\+38\]/,
      ],
      ['FP32', [1, -1e39], /input "x": element 1 \(-1e\+39\) is outside the FP32 range/],
      [
        'FP16',
        [0, 70000],
        /input "x": element 1 \(70000\) is outside the FP16 range \[-65504, 65504\]/,
      ],
    ];
    for (const [type, data, message] of cases) {
      const response = await infer(
        server.url,
        `identity-${type.toLowerCase()}`,
        tensor(type, data),
      );
      assert.equal(response.status, 400, `${type} ${data}: ${JSON.stringify(response.body)}`);
      assert.match(response.body.error, message);
      assert.match(
        response.body.error,
        /send infinities as the strings "Infinity" and "-Infinity"/,
      );
    }
  });

  it('rounds FP32 just above its max to the max', async () => {
    // 3.4028235e38, float32 max printed with 8 digits, is a little above it and rounds down.
    const response = await infer(server.url, 'identity-fp32', tensor('FP32', [3.4028235e38]));
    assert.equal(response.status, 200, JSON.stringify(response.body));
    assert.deepEqual(response.body.outputs[0].data, [3.4028234663852886e38]);
  });

  it('rejects JSON numbers that overflow FP64', async () => {
    for (const type of ['FP32', 'FP64']) {
      const response = await call(`${server.url}/v2/models/identity-${type.toLowerCase()}/infer`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: `{"inputs":[{"name":"x","datatype":"${type}","shape":[2],"data":[0, -1e400]}]}`,
      });
      assert.equal(response.status, 400, `${type}: ${JSON.stringify(response.body)}`);
      assert.match(
        response.body.error,
        new RegExp(
          `input "x": element 1 \\(a JSON number that overflows to -Infinity\\) is outside the ${type} range`,
        ),
      );
    }
    const usage = await call(`${server.url}/api/v1/models/identity-fp64/versions/1`);
    assert.equal(usage.body.usage.failures.bad_request, 1);
  });

  it('encodes NaN and infinities as strings so the JSON stays valid', async () => {
    const response = await call(`${server.url}/v2/models/log/infer`, {
      method: 'POST',
      json: tensor('FP32', [-1, 0, 1]),
    });
    assert.equal(response.status, 200);
    assert.deepEqual(response.body.outputs[0].data, ['NaN', '-Infinity', 0]);
  });

  it('accepts NaN and infinity strings in float inputs', async () => {
    const response = await infer(
      server.url,
      'identity-fp64',
      tensor('FP64', ['NaN', 'Infinity', '-Infinity']),
    );
    assert.equal(response.status, 200);
    assert.deepEqual(response.body.outputs[0].data, ['NaN', 'Infinity', '-Infinity']);
  });
});

describe('binary tensor extension', () => {
  let server: TestServer;

  before(async () => {
    server = await startTestServer();
    await push(server.url, 'identity-fp32', identityModel('FP32'));
    await push(server.url, 'identity-bytes', identityModel('BYTES'));
    await push(server.url, 'identity-bool', identityModel('BOOL'));
  });

  after(async () => {
    await server.destroy();
  });

  it('reads binary inputs and returns binary outputs', async () => {
    const values = Float32Array.of(1.5, -2.25, 3);
    const response = await binaryInfer(
      server.url,
      'identity-fp32',
      'FP32',
      Buffer.from(values.buffer),
      3,
      true,
    );
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-type'), 'application/octet-stream');
    const headerLength = Number(response.headers.get('inference-header-content-length'));
    const body = Buffer.from(await response.arrayBuffer());
    const header = JSON.parse(body.subarray(0, headerLength).toString('utf8'));
    assert.deepEqual(header.outputs[0].parameters, { binary_data_size: 12 });
    assert.equal(header.outputs[0].data, undefined);
    const output = new Float32Array(
      body.buffer.slice(body.byteOffset + headerLength, body.byteOffset + body.length),
    );
    assert.deepEqual([...output], [1.5, -2.25, 3]);
  });

  it('reads length-prefixed BYTES elements', async () => {
    const parts = ['ab', 'ünï', ''].map((text) => {
      const bytes = Buffer.from(text, 'utf8');
      const length = Buffer.alloc(4);
      length.writeUInt32LE(bytes.length);
      return Buffer.concat([length, bytes]);
    });
    const response = await binaryInfer(
      server.url,
      'identity-bytes',
      'BYTES',
      Buffer.concat(parts),
      3,
    );
    assert.equal(response.status, 200);
    const body = JSON.parse(await response.text());
    assert.deepEqual(body.outputs[0].data, ['ab', 'ünï', '']);
  });

  it('rejects binary data of the wrong size', async () => {
    const response = await binaryInfer(server.url, 'identity-fp32', 'FP32', Buffer.alloc(10), 3);
    assert.equal(response.status, 400);
    const body = JSON.parse(await response.text());
    assert.match(body.error, /binary data has 10 bytes, but 3 FP32 elements need 12/);
  });

  it('rejects BOOL bytes other than 0 and 1', async () => {
    const response = await binaryInfer(server.url, 'identity-bool', 'BOOL', Buffer.from([1, 2]), 2);
    assert.equal(response.status, 400);
    const body = JSON.parse(await response.text());
    assert.match(body.error, /BOOL element 1 is 2, not 0 or 1/);
  });

  it('rejects a header length beyond the body', async () => {
    const response = await fetch(`${server.url}/v2/models/identity-fp32/infer`, {
      method: 'POST',
      headers: { 'inference-header-content-length': '9999' },
      body: '{"inputs":[]}',
    });
    assert.equal(response.status, 400);
    const body = JSON.parse(await response.text());
    assert.match(body.error, /Inference-Header-Content-Length is "9999"/);
  });
});

/** Sends one input named x with the binary tensor extension. */
async function binaryInfer(
  baseUrl: string,
  model: string,
  datatype: string,
  data: Buffer,
  count: number,
  binaryOutput = false,
): Promise<Response> {
  const header = Buffer.from(
    JSON.stringify({
      inputs: [
        { name: 'x', datatype, shape: [count], parameters: { binary_data_size: data.length } },
      ],
      ...(binaryOutput ? { parameters: { binary_data_output: true } } : {}),
    }),
  );
  return fetch(`${baseUrl}/v2/models/${model}/infer`, {
    method: 'POST',
    headers: {
      'content-type': 'application/octet-stream',
      'inference-header-content-length': String(header.length),
    },
    body: Buffer.concat([header, data]),
  });
}
