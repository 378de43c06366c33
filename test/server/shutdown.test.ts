import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import { describe, it } from 'node:test';
import { call, infer, push } from '../support/http.js';
import { slowLoadModel, slowRunModel } from '../support/onnx-builder.js';
import { spawnServer } from '../support/process.js';
import { makeDataDir } from '../support/server.js';

describe('graceful shutdown', () => {
  it('finishes requests in flight, flushes usage and exits 0 on SIGTERM', async () => {
    const dataDir = await makeDataDir();
    try {
      const server = await spawnServer(['--data-dir', dataDir, '--usage-flush-interval', '1h']);
      assert.equal((await push(server.url, 'slow', slowRunModel(1024, 40))).status, 201);
      const body = { inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 1], data: [1] }] };
      assert.equal((await infer(server.url, 'slow', body)).status, 200);

      const inFlight = infer(server.url, 'slow', body);
      await new Promise((resolve) => setTimeout(resolve, 150));
      server.child.kill('SIGTERM');
      const response = await inFlight;
      assert.equal(response.status, 200, JSON.stringify(response.body));
      assert.equal(await server.exited, 0);
      const messages = server.logs.map((entry) => entry.msg);
      assert.ok(messages.includes('shutdown requested; draining requests in flight'));
      assert.ok(messages.includes('steward stopped'));

      const restarted = await spawnServer(['--data-dir', dataDir]);
      try {
        const version = await call(`${restarted.url}/api/v1/models/slow/versions/1`);
        assert.equal(version.body.usage.requests, 2);
        assert.equal(version.body.usage.successes, 2);
      } finally {
        restarted.child.kill('SIGTERM');
        assert.equal(await restarted.exited, 0);
      }
    } finally {
      await fs.rm(dataDir, { recursive: true, force: true });
    }
  });

  it('drains once when SIGINT comes twice', async () => {
    const dataDir = await makeDataDir();
    try {
      const server = await spawnServer(['--data-dir', dataDir, '--usage-flush-interval', '1h']);
      assert.equal((await push(server.url, 'slow', slowRunModel(1024, 40))).status, 201);
      const body = { inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 1], data: [1] }] };
      const inFlight = infer(server.url, 'slow', body);
      await new Promise((resolve) => setTimeout(resolve, 150));
      // Ctrl-C under npm start: one SIGINT from the terminal, one passed on by npm.
      server.child.kill('SIGINT');
      await new Promise((resolve) => setTimeout(resolve, 5));
      server.child.kill('SIGINT');
      const response = await inFlight;
      assert.equal(response.status, 200, JSON.stringify(response.body));
      assert.equal(await server.exited, 0);
      const messages = server.logs.map((entry) => entry.msg);
      assert.ok(
        messages.includes('shutdown already in progress; send SIGKILL to stop without draining'),
      );
      assert.ok(messages.includes('steward stopped'));
      await assert.rejects(fs.access(`${dataDir}/steward.lock`), { code: 'ENOENT' });

      const restarted = await spawnServer(['--data-dir', dataDir]);
      try {
        const version = await call(`${restarted.url}/api/v1/models/slow/versions/1`);
        assert.equal(version.body.usage.requests, 1, 'usage was written at the stop');
      } finally {
        restarted.child.kill('SIGTERM');
        assert.equal(await restarted.exited, 0);
      }
    } finally {
      await fs.rm(dataDir, { recursive: true, force: true });
    }
  });

  it('exits 0 on SIGTERM while an upload is being checked', async () => {
    const dataDir = await makeDataDir();
    try {
      const server = await spawnServer(['--data-dir', dataDir]);
      const upload = push(server.url, 'slow', slowLoadModel(1024, 60)).catch(
        (error: Error) => error,
      );
      await new Promise((resolve) => setTimeout(resolve, 400));
      server.child.kill('SIGTERM');
      assert.equal(await server.exited, 0);
      const result = await upload;
      if (!(result instanceof Error)) assert.equal(result.status, 201, JSON.stringify(result.body));
    } finally {
      await fs.rm(dataDir, { recursive: true, force: true });
    }
  });

  it('refuses to start on a public address without a token', async () => {
    const dataDir = await makeDataDir();
    try {
      await assert.rejects(
        spawnServer(['--data-dir', dataDir, '--host', '0.0.0.0']),
        /refusing to listen on 0\.0\.0\.0 without an admin token/,
      );
    } finally {
      await fs.rm(dataDir, { recursive: true, force: true });
    }
  });
});
