/**
 * Fleet report on 1,000 versions: registers 100 models of 10 versions each (tiny distinct ONNX
 * files), sends one request to every other version, then times `GET /api/v1/report`.
 *
 * Run: npm run build && MALLOC_MMAP_THRESHOLD_=131072 node dist/bench/report.js
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { startServer } from '../src/cli/serve.js';
import { resolveConfig } from '../src/config/config.js';
import { scaleModel } from '../test/support/onnx-builder.js';

const MODELS = 100;
const VERSIONS = 10;

const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'steward-bench-report-'));
const server = await startServer(resolveConfig({ dataDir, port: 0, logLevel: 'silent' }, {}));
try {
  const started = performance.now();
  for (let model = 0; model < MODELS; model += 1) {
    for (let version = 0; version < VERSIONS; version += 1) {
      await server.steward.publisher.publish({
        model: `model-${model}`,
        source: Readable.from([scaleModel(model * VERSIONS + version + 1)]),
        sourceName: 'model.onnx',
        description: '',
        alias: version === VERSIONS - 1 ? 'production' : undefined,
        actor: 'bench',
      });
    }
  }
  const registered = performance.now() - started;
  const body = JSON.stringify({
    inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4], data: [1, 2, 3, 4] }],
  });
  for (let model = 0; model < MODELS; model += 1) {
    for (let version = 1; version <= VERSIONS; version += 2) {
      const response = await fetch(
        `${server.url}/v2/models/model-${model}/versions/${version}/infer`,
        {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body,
        },
      );
      await response.text();
    }
  }
  const timings: number[] = [];
  let findings = 0;
  for (let run = 0; run < 10; run += 1) {
    const begin = performance.now();
    const response = await fetch(`${server.url}/api/v1/report`);
    const report = (await response.json()) as { findings: unknown[] };
    timings.push(performance.now() - begin);
    findings = report.findings.length;
  }
  timings.sort((a, b) => a - b);
  console.log(`registered ${MODELS * VERSIONS} versions in ${(registered / 1000).toFixed(1)} s`);
  console.log(
    `report over ${MODELS * VERSIONS} versions (${findings} findings): median ${timings[5]!.toFixed(1)} ms, ` +
      `min ${timings[0]!.toFixed(1)} ms, max ${timings[9]!.toFixed(1)} ms over 10 calls`,
  );
} finally {
  await server.stop();
  await fs.rm(dataDir, { recursive: true, force: true });
}
