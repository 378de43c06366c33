/**
 * Inference benchmark: a one-row digits-mlp request at 16 connections (autocannon) against
 * a Steward server in a child process with shadow traffic off, next to onnxruntime-node
 * running the same request in this process. Prints a Markdown table; docs/benchmarks.md
 * records the results.
 *
 * Run: npm run bench [-- --seconds 10 --connections 16]
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import ort from 'onnxruntime-node';
import { EXAMPLES } from '../test/support/paths.js';
import { spawnServer } from '../test/support/process.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    connections: { type: 'string', default: '16' },
  },
});
const seconds = Number(values.seconds);
const connections = Number(values.connections);

const request = JSON.parse(
  await fs.readFile(path.join(EXAMPLES, 'digits-mlp/requests/request.json'), 'utf8'),
);
const oneRow = (request.inputs[0].data as number[]).slice(0, 64);
const body = JSON.stringify({
  inputs: [{ name: 'pixels', datatype: 'FP32', shape: [1, 64], data: oneRow }],
});

async function benchServer(): Promise<Record<string, string | number>> {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'steward-bench-'));
  // The examples give digits-mlp a staging version, and shadowing would double the work per
  // request; bench/shadow.ts measures that cost on its own.
  const server = await spawnServer([
    '--data-dir',
    dataDir,
    '--seed-examples',
    EXAMPLES,
    '--shadow-percent',
    '0',
  ]);
  try {
    const url = `${server.url}/v2/models/digits-mlp/infer`;
    const options = {
      url,
      method: 'POST' as const,
      headers: { 'content-type': 'application/json' },
      body,
      connections,
    };
    await autocannon({ ...options, duration: 2 });
    const result = await autocannon({ ...options, duration: seconds });
    return {
      setup: `Steward HTTP, ${connections} connections`,
      'requests/s': Math.round(result.requests.average),
      'p50 ms': result.latency.p50,
      'p99 ms': result.latency.p99,
      errors: result.errors + result.non2xx,
    };
  } finally {
    server.child.kill('SIGTERM');
    await server.exited;
    await fs.rm(dataDir, { recursive: true, force: true });
  }
}

async function benchInProcess(): Promise<Record<string, string | number>> {
  const session = await ort.InferenceSession.create(path.join(EXAMPLES, 'digits-mlp/model.onnx'), {
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
  });
  const input = new ort.Tensor('float32', Float32Array.from(oneRow), [1, 64]);
  const latencies: number[] = [];
  const until = performance.now() + seconds * 1000;
  while (performance.now() < until) {
    const started = performance.now();
    await session.run({ pixels: input });
    latencies.push(performance.now() - started);
  }
  latencies.sort((a, b) => a - b);
  const at = (p: number) =>
    latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))]!;
  return {
    setup: 'onnxruntime-node in process, sequential',
    'requests/s': Math.round(latencies.length / seconds),
    'p50 ms': Number(at(0.5).toFixed(4)),
    'p99 ms': Number(at(0.99).toFixed(4)),
    errors: 0,
  };
}

const rows = [await benchServer(), await benchInProcess()];
const headers = Object.keys(rows[0]!);
console.log(`| ${headers.join(' | ')} |`);
console.log(`| ${headers.map(() => '---').join(' | ')} |`);
for (const row of rows) console.log(`| ${headers.map((h) => row[h]).join(' | ')} |`);
console.log(
  `\n${os.cpus().length} cores, ${os.cpus()[0]?.model ?? 'unknown CPU'}, Node ${process.version}, ${seconds} s per run`,
);
