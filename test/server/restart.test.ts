import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { call, infer, push, readJson } from '../support/http.js';
import { EXAMPLES, example } from '../support/paths.js';
import { startTestServer } from '../support/server.js';

describe('restart', () => {
  it('keeps the registry, aliases and usage figures', async () => {
    const first = await startTestServer();
    const dataDir = first.dataDir;
    try {
      await push(first.url, 'digits', example('digits-mlp'), { alias: 'production' });
      await push(first.url, 'digits', example('digits-mlp-v2'));
      const request = await readJson(example('digits-mlp', 'requests/request.json'));
      for (let i = 0; i < 3; i += 1)
        assert.equal((await infer(first.url, 'digits', request)).status, 200);
      assert.equal((await infer(first.url, 'digits', { inputs: [] })).status, 400);
      const before = await call(`${first.url}/api/v1/models/digits`);
      await first.stop();

      const second = await startTestServer({ dataDir });
      try {
        const after = await call(`${second.url}/api/v1/models/digits`);
        assert.deepEqual(after.body.aliases, { production: 1 });
        assert.equal(after.body.versions.length, 2);
        const v1 = after.body.versions[0];
        const v1Before = before.body.versions[0];
        assert.equal(v1.usage.requests, 4);
        assert.equal(v1.usage.successes, 3);
        assert.equal(v1.usage.client_errors, 1);
        assert.equal(v1.usage.last_used_at, v1Before.usage.last_used_at);
        assert.equal(v1.usage.first_used_at, v1Before.usage.first_used_at);
        assert.equal(v1.usage.latency_ms.p95, v1Before.usage.latency_ms.p95);
        assert.equal(v1.status, 'healthy');
        assert.equal(after.body.versions[1].status, 'never used');
        assert.equal(after.body.versions[1].usage.last_used_at, null);

        // A load after the restart shows the last use from before it, as the model list does.
        const load = await call(`${second.url}/api/v1/models/digits/versions/1/load`, {
          method: 'POST',
        });
        assert.equal(load.status, 200);
        const loaded = await call(`${second.url}/api/v1/loaded`);
        assert.equal(loaded.body.versions[0].last_used_at, v1Before.usage.last_used_at);

        // Usage keeps adding up after the restart.
        assert.equal((await infer(second.url, 'digits', request)).status, 200);
        const later = await call(`${second.url}/api/v1/models/digits/versions/1`);
        assert.equal(later.body.usage.requests, 5);

        // Version numbers continue after the highest ever given.
        const third = await push(second.url, 'digits', example('digits-cnn'));
        assert.equal(third.body.version, 3);
      } finally {
        await second.stop();
      }
    } finally {
      await fs.rm(dataDir, { recursive: true, force: true });
    }
  });

  it('registers the examples only on the first start', async () => {
    const first = await startTestServer({ seedExamplesDir: EXAMPLES });
    const dataDir = first.dataDir;
    try {
      const listing = await call(`${first.url}/api/v1/models`);
      const names = listing.body.models.map((model: { name: string }) => model.name);
      assert.deepEqual(names, [
        'breast-cancer-logreg',
        'digits-cnn',
        'digits-mlp',
        'iris-multi-io',
      ]);
      const digits = listing.body.models.find(
        (model: { name: string }) => model.name === 'digits-mlp',
      );
      assert.deepEqual(digits.aliases, { production: 1, staging: 2 });
      const request = await readJson(example('digits-mlp', 'requests/request.json'));
      const expected = await readJson(example('digits-mlp', 'requests/expected.json'));
      const response = await infer(first.url, 'digits-mlp', request);
      assert.equal(response.body.model_version, '1');
      const difference = Math.max(
        ...response.body.outputs[0].data.map((value: number, i: number) =>
          Math.abs(value - expected.outputs[0].data[i]),
        ),
      );
      assert.ok(difference < 1e-4, `largest difference ${difference}`);
      await first.stop();

      const second = await startTestServer({ dataDir, seedExamplesDir: EXAMPLES });
      try {
        const again = await call(`${second.url}/api/v1/models/digits-mlp`);
        assert.equal(again.body.versions.length, 2);
      } finally {
        await second.stop();
      }
    } finally {
      await fs.rm(dataDir, { recursive: true, force: true });
    }
  });

  it('removes artifacts that no version uses', async () => {
    const first = await startTestServer();
    const dataDir = first.dataDir;
    try {
      const pushed = await push(first.url, 'digits', example('digits-mlp'));
      assert.equal(pushed.status, 201);
      await first.stop();

      // What a crash between an artifact's commit and its version row leaves behind.
      const bytes = Buffer.from('bytes of an upload whose version row was never written');
      const orphan = createHash('sha256').update(bytes).digest('hex');
      const orphanFile = path.join(dataDir, 'artifacts', 'sha256', orphan.slice(0, 2), orphan);
      await fs.mkdir(path.dirname(orphanFile), { recursive: true });
      await fs.writeFile(orphanFile, bytes);
      const orphanFolder = path.join(dataDir, 'artifacts', 'unpacked', orphan);
      await fs.mkdir(orphanFolder, { recursive: true });
      await fs.writeFile(path.join(orphanFolder, 'model.json'), '{}');

      const second = await startTestServer({ dataDir });
      try {
        await assert.rejects(fs.access(orphanFile), { code: 'ENOENT' });
        await assert.rejects(fs.access(orphanFolder), { code: 'ENOENT' });
        const sha = pushed.body.sha256 as string;
        await fs.access(path.join(dataDir, 'artifacts', 'sha256', sha.slice(0, 2), sha));
        const report = await call(`${second.url}/api/v1/report`);
        assert.equal(report.body.totals.disk_used_bytes, pushed.body.size_bytes);
        const request = await readJson(example('digits-mlp', 'requests/request.json'));
        assert.equal((await infer(second.url, 'digits', request)).status, 200);
      } finally {
        await second.stop();
      }
    } finally {
      await fs.rm(dataDir, { recursive: true, force: true });
    }
  });
});
