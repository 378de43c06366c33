import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { call, infer, push } from '../support/http.js';
import { largeModel } from '../support/onnx-builder.js';
import { startTestServer, type TestServer } from '../support/server.js';

const MIB = 1024 * 1024;
const GATHER = { inputs: [{ name: 'indices', datatype: 'INT64', shape: [2], data: [0, 1001] }] };

/** Expected output of largeModel(_, seed) for GATHER's indices. */
function expectedFor(seed: number): number[] {
  return [Math.fround((0 + seed) / 1000), Math.fround((1 + seed) / 1000)];
}

/** Samples the manager's used memory every millisecond and keeps the maximum. */
function watchUsedMemory(server: TestServer) {
  let max = 0;
  const timer = setInterval(() => {
    max = Math.max(max, server.steward.manager.usedBytes());
  }, 1);
  return {
    stop: () => {
      clearInterval(timer);
      return Math.max(max, server.steward.manager.usedBytes());
    },
  };
}

describe('memory budget', () => {
  const modelCount = 50;
  const modelMiB = 4;
  let server: TestServer;
  let budget: number;

  before(async () => {
    // Measure a load first, then size the budget for five such versions. The second load is
    // the one to measure: the first in a process also carries onnxruntime's one-time setup.
    const probe = await startTestServer();
    let measured: number;
    try {
      for (const name of ['warm-up', 'probe']) {
        await push(probe.url, name, largeModel(modelMiB, name.length));
        await infer(probe.url, name, GATHER);
      }
      measured = (await call(`${probe.url}/api/v1/models/probe/versions/1`)).body.load.memory_bytes;
    } finally {
      await probe.destroy();
    }
    budget = Math.floor(5.5 * measured);
    server = await startTestServer({ memoryBudgetBytes: budget, loadWaitMs: 60_000 });
    for (let seed = 0; seed < modelCount; seed += 1) {
      const response = await push(server.url, `m${seed}`, largeModel(modelMiB, seed));
      assert.equal(response.status, 201);
    }
  });

  after(async () => {
    await server.destroy();
  });

  it('serves a random mix without exceeding the budget', async () => {
    const watch = watchUsedMemory(server);
    let random = 12345;
    const next = () => {
      random = (random * 1103515245 + 12345) % 2 ** 31;
      return random % modelCount;
    };
    const failures: string[] = [];
    let served = 0;
    const clients = Array.from({ length: 4 }, async () => {
      for (let i = 0; i < 40; i += 1) {
        const seed = next();
        const response = await infer(server.url, `m${seed}`, GATHER);
        if (response.status !== 200) {
          failures.push(`m${seed}: ${response.status} ${JSON.stringify(response.body)}`);
          continue;
        }
        assert.deepEqual(response.body.outputs[0].data, expectedFor(seed));
        served += 1;
      }
    });
    await Promise.all(clients);
    const maxUsed = watch.stop();

    assert.deepEqual(failures, []);
    assert.equal(served, 160);
    assert.ok(maxUsed <= budget, `used ${maxUsed} bytes of a ${budget} byte budget`);
    const loaded = await call(`${server.url}/api/v1/loaded`);
    assert.ok(loaded.body.used_bytes <= budget);
    assert.ok(loaded.body.versions.length >= 2, 'the budget fits several versions at once');
    // Each version counts at least its file size, which bounds how many fit.
    const fit = Math.floor(budget / (modelMiB * MIB));
    assert.ok(
      loaded.body.versions.length <= fit,
      `${loaded.body.versions.length} versions loaded, ${fit} fit`,
    );

    const evictions = server.steward.catalog
      .allVersions()
      .flatMap((record) => server.steward.manager.status(record).transitions)
      .filter(
        (transition) => transition.to === 'unloading' && transition.reason.startsWith('evicted'),
      );
    assert.ok(evictions.length > 10, `only ${evictions.length} evictions`);
  });

  it('never evicts a pinned version', async () => {
    const pin = await call(`${server.url}/api/v1/models/m7/versions/1/pin`, { method: 'PUT' });
    assert.equal(pin.status, 200);
    for (let seed = 10; seed < 30; seed += 1) {
      assert.equal((await infer(server.url, `m${seed}`, GATHER)).status, 200);
      const pinned = await call(`${server.url}/api/v1/models/m7/versions/1`);
      assert.equal(pinned.body.load.state, 'ready');
    }
    await call(`${server.url}/api/v1/models/m7/versions/1/pin`, { method: 'DELETE' });
  });

  it('fails at once when pinned versions hold the budget', async () => {
    // Pins until one no longer fits, so no other version of the same size can load.
    const pinned: string[] = [];
    try {
      for (let seed = 40; seed < 48; seed += 1) {
        const pin = await call(`${server.url}/api/v1/models/m${seed}/versions/1/pin`, {
          method: 'PUT',
        });
        if (pin.status !== 200) break;
        pinned.push(`m${seed}`);
      }
      assert.ok(pinned.length >= 4, `only ${pinned.length} versions could be pinned`);
      const response = await infer(server.url, 'm49', GATHER);
      assert.equal(response.status, 503);
      assert.match(
        response.body.error,
        /m49 version 1 needs .*, but pinned versions hold .* of the memory budget of .* \(m40 version 1, .*\); unpin a version or raise --memory-budget/,
      );
      const version = await call(`${server.url}/api/v1/models/m49/versions/1`);
      assert.equal(version.body.usage.failures.unavailable, 1);
      assert.equal(version.body.usage.failures.timeout, 0);
      assert.notEqual(version.body.load.state, 'failed', 'a full budget says nothing of the model');
    } finally {
      for (const name of pinned) {
        await call(`${server.url}/api/v1/models/${name}/versions/1/pin`, { method: 'DELETE' });
      }
    }
    assert.equal((await infer(server.url, 'm49', GATHER)).status, 200);
  });

  it('rejects a model larger than the whole budget with 507', async () => {
    const response = await push(server.url, 'huge', largeModel(Math.ceil(budget / MIB) + 1, 1234));
    assert.equal(response.status, 201);
    const result = await infer(server.url, 'huge', GATHER);
    assert.equal(result.status, 507);
    assert.match(
      result.body.error,
      /needs .* more than the whole memory budget of .*; raise --memory-budget/,
    );
  });
});

describe('memory after repeated loads', () => {
  let server: TestServer;

  before(async () => {
    server = await startTestServer({ memoryBudgetBytes: 40 * MIB });
  });

  after(async () => {
    await server.destroy();
  });

  it('stays flat over 200 loads and evictions', async () => {
    // Two 24 MiB models under a 40 MiB budget: each request evicts the other one.
    await push(server.url, 'a', largeModel(24, 1));
    await push(server.url, 'b', largeModel(24, 2));
    const rss: number[] = [];
    for (let cycle = 0; cycle < 200; cycle += 1) {
      const name = cycle % 2 === 0 ? 'a' : 'b';
      const response = await infer(server.url, name, GATHER);
      assert.equal(response.status, 200, JSON.stringify(response.body));
      if (cycle % 20 === 19) rss.push(process.memoryUsage.rss());
    }
    const loads = server.steward.catalog
      .allVersions()
      .reduce((sum, record) => sum + server.steward.manager.status(record).loadCount, 0);
    assert.equal(loads, 200);
    const growth = rss[rss.length - 1]! - rss[0]!;
    assert.ok(
      growth < 48 * MIB,
      `resident memory grew ${(growth / MIB).toFixed(1)} MiB from load 20 to load 200: ${rss.map((r) => (r / MIB).toFixed(0)).join(', ')}`,
    );
  });
});

describe('two hot versions that do not fit together', () => {
  let server: TestServer;

  before(async () => {
    server = await startTestServer({ memoryBudgetBytes: 30 * MIB, loadWaitMs: 30_000 });
    await push(server.url, 'a', largeModel(20, 1));
    await push(server.url, 'b', largeModel(20, 2));
  });

  after(async () => {
    await server.destroy();
  });

  it('take turns and both serve', async () => {
    const until = Date.now() + 4000;
    const counts = { a: 0, b: 0 };
    const failures: string[] = [];
    const clients = ['a', 'b'].flatMap((name) =>
      Array.from({ length: 4 }, async () => {
        while (Date.now() < until) {
          const response = await infer(server.url, name, GATHER);
          if (response.status === 200) counts[name as 'a' | 'b'] += 1;
          else failures.push(`${name}: ${response.status} ${JSON.stringify(response.body)}`);
        }
      }),
    );
    await Promise.all(clients);
    assert.deepEqual(failures, []);
    assert.ok(counts.a >= 4, `a served ${counts.a} requests`);
    assert.ok(counts.b >= 4, `b served ${counts.b} requests`);
  });
});
