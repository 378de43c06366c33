/**
 * Shadow traffic benchmark: production latency of a one-row digits-mlp request with shadowing
 * off and with every request also run on the staging version (digits-mlp-v2), under the same
 * load: autocannon keeps the same number of connections busy in both runs. Prints a Markdown
 * table; docs/benchmarks.md records the results.
 *
 * Run: npm run bench:shadow [-- --seconds 10 --connections 1,4,16]
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { EXAMPLES } from '../test/support/paths.js';
import { spawnServer } from '../test/support/process.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    connections: { type: 'string', default: '1,4,16' },
  },
});
const seconds = Number(values.seconds);
const connectionCounts = values.connections.split(',').map(Number);

const request = JSON.parse(
  await fs.readFile(path.join(EXAMPLES, 'digits-mlp/requests/request.json'), 'utf8'),
);
const body = JSON.stringify({
  inputs: [
    {
      name: 'pixels',
      datatype: 'FP32',
      shape: [1, 64],
      data: (request.inputs[0].data as number[]).slice(0, 64),
    },
  ],
});

type Row = Record<string, string | number>;

/**
 * Runs autocannon and computes percentiles from every response time, in fractions of a
 * millisecond: its own latency histogram rounds to whole milliseconds.
 */
async function measure(url: string, connections: number): Promise<Row> {
  const options = {
    url: `${url}/v2/models/digits-mlp/infer`,
    method: 'POST' as const,
    headers: { 'content-type': 'application/json' },
    body,
    connections,
  };
  await autocannon({ ...options, duration: 2 });
  const latencies: number[] = [];
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon({ ...options, duration: seconds }, (error, done) =>
      error ? reject(error) : resolve(done),
    );
    instance.on('response', (_client, _status, _bytes, responseTime) => {
      latencies.push(responseTime);
    });
  });
  latencies.sort((a, b) => a - b);
  const at = (p: number) =>
    latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))]!;
  return {
    'requests/s': Math.round(result.requests.average),
    'p50 ms': Number(at(0.5).toFixed(2)),
    'p99 ms': Number(at(0.99).toFixed(2)),
    errors: result.errors + result.non2xx,
  };
}

async function setShadow(url: string, percent: number): Promise<void> {
  const response = await fetch(`${url}/api/v1/models/digits-mlp/staging`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ shadow_percent: percent }),
  });
  if (!response.ok) throw new Error(`setting the shadow share failed: ${await response.text()}`);
}

interface ShadowCounts {
  compared: number;
  dropped: number;
}

/** Reads the shadow counts once no shadow request is pending, or after 10 s. */
async function shadowCounts(url: string): Promise<ShadowCounts> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const response = await fetch(`${url}/api/v1/models/digits-mlp/comparison`);
    const { shadow } = (await response.json()) as {
      shadow: { compared: number; pending: number; dropped: Record<string, number> };
    };
    if (shadow.pending === 0 || Date.now() > deadline) {
      const dropped = Object.values(shadow.dropped).reduce((sum, count) => sum + count, 0);
      return { compared: shadow.compared, dropped };
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'steward-bench-'));
const server = await spawnServer(['--data-dir', dataDir, '--seed-examples', EXAMPLES]);
const rows: Row[] = [];
try {
  for (const connections of connectionCounts) {
    for (const percent of [0, 100]) {
      await setShadow(server.url, percent);
      const before = await shadowCounts(server.url);
      const row = await measure(server.url, connections);
      const after = await shadowCounts(server.url);
      rows.push({
        connections,
        shadow: `${percent}%`,
        ...row,
        'shadow compared': after.compared - before.compared,
        'shadow dropped': after.dropped - before.dropped,
      });
    }
  }
} finally {
  server.child.kill('SIGTERM');
  await server.exited;
  await fs.rm(dataDir, { recursive: true, force: true });
}

const headers = Object.keys(rows[0]!);
console.log(`| ${headers.join(' | ')} |`);
console.log(`| ${headers.map(() => '---').join(' | ')} |`);
for (const row of rows) console.log(`| ${headers.map((h) => row[h]).join(' | ')} |`);
console.log(
  `\n${os.cpus().length} cores, ${os.cpus()[0]?.model ?? 'unknown CPU'}, Node ${process.version}, ` +
    `${seconds} s per run after a 2 s warm-up`,
);
