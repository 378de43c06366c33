/**
 * Promotion under load: four client loops send digits requests to `digits-mlp` while
 * `production` moves between versions 1 and 2 ten times. Prints the requests served by each
 * version, the failed requests (expected: none) and the time each switch took.
 *
 * Run: npm run build && MALLOC_MMAP_THRESHOLD_=131072 node dist/bench/promotion.js
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startServer } from '../src/cli/serve.js';
import { resolveConfig } from '../src/config/config.js';
import { EXAMPLES } from '../test/support/paths.js';

const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'steward-bench-promotion-'));
const server = await startServer(resolveConfig({ dataDir, port: 0, logLevel: 'silent' }, {}));
try {
  for (const [file, alias] of [
    ['digits-mlp/model.onnx', 'production'],
    ['digits-mlp-v2/model.onnx', 'staging'],
  ] as const) {
    const response = await fetch(`${server.url}/api/v1/models/digits-mlp/versions?alias=${alias}`, {
      method: 'POST',
      body: await fs.readFile(path.join(EXAMPLES, file)),
      headers: { 'content-type': 'application/octet-stream' },
    });
    if (response.status !== 201) throw new Error(`upload failed: ${await response.text()}`);
  }
  const body = await fs.readFile(path.join(EXAMPLES, 'digits-mlp/requests/request.json'), 'utf8');
  const served: Record<string, number> = {};
  const failures: string[] = [];
  let running = true;
  const clients = Array.from({ length: 4 }, async () => {
    while (running) {
      const response = await fetch(`${server.url}/v2/models/digits-mlp/infer`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      });
      const result = (await response.json()) as { model_version?: string; error?: string };
      if (response.status !== 200) failures.push(`${response.status} ${result.error}`);
      else served[result.model_version!] = (served[result.model_version!] ?? 0) + 1;
    }
  });
  const switches: number[] = [];
  for (let round = 0; round < 10; round += 1) {
    await new Promise((resolve) => setTimeout(resolve, 300));
    const started = performance.now();
    const moved = await fetch(`${server.url}/api/v1/models/digits-mlp/aliases/production`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ version: round % 2 === 0 ? 2 : 1 }),
    });
    if (moved.status !== 200) throw new Error(`switch failed: ${await moved.text()}`);
    switches.push(performance.now() - started);
  }
  await new Promise((resolve) => setTimeout(resolve, 300));
  running = false;
  await Promise.all(clients);
  const total = Object.values(served).reduce((sum, count) => sum + count, 0);
  console.log(`requests served: ${total} (by version: ${JSON.stringify(served)})`);
  console.log(
    `failed requests: ${failures.length}${failures.length ? ` e.g. ${failures[0]}` : ''}`,
  );
  console.log(`switch time ms: ${switches.map((ms) => ms.toFixed(1)).join(', ')}`);
} finally {
  await server.stop();
  await fs.rm(dataDir, { recursive: true, force: true });
}
