import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { LatencySeries } from '../../src/telemetry/latency-series.js';
import { call, infer, push } from '../support/http.js';
import { scaleModel } from '../support/onnx-builder.js';
import { startTestServer, type TestServer } from '../support/server.js';

const MINUTE = 60_000;
const T0 = Date.parse('2026-12-01T10:00:00.000Z');

describe('latency series', () => {
  it('keeps one point per minute with percentiles', () => {
    const series = new LatencySeries();
    for (let i = 1; i <= 100; i += 1) series.add('m', 1, i, false, T0 + 1000);
    series.add('m', 1, 500, true, T0 + MINUTE + 5);
    const points = series.points('m', 1, T0 + 2 * MINUTE);
    assert.equal(points.length, 2);
    assert.equal(points[0]!.start, '2026-12-01T10:00:00.000Z');
    assert.equal(points[0]!.requests, 100);
    assert.equal(points[0]!.errors, 0);
    // Histogram buckets are about 19% wide, so the percentiles are estimates within that.
    assert.ok(Math.abs(points[0]!.p50Ms! - 50) / 50 < 0.2, `p50 ${points[0]!.p50Ms}`);
    assert.ok(Math.abs(points[0]!.p95Ms! - 95) / 95 < 0.2, `p95 ${points[0]!.p95Ms}`);
    assert.equal(points[1]!.start, '2026-12-01T10:01:00.000Z');
    assert.equal(points[1]!.errors, 1);
  });

  it('forgets points older than its window', () => {
    const series = new LatencySeries(MINUTE, 3);
    for (let minute = 0; minute < 5; minute += 1) {
      series.add('m', 1, 1, false, T0 + minute * MINUTE);
    }
    const points = series.points('m', 1, T0 + 4 * MINUTE + 1);
    assert.deepEqual(
      points.map((point) => point.start),
      ['2026-12-01T10:02:00.000Z', '2026-12-01T10:03:00.000Z', '2026-12-01T10:04:00.000Z'],
    );
    assert.deepEqual(series.points('m', 1, T0 + 20 * MINUTE), []);
  });

  it('keeps versions apart and forgets a deleted one', () => {
    const series = new LatencySeries();
    series.add('m', 1, 1, false, T0);
    series.add('m', 2, 1, false, T0);
    series.forget('m', 1);
    assert.deepEqual(series.points('m', 1, T0), []);
    assert.equal(series.points('m', 2, T0).length, 1);
  });
});

describe('latency API', () => {
  let server: TestServer;

  before(async () => {
    server = await startTestServer();
    await push(server.url, 'scaled', scaleModel(2));
  });

  after(async () => {
    await server.destroy();
  });

  it('returns the requests of the last minutes', async () => {
    const input = { inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4], data: [1, 2, 3, 4] }] };
    for (let i = 0; i < 5; i += 1) {
      assert.equal((await infer(server.url, 'scaled', input)).status, 200);
    }
    // Rejected requests never reached the model, so they are not in the latency series.
    const bad = { inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 3], data: [1, 2, 3] }] };
    assert.equal((await infer(server.url, 'scaled', bad)).status, 400);

    const response = await call(`${server.url}/api/v1/models/scaled/versions/1/latency`);
    assert.equal(response.status, 200);
    assert.equal(response.body.interval_seconds, 60);
    assert.equal(response.body.window_minutes, 120);
    const points = response.body.points as Array<Record<string, any>>;
    // The requests may straddle a minute boundary, so the points are summed.
    assert.equal(
      points.reduce((sum, point) => sum + point.requests, 0),
      5,
    );
    for (const point of points) {
      assert.equal(point.errors, 0);
      assert.ok(point.p95_ms >= point.p50_ms);
    }
  });

  it('answers 404 for an unknown version', async () => {
    const response = await call(`${server.url}/api/v1/models/scaled/versions/7/latency`);
    assert.equal(response.status, 404);
    assert.equal(response.body.code, 'VERSION_NOT_FOUND');
  });
});
