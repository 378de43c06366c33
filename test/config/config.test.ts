import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { resolveConfig } from '../../src/config/config.js';
import { parseBytes, parseDuration } from '../../src/config/units.js';
import { runCli } from '../support/process.js';

describe('units', () => {
  it('parses byte sizes with binary and decimal units', () => {
    assert.equal(parseBytes('1024', 'size'), 1024);
    assert.equal(parseBytes('512MiB', 'size'), 512 * 1024 ** 2);
    assert.equal(parseBytes('2g', 'size'), 2 * 1024 ** 3);
    assert.equal(parseBytes('1.5GB', 'size'), 1.5e9);
    assert.throws(() => parseBytes('lots', 'memory budget'), /invalid memory budget "lots"/);
  });

  it('parses durations', () => {
    assert.equal(parseDuration('250', 'wait'), 250);
    assert.equal(parseDuration('30s', 'wait'), 30_000);
    assert.equal(parseDuration('15m', 'wait'), 900_000);
    assert.equal(parseDuration('7d', 'wait'), 604_800_000);
    assert.throws(() => parseDuration('soon', 'idle unload'), /invalid idle unload "soon"/);
  });
});

describe('config resolution', () => {
  it('uses the embedded defaults', () => {
    const config = resolveConfig({}, {});
    assert.equal(config.host, '127.0.0.1');
    assert.equal(config.port, 8080);
    assert.equal(config.maxUploadBytes, 1024 ** 3);
    assert.equal(config.instances, 1);
    assert.equal(config.adminToken, undefined);
    assert.ok(Object.isFrozen(config));
  });

  it('prefers flags over environment over file', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'steward-config-'));
    const file = path.join(dir, 'steward.json');
    await fs.writeFile(file, JSON.stringify({ port: 7000, host: '127.0.0.3', logLevel: 'warn' }));
    try {
      const config = resolveConfig(
        { port: 9000 },
        { STEWARD_PORT: '8000', STEWARD_HOST: '127.0.0.2' },
        file,
      );
      assert.equal(config.port, 9000);
      assert.equal(config.host, '127.0.0.2');
      assert.equal(config.logLevel, 'warn');
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it('rejects invalid environment values with the variable rule', () => {
    assert.throws(
      () => resolveConfig({}, { STEWARD_PORT: '70000' }),
      /invalid port "70000": use a whole number from 0 to 65535/,
    );
  });

  it('rejects a memory budget of 0', async () => {
    for (const text of ['0', '0GiB', '0.5']) {
      assert.throws(
        () => resolveConfig({}, { STEWARD_MEMORY_BUDGET: text }),
        new RegExp(`invalid memory budget "${text}": use more than 0 bytes, such as 4GiB`),
      );
    }
    const serve = await runCli(['serve', '--memory-budget', '0', '--port', '0']);
    assert.equal(serve.code, 1);
    assert.match(
      serve.stderr,
      /option '--memory-budget <bytes>' argument '0' is invalid\. invalid memory budget "0": use more than 0 bytes/,
    );
    assert.equal(serve.stdout, '');
  });

  it('rejects unknown settings in a config file', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'steward-config-'));
    const file = path.join(dir, 'steward.json');
    await fs.writeFile(file, JSON.stringify({ prot: 1 }));
    try {
      assert.throws(() => resolveConfig({}, {}, file), /unknown setting "prot"/);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
