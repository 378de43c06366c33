/**
 * Cold-load benchmark: starts an in-process server with an empty registry, uploads each example
 * model, then loads it explicitly. For each model it prints the load time the server
 * measured, the memory it measured for the version, and how much the process's resident memory
 * grew across the load call. docs/benchmarks.md records the results.
 *
 * Run: npm run build && MALLOC_MMAP_THRESHOLD_=131072 node --expose-gc dist/bench/load.js
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startServer } from '../src/cli/serve.js';
import { resolveConfig } from '../src/config/config.js';
import { EXAMPLES } from '../test/support/paths.js';

const MIB = 1024 * 1024;
const models = [
  'digits-mlp',
  'digits-mlp-v2',
  'digits-cnn',
  'breast-cancer-logreg',
  'iris-multi-io',
];

const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'steward-bench-load-'));
const config = resolveConfig({ dataDir, port: 0, logLevel: 'silent', workers: 1 }, {});
const server = await startServer(config);
try {
  console.log('| model | file KiB | cold load ms | measured memory KiB | process RSS growth KiB |');
  console.log('| --- | --- | --- | --- | --- |');
  for (const name of models) {
    const file = path.join(EXAMPLES, name, 'model.onnx');
    const bytes = await fs.readFile(file);
    const upload = await fetch(`${server.url}/api/v1/models/${name}/versions`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: bytes,
    });
    if (upload.status !== 201) throw new Error(`upload of ${name} failed: ${await upload.text()}`);
    global.gc?.();
    const before = process.memoryUsage.rss();
    const load = await fetch(`${server.url}/api/v1/models/${name}/versions/1/load`, {
      method: 'POST',
    });
    await load.text();
    const growth = process.memoryUsage.rss() - before;
    if (load.status !== 200) throw new Error(`load of ${name} failed with ${load.status}`);
    const version = (await (
      await fetch(`${server.url}/api/v1/models/${name}/versions/1`)
    ).json()) as {
      load: { load_ms: number; memory_bytes: number };
    };
    const kib = (value: number) => (value / 1024).toFixed(0);
    console.log(
      `| ${name} | ${kib(bytes.length)} | ${version.load.load_ms} | ${kib(version.load.memory_bytes)} | ${kib(growth)} |`,
    );
  }
  console.log(
    `\none worker thread; ${os.cpus().length} cores, Node ${process.version}; RSS ${(process.memoryUsage.rss() / MIB).toFixed(0)} MiB at the end`,
  );
} finally {
  await server.stop();
  await fs.rm(dataDir, { recursive: true, force: true });
}
