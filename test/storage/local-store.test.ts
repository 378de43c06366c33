import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { LocalArtifactStore } from '../../src/storage/local-store.js';
import { makeDataDir } from '../support/server.js';

describe('local artifact store', () => {
  let root: string;
  let store: LocalArtifactStore;
  const bytes = Buffer.from('model bytes for the store test');
  const sha256 = createHash('sha256').update(bytes).digest('hex');

  before(async () => {
    root = await makeDataDir();
    store = new LocalArtifactStore(root);
    await store.init();
  });

  after(async () => {
    await fs.rm(root, { recursive: true, force: true });
  });

  it('hashes while staging and commits under the sha256', async () => {
    const staged = await store.stage(
      Readable.from([bytes.subarray(0, 5), bytes.subarray(5)]),
      1000,
    );
    assert.equal(staged.sha256, sha256);
    assert.equal(staged.sizeBytes, bytes.length);
    const file = await store.commit(staged);
    assert.equal(file, path.join(root, 'sha256', sha256.slice(0, 2), sha256));
    assert.deepEqual(await fs.readFile(file), bytes);
    assert.deepEqual(await fs.readdir(path.join(root, 'tmp')), []);
    assert.equal(await store.diskUsage(), bytes.length);
  });

  it('verifies the checksum on open', async () => {
    assert.equal(await store.open(sha256), store.pathOf(sha256));
    await fs.writeFile(store.pathOf(sha256), 'tampered');
    await assert.rejects(store.open(sha256), /is corrupted: its sha256 is now/);
  });

  it('repairs a corrupted artifact when the same bytes are committed again', async () => {
    const staged = await store.stage(Readable.from([bytes]), 1000);
    await store.commit(staged);
    assert.equal(await store.open(sha256), store.pathOf(sha256));
  });

  it('rejects a stream above the limit and leaves no staged file', async () => {
    await assert.rejects(
      store.stage(Readable.from([Buffer.alloc(2000)]), 1000),
      /exceeds the upload limit of 1000 bytes/,
    );
    assert.deepEqual(await fs.readdir(path.join(root, 'tmp')), []);
  });

  it('names a missing artifact', async () => {
    await assert.rejects(store.open('f'.repeat(64)), /artifact f+ is missing/);
  });

  it('removes staged files left by a crash on start', async () => {
    await fs.writeFile(path.join(root, 'tmp', 'left-over.part'), 'partial');
    await new LocalArtifactStore(root).init();
    assert.deepEqual(await fs.readdir(path.join(root, 'tmp')), []);
  });
});
