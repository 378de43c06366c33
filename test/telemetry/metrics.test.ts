import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { call, infer, push } from '../support/http.js';
import { scaleModel, scaleRequest } from '../support/models.js';
import { logModel } from '../support/onnx-builder.js';
import { type MetricFamily, parsePrometheus, sampleValue } from '../support/prometheus.js';
import { startTestServer, type TestServer } from '../support/server.js';

/** Metric names of ours that count things without a unit, all gauges. */
const UNITLESS_GAUGES = new Set([
  'steward_inference_requests_in_flight',
  'steward_version_loaded',
  'steward_version_health',
  'steward_version_failing_probes',
  'steward_models',
  'steward_versions',
]);

async function scrape(url: string): Promise<{ families: MetricFamily[]; contentType: string }> {
  const response = await fetch(`${url}/metrics`);
  assert.equal(response.status, 200);
  return {
    families: parsePrometheus(await response.text()),
    contentType: response.headers.get('content-type') ?? '',
  };
}

describe('prometheus metrics', () => {
  let server: TestServer;

  before(async () => {
    server = await startTestServer();
    await push(server.url, 'scaled', scaleModel(2));
    await push(server.url, 'log', logModel());
    await push(server.url, 'gone', scaleModel(3));
    await push(server.url, 'gone', scaleModel(4));
    for (let i = 0; i < 2; i += 1) await infer(server.url, 'scaled', scaleRequest(2));
    await infer(server.url, 'scaled', { inputs: [{ name: 'wrong' }] });
    await infer(server.url, 'log', {
      inputs: [{ name: 'x', datatype: 'FP32', shape: [1], data: [-1] }],
    });
    await infer(server.url, 'gone', scaleRequest(), '1');
    await call(`${server.url}/api/v1/models/gone/versions/1`, { method: 'DELETE' });
  });

  after(async () => {
    await server.destroy();
  });

  it('parses with a Prometheus text parser, every name prefixed and with its unit', async () => {
    const { families, contentType } = await scrape(server.url);
    assert.match(contentType, /^text\/plain; version=0\.0\.4/);
    assert.ok(families.length > 10);
    for (const family of families) {
      assert.match(family.name, /^steward_[a-z0-9_]+$/, family.name);
      assert.ok(family.help.length > 0, `${family.name} has help text`);
      if (family.type === 'COUNTER') assert.match(family.name, /_total$/, family.name);
      if (family.type === 'HISTOGRAM' && family.name.startsWith('steward_inference')) {
        assert.match(family.name, /_seconds$/, family.name);
      }
    }
    const ours = families.filter(
      (family) =>
        !family.name.startsWith('steward_process_') && !family.name.startsWith('steward_nodejs_'),
    );
    for (const family of ours) {
      if (UNITLESS_GAUGES.has(family.name)) continue;
      assert.match(family.name, /_(total|seconds|bytes)$/, family.name);
    }
  });

  it('counts requests by outcome per version', async () => {
    const { families } = await scrape(server.url);
    const requests = (outcome: string) =>
      sampleValue(families, 'steward_inference_requests_total', {
        model: 'scaled',
        version: '1',
        outcome,
      });
    assert.equal(requests('success'), 2);
    assert.equal(requests('bad_request'), 1);
    assert.equal(requests('model_error'), 0);
    assert.equal(requests('timeout'), 0);
    assert.equal(requests('unavailable'), 0);

    const usage = (await call(`${server.url}/api/v1/models/scaled/versions/1`)).body.usage;
    const labels = { model: 'scaled', version: '1' };
    assert.equal(
      sampleValue(families, 'steward_inference_request_bytes_total', labels),
      usage.bytes_in,
    );
    assert.equal(
      sampleValue(families, 'steward_inference_response_bytes_total', labels),
      usage.bytes_out,
    );
    assert.equal(sampleValue(families, 'steward_version_loaded', labels), 1);
    assert.equal(sampleValue(families, 'steward_inference_requests_in_flight', labels), 0);
    assert.equal(
      sampleValue(families, 'steward_version_health', { ...labels, status: 'healthy' }),
      1,
    );
  });

  it('counts output violations by kind', async () => {
    const { families } = await scrape(server.url);
    const labels = { model: 'log', version: '1' };
    assert.equal(
      sampleValue(families, 'steward_output_violations_total', { ...labels, kind: 'nan' }),
      1,
    );
    assert.equal(
      sampleValue(families, 'steward_output_violations_total', { ...labels, kind: 'range' }),
      0,
    );
    assert.equal(sampleValue(families, 'steward_inference_invalid_responses_total', labels), 1);
  });

  it('labels only versions that still exist', async () => {
    const { families } = await scrape(server.url);
    const pairs = new Set<string>();
    for (const family of families) {
      for (const metric of family.metrics) {
        if (metric.labels?.model) pairs.add(`${metric.labels.model}:${metric.labels.version}`);
      }
    }
    assert.deepEqual([...pairs].sort(), ['gone:2', 'log:1', 'scaled:1']);
    assert.equal(sampleValue(families, 'steward_versions', {}), 3);
    assert.equal(sampleValue(families, 'steward_models', {}), 3);
  });
});

describe('prometheus latency histogram', () => {
  // NOTE: parse-prometheus-text-format 1.1.1 merges the series of a labelled histogram into
  // one and drops their labels, _sum and _count, so this server has a single version and
  // the checks read the buckets only.
  it('exports the stored latency buckets of successful requests', async () => {
    const server = await startTestServer();
    try {
      await push(server.url, 'scaled', scaleModel(2));
      for (let i = 0; i < 3; i += 1) await infer(server.url, 'scaled', scaleRequest());
      await infer(server.url, 'scaled', { inputs: [{ name: 'wrong' }] });
      const { families } = await scrape(server.url);
      const histogram = families.find(
        (family) => family.name === 'steward_inference_request_duration_seconds',
      );
      assert.equal(histogram?.type, 'HISTOGRAM');
      const [series] = histogram.metrics;
      assert.ok(series?.buckets);
      assert.equal(series.buckets['+Inf'], '3', 'bad requests have no latency sample');
      const bounds = Object.keys(series.buckets)
        .filter((le) => le !== '+Inf')
        .map(Number)
        .sort((a, b) => a - b);
      assert.equal(bounds.length, 21);
      assert.equal(bounds[0], 0.00016);
      let previous = 0;
      for (const bound of bounds) {
        const count = Number(series.buckets[String(bound)]);
        assert.ok(count >= previous, `bucket le=${bound} is cumulative`);
        previous = count;
      }
      assert.equal(previous, 3, 'the largest finite bucket holds every request');
    } finally {
      await server.destroy();
    }
  });
});

describe('statistics extension', () => {
  let server: TestServer;

  before(async () => {
    server = await startTestServer();
    await push(server.url, 'scaled', scaleModel(2), { alias: 'production' });
    await push(server.url, 'scaled', scaleModel(3));
    await push(server.url, 'other', scaleModel(4));
    await infer(server.url, 'scaled', scaleRequest(2));
    await infer(server.url, 'scaled', { inputs: [{ name: 'wrong' }] });
  });

  after(async () => {
    await server.destroy();
  });

  it('is listed among the server extensions', async () => {
    const metadata = await call(`${server.url}/v2`);
    assert.ok(metadata.body.extensions.includes('statistics'));
  });

  it('reports Triton fields for one version, by number or alias', async () => {
    const byNumber = await call(`${server.url}/v2/models/scaled/versions/1/stats`);
    const byAlias = await call(`${server.url}/v2/models/scaled/versions/production/stats`);
    assert.equal(byNumber.status, 200);
    assert.deepEqual(byAlias.body, byNumber.body);
    const [entry] = byNumber.body.model_stats;
    assert.equal(entry.name, 'scaled');
    assert.equal(entry.version, '1');
    const usage = (await call(`${server.url}/api/v1/models/scaled/versions/1`)).body.usage;
    assert.equal(entry.last_inference, Date.parse(usage.last_used_at));
    assert.equal(entry.inference_count, 2);
    assert.equal(entry.execution_count, 1);
    assert.deepEqual(Object.keys(entry.inference_stats).sort(), [
      'cache_hit',
      'compute_infer',
      'compute_input',
      'compute_output',
      'fail',
      'queue',
      'success',
    ]);
    for (const [stage, pair] of Object.entries<any>(entry.inference_stats)) {
      assert.deepEqual(Object.keys(pair).sort(), ['count', 'ns'], stage);
      assert.ok(Number.isInteger(pair.ns), `${stage} ns is a whole number`);
    }
    assert.equal(entry.inference_stats.success.count, 1);
    assert.equal(entry.inference_stats.fail.count, 1);
    assert.deepEqual(entry.batch_stats, []);
    assert.equal(entry.memory_usage.length, 1);
    assert.equal(entry.memory_usage[0].type, 'CPU');
    assert.ok(entry.memory_usage[0].byte_size > 0);
  });

  it('lists every version of a model, and of all models', async () => {
    const model = await call(`${server.url}/v2/models/scaled/stats`);
    assert.deepEqual(
      model.body.model_stats.map((entry: { version: string }) => entry.version),
      ['1', '2'],
    );
    const unused = model.body.model_stats[1];
    assert.equal(unused.last_inference, 0);
    assert.equal(unused.inference_stats.success.count, 0);
    assert.deepEqual(unused.memory_usage, []);
    const all = await call(`${server.url}/v2/models/stats`);
    assert.deepEqual(
      all.body.model_stats.map(
        (entry: { name: string; version: string }) => `${entry.name}:${entry.version}`,
      ),
      ['other:1', 'scaled:1', 'scaled:2'],
    );
  });

  it('answers unknown models and versions with the protocol error body', async () => {
    const model = await call(`${server.url}/v2/models/nope/stats`);
    assert.equal(model.status, 404);
    assert.deepEqual(Object.keys(model.body), ['error']);
    const version = await call(`${server.url}/v2/models/scaled/versions/9/stats`);
    assert.equal(version.status, 404);
    assert.match(version.body.error, /has no version 9/);
  });
});
