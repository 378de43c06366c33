import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { runCli } from '../support/process.js';
import { makeDataDir, startTestServer } from '../support/server.js';

describe('data folder lock', () => {
  const folders: string[] = [];

  after(async () => {
    for (const folder of folders) await fs.rm(folder, { recursive: true, force: true });
  });

  it('rejects a second server on one folder', async () => {
    const server = await startTestServer();
    folders.push(server.dataDir);
    try {
      const lock = JSON.parse(await fs.readFile(path.join(server.dataDir, 'steward.lock'), 'utf8'));
      assert.equal(lock.pid, process.pid);

      const second = await runCli(['serve', '--port', '0', '--data-dir', server.dataDir]);
      assert.equal(second.code, 1);
      assert.match(
        second.stderr,
        new RegExp(`is in use by another Steward server \\(pid ${process.pid} on `),
      );
      assert.match(second.stderr, /start this one with another --data-dir/);
      await assert.rejects(startTestServer({ dataDir: server.dataDir }), /is in use by another/);

      // The rejected starts left the running server's registry and lock as they were.
      const models = await fetch(`${server.url}/api/v1/models`);
      assert.equal(models.status, 200);
      await fs.access(path.join(server.dataDir, 'steward.lock'));
    } finally {
      await server.stop();
    }
    await assert.rejects(fs.access(path.join(server.dataDir, 'steward.lock')), { code: 'ENOENT' });
  });

  it('replaces the lock of a stopped process', async () => {
    const dataDir = await makeDataDir();
    folders.push(dataDir);
    // A process that has exited leaves its id unused, as a server killed with SIGKILL would.
    const exited = spawnSync(process.execPath, ['-e', 'process.exit(0)']);
    assert.ok(exited.pid > 0);
    const stale = { pid: exited.pid, hostname: os.hostname(), started_at: '2026-01-01T00:00:00Z' };
    await fs.writeFile(path.join(dataDir, 'steward.lock'), JSON.stringify(stale));

    const server = await startTestServer({ dataDir });
    try {
      const lock = JSON.parse(await fs.readFile(path.join(dataDir, 'steward.lock'), 'utf8'));
      assert.equal(lock.pid, process.pid);
    } finally {
      await server.stop();
    }
  });

  it('replaces an empty lock file', async () => {
    const dataDir = await makeDataDir();
    folders.push(dataDir);
    await fs.writeFile(path.join(dataDir, 'steward.lock'), '');
    const server = await startTestServer({ dataDir });
    await server.stop();
  });
});
