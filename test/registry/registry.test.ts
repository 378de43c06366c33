import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import SqliteDatabase from 'better-sqlite3';
import type { NewVersion } from '../../src/registry/models.js';
import { Registry } from '../../src/registry/registry.js';
import { LIVE_USAGE, SHADOW_USAGE } from '../../src/registry/usage.js';
import { makeDataDir } from '../support/server.js';

function newVersion(model: string, sha: string): NewVersion {
  return {
    model,
    format: 'onnx',
    sha256: createHash('sha256').update(sha).digest('hex'),
    sizeBytes: 10,
    signature: { inputs: [], outputs: [] },
    sourceName: 'model.onnx',
    description: '',
    createdAt: new Date().toISOString(),
  };
}

describe('registry', () => {
  let dataDir: string;
  let registry: Registry;

  before(async () => {
    dataDir = await makeDataDir();
    registry = await Registry.openSqlite(dataDir);
  });

  after(async () => {
    await registry.close();
    await fs.rm(dataDir, { recursive: true, force: true });
  });

  it('never reuses a version number after a delete', async () => {
    const first = await registry.models.insertVersion(newVersion('m', 'a1'));
    const second = await registry.models.insertVersion(newVersion('m', 'a2'));
    assert.deepEqual([first.record.version, second.record.version], [1, 2]);
    await registry.models.deleteVersion('m', 2);
    const third = await registry.models.insertVersion(newVersion('m', 'a3'));
    assert.equal(third.record.version, 3);
    const again = await registry.models.insertVersion(newVersion('m', 'a2'));
    assert.equal(again.record.version, 4);
  });

  it('gives concurrent inserts distinct consecutive numbers', async () => {
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) => registry.models.insertVersion(newVersion('c', `c${i}`))),
    );
    const numbers = results.map((result) => result.record.version).sort((a, b) => a - b);
    assert.deepEqual(
      numbers,
      Array.from({ length: 40 }, (_, i) => i + 1),
    );
  });

  it('returns the existing version for a repeated sha256', async () => {
    const results = await Promise.all(
      Array.from({ length: 5 }, () => registry.models.insertVersion(newVersion('d', 'same'))),
    );
    assert.deepEqual(
      results.map((result) => result.record.version),
      [1, 1, 1, 1, 1],
    );
    assert.equal(results.filter((result) => result.created).length, 1);
    const next = await registry.models.insertVersion(newVersion('d', 'other'));
    assert.equal(next.record.version, 2);
  });

  it('keeps one version per alias and records every change', async () => {
    await registry.aliases.set('m', 'production', 1, 'alice', 'first', '2026-01-01T00:00:00.000Z');
    await registry.aliases.set('m', 'production', 3, 'bob', 'better', '2026-01-02T00:00:00.000Z');
    const unchanged = await registry.aliases.set(
      'm',
      'production',
      3,
      'bob',
      '',
      '2026-01-03T00:00:00.000Z',
    );
    assert.equal(unchanged, undefined);
    const aliases = await registry.aliases.list('m');
    assert.deepEqual(
      aliases.map((alias) => [alias.alias, alias.version]),
      [['production', 3]],
    );
    const history = await registry.aliases.history('m');
    assert.deepEqual(
      history.map((change) => [change.fromVersion, change.toVersion, change.actor]),
      [
        [1, 3, 'bob'],
        [null, 1, 'alice'],
      ],
    );
  });

  it('drops aliases of a deleted version', async () => {
    await registry.models.deleteVersion('m', 3);
    assert.deepEqual(await registry.aliases.list('m'), []);
  });

  it('adds usage deltas to the stored totals', async () => {
    const delta = {
      model: 'u',
      version: 1,
      requests: 3,
      badRequests: 0,
      modelErrors: 1,
      timeouts: 1,
      unavailable: 0,
      bytesIn: 300,
      bytesOut: 100,
      inferenceCount: 4,
      executionCount: 1,
      invalidResponses: 1,
      latencySumMs: 30,
      firstUsedAt: '2026-01-01T00:00:00.000Z',
      lastUsedAt: '2026-01-01T00:00:05.000Z',
      buckets: new Map([[40, 3]]),
      stages: new Map([['success', { count: 1, ns: 2_000_000 }]]),
      violations: new Map([['nan', 1]]),
    };
    await registry.usage.addDeltas([delta]);
    await registry.usage.addDeltas([
      {
        ...delta,
        requests: 2,
        firstUsedAt: '2026-01-02T00:00:00.000Z',
        lastUsedAt: '2026-01-02T00:00:00.000Z',
      },
    ]);
    const [stored] = await registry.usage.loadAll();
    assert.equal(stored!.requests, 5);
    assert.equal(stored!.modelErrors, 2);
    assert.equal(stored!.timeouts, 2);
    assert.equal(stored!.bytesIn, 600);
    assert.equal(stored!.inferenceCount, 8);
    assert.equal(stored!.invalidResponses, 2);
    assert.equal(stored!.firstUsedAt, '2026-01-01T00:00:00.000Z');
    assert.equal(stored!.lastUsedAt, '2026-01-02T00:00:00.000Z');
    assert.equal(stored!.buckets.get(40), 6);
    assert.deepEqual(stored!.stages.get('success'), { count: 2, ns: 4_000_000 });
    assert.equal(stored!.violations.get('nan'), 2);
  });

  it('keeps only the newest violation samples', async () => {
    const sample = (index: number) => ({
      model: 's',
      version: 1,
      recordedAt: `2026-01-01T00:00:0${index}.000Z`,
      violations: [{ kind: 'nan', output: 'y', message: `sample ${index}` }],
      inputs: [],
      outputs: [],
    });
    await registry.usage.addDeltas([], [sample(1), sample(2)], 3);
    await registry.usage.addDeltas([], [sample(3), sample(4)], 3);
    const kept = await registry.usage.samples('s', 1);
    assert.deepEqual(
      kept.map((entry) => entry.recordedAt),
      ['2026-01-01T00:00:04.000Z', '2026-01-01T00:00:03.000Z', '2026-01-01T00:00:02.000Z'],
    );
  });

  it('stores shadow usage in tables shaped like live usage', () => {
    const database = new SqliteDatabase(path.join(dataDir, 'registry.sqlite'), { readonly: true });
    // By name: the live tables got some columns from a later migration, so their order differs.
    const columns = (table: string) =>
      database
        .prepare(
          'select name, type, "notnull", dflt_value, pk from pragma_table_info(?) order by name',
        )
        .all(table);
    try {
      for (const kind of ['totals', 'buckets', 'stages', 'violations'] as const) {
        const live = columns(LIVE_USAGE[kind]);
        assert.ok(live.length > 0, `${LIVE_USAGE[kind]} exists`);
        assert.deepEqual(columns(SHADOW_USAGE[kind]), live, `${SHADOW_USAGE[kind]} columns`);
      }
    } finally {
      database.close();
    }
  });

  it('adds shadow usage apart from live usage', async () => {
    const delta = {
      model: 'shadowed',
      version: 2,
      requests: 4,
      badRequests: 0,
      modelErrors: 1,
      timeouts: 0,
      unavailable: 1,
      bytesIn: 400,
      bytesOut: 0,
      inferenceCount: 2,
      executionCount: 2,
      invalidResponses: 1,
      latencySumMs: 8,
      firstUsedAt: '2026-01-01T00:00:00.000Z',
      lastUsedAt: '2026-01-01T00:00:05.000Z',
      buckets: new Map([[30, 2]]),
      stages: new Map([['success', { count: 2, ns: 8_000_000 }]]),
      violations: new Map([['nan', 1]]),
    };
    await registry.shadowUsage.addDeltas([delta]);
    const [stored] = (await registry.shadowUsage.loadAll()).filter(
      (usage) => usage.model === 'shadowed',
    );
    assert.equal(stored!.requests, 4);
    assert.equal(stored!.unavailable, 1);
    assert.equal(stored!.buckets.get(30), 2);
    assert.deepEqual(stored!.stages.get('success'), { count: 2, ns: 8_000_000 });
    assert.equal(stored!.violations.get('nan'), 1);
    const live = await registry.usage.loadAll();
    assert.equal(live.filter((usage) => usage.model === 'shadowed').length, 0);

    await registry.shadowUsage.deleteVersion('shadowed', 2);
    const left = await registry.shadowUsage.loadAll();
    assert.equal(left.filter((usage) => usage.model === 'shadowed').length, 0);
  });
});
