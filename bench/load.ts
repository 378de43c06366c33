/**
 * Cold-load benchmark: starts a server with an empty registry in a child process, uploads each
 * example model and a generated one with 16 MiB of weights, then loads each explicitly. For
 * each model it prints the load time and the memory that the server measured. Beside them it
 * prints how much the child's resident memory grew across the load call, and how much it fell
 * when the version was unloaded right after.
 * docs/benchmarks.md records the results.
 *
 * Run: npm run build && MALLOC_MMAP_THRESHOLD_=131072 node dist/bench/load.js
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { largeModel } from '../test/support/onnx-builder.js';
import { EXAMPLES } from '../test/support/paths.js';
import { spawnServer } from '../test/support/process.js';

const KIB = 1024;
const examples = [
  'digits-mlp',
  'digits-mlp-v2',
  'digits-cnn',
  'breast-cancer-logreg',
  'iris-multi-io',
];

/** Reads the resident set size of a process from /proc, in bytes. */
async function rssOf(pid: number): Promise<number> {
  const status = await fs.readFile(`/proc/${pid}/status`, 'utf8');
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  if (!match) throw new Error(`no VmRSS line in /proc/${pid}/status`);
  return Number(match[1]) * KIB;
}

const uploads: Array<[string, Buffer]> = [];
for (const name of examples) {
  uploads.push([name, await fs.readFile(path.join(EXAMPLES, name, 'model.onnx'))]);
}
// The examples weigh tens of KiB, less than the noise of a process's RSS, so a generated model
// with 16 MiB of weights shows how close the measurement comes.
uploads.push(['weights-16mib', largeModel(16, 7)]);

const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'steward-bench-load-'));
const server = await spawnServer(['--data-dir', dataDir, '--workers', '1']);
const pid = server.child.pid!;
try {
  console.log(
    '| model | file KiB | cold load ms | measured memory KiB | RSS growth at load KiB | RSS fall at unload KiB |',
  );
  console.log('| --- | --- | --- | --- | --- | --- |');
  for (const [name, bytes] of uploads) {
    const upload = await fetch(`${server.url}/api/v1/models/${name}/versions`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: bytes,
    });
    if (upload.status !== 201) throw new Error(`upload of ${name} failed: ${await upload.text()}`);
    // Lets the upload's buffers settle before the reading.
    await sleep(500);
    const before = await rssOf(pid);
    const load = await fetch(`${server.url}/api/v1/models/${name}/versions/1/load`, {
      method: 'POST',
    });
    await load.text();
    if (load.status !== 200) throw new Error(`load of ${name} failed with ${load.status}`);
    const loaded = await rssOf(pid);
    const version = (await (
      await fetch(`${server.url}/api/v1/models/${name}/versions/1`)
    ).json()) as {
      load: { load_ms: number; memory_bytes: number };
    };
    // The unload gives back the model's own memory, without the one-time growth that the
    // first large load in a process adds.
    const unload = await fetch(`${server.url}/api/v1/models/${name}/versions/1/unload`, {
      method: 'POST',
    });
    await unload.text();
    if (unload.status !== 200) throw new Error(`unload of ${name} failed with ${unload.status}`);
    await sleep(200);
    const freed = loaded - (await rssOf(pid));
    const kib = (value: number) => (value / KIB).toFixed(0);
    console.log(
      `| ${name} | ${kib(bytes.length)} | ${version.load.load_ms} | ${kib(version.load.memory_bytes)} | ${kib(loaded - before)} | ${kib(freed)} |`,
    );
  }
  console.log(
    `\none worker thread; ${os.cpus().length} cores, Node ${process.version}; server RSS ${Math.round((await rssOf(pid)) / KIB / KIB)} MiB at the end`,
  );
} finally {
  server.child.kill('SIGTERM');
  await server.exited;
  await fs.rm(dataDir, { recursive: true, force: true });
}
