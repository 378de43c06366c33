import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { AuditLog } from '../../src/governance/audit-log.js';
import type { AuditEvent } from '../../src/registry/audit.js';
import { Registry } from '../../src/registry/registry.js';
import { makeDataDir } from '../support/server.js';

/** Creates a pino logger that parses each line it writes into `lines`. */
function capturingLogger() {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk, _encoding, callback) {
      for (const line of chunk.toString().split('\n')) {
        if (line.trim() !== '') lines.push(JSON.parse(line));
      }
      callback();
    },
  });
  return { logger: pino({ level: 'info' }, stream), lines };
}

function event(version: number): AuditEvent {
  return {
    action: 'load',
    model: 'queued',
    version,
    actor: 'admin:alice',
    reason: `load ${version}`,
    details: { load_ms: version },
  };
}

describe('audit log queue', () => {
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

  it('queues entries without writing them', async () => {
    const { logger } = capturingLogger();
    const audit = new AuditLog(registry.audit, logger);
    let writes = 0;
    const append = registry.audit.append.bind(registry.audit);
    registry.audit.append = async (events) => {
      writes += 1;
      return append(events);
    };
    try {
      assert.equal(audit.record(event(1)), undefined);
      assert.equal(audit.pending, 1);
      assert.equal(writes, 0);
      await audit.flush();
      assert.equal(audit.pending, 0);
      assert.equal(writes, 1);
    } finally {
      registry.audit.append = append;
    }
  });

  it('keeps entries in order through failed writes', async () => {
    const { logger, lines } = capturingLogger();
    const audit = new AuditLog(registry.audit, logger);
    const append = registry.audit.append.bind(registry.audit);
    let failuresLeft = 2;
    registry.audit.append = async (events) => {
      if (failuresLeft > 0) {
        failuresLeft -= 1;
        throw new Error('database is locked');
      }
      return append(events);
    };
    try {
      audit.record(event(10));
      audit.record(event(11));
      await assert.rejects(audit.flush(), /database is locked/);
      audit.record(event(12));
      await assert.rejects(audit.flush(), /database is locked/);
      assert.equal(audit.pending, 3);
      await audit.flush();
      assert.equal(audit.pending, 0);
    } finally {
      registry.audit.append = append;
    }
    const stored = await registry.audit.query({ model: 'queued', limit: 10 });
    assert.deepEqual(
      stored.map((entry) => entry.version),
      [12, 11, 10, 1],
    );
    assert.equal(stored[0]!.actor, 'admin:alice');
    assert.equal(stored[0]!.reason, 'load 12');
    assert.deepEqual(stored[0]!.details, { load_ms: 12 });

    const failures = lines.filter(
      (line) => line.msg === 'writing the audit log failed; will retry',
    );
    assert.equal(failures.length, 1, 'a streak of failures is logged once');
    assert.equal((failures[0]!.err as { message: string }).message, 'database is locked');
    assert.ok(lines.some((line) => line.msg === 'audit log writes recovered'));
  });

  it('drops the oldest entries past its bound', async () => {
    const { logger, lines } = capturingLogger();
    const audit = new AuditLog(registry.audit, logger, 2);
    for (const version of [20, 21, 22]) audit.record(event(version));
    assert.equal(audit.pending, 2);
    await audit.flush();
    const stored = await registry.audit.query({ model: 'queued', since: '2000-01-01', limit: 2 });
    assert.deepEqual(
      stored.map((entry) => entry.version),
      [22, 21],
    );
    assert.ok(lines.some((line) => line.dropped === 1));
  });
});
