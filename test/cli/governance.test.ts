import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { call, push } from '../support/http.js';
import { scaleModel } from '../support/onnx-builder.js';
import { runCli } from '../support/process.js';
import { makeDataDir, startTestServer, type TestServer } from '../support/server.js';

/** Returns the table rows of gc output without the RESULT column, which dry and real runs differ in. */
function stepsIn(stdout: string): string[] {
  const lines = stdout.trim().split('\n').slice(2);
  return lines.map((line) => {
    const [action, model, version, _result, ...reason] = line.split(/\s{2,}/);
    return [action, model, version, reason.join(' ')].join(' | ');
  });
}

describe('steward gc, archive, restore and audit', () => {
  let server: TestServer;
  let policyDir: string;
  let cli: (args: string[]) => ReturnType<typeof runCli>;

  before(async () => {
    policyDir = await makeDataDir();
    const policyFile = path.join(policyDir, 'policy.json');
    await fs.writeFile(policyFile, JSON.stringify({ defaults: { keep_newest: 1 } }));
    server = await startTestServer({ policyFile });
    cli = (args) => runCli(['--url', server.url, ...args]);
    await push(server.url, 'm', scaleModel(1), { alias: 'production' });
    await push(server.url, 'm', scaleModel(2));
    await push(server.url, 'm', scaleModel(3));
  });

  after(async () => {
    await server.destroy();
    await fs.rm(policyDir, { recursive: true, force: true });
  });

  it('prints what a dry run would do', async () => {
    const result = await cli(['gc', '--dry-run']);
    assert.equal(result.code, 0, result.stderr);
    const [head, header, ...rows] = result.stdout.trim().split('\n');
    assert.match(
      head!,
      /^dry run at \S+: would archive 1, would delete 0, protected 1, failed 0 \(policy .*policy\.json\)$/,
    );
    assert.match(header!, /^ACTION\s+MODEL\s+VERSION\s+RESULT\s+REASON$/);
    assert.equal(rows.length, 2);
    assert.match(
      rows[0]!,
      /^skip\s+m\s+1\s+skipped\s+protected by alias "production"; older than the 1 newest versions \(keep_newest 1\)$/,
    );
    assert.match(rows[1]!, /^archive\s+m\s+2\s+planned\s+older than the 1 newest versions/);
    assert.equal((await call(`${server.url}/api/v1/models/m/versions/2`)).body.state, 'ready');
  });

  it('does what the dry run printed', async () => {
    const dry = await cli(['gc', '--dry-run']);
    const real = await cli(['gc']);
    assert.equal(real.code, 0, real.stderr);
    assert.match(real.stdout, /^gc at \S+: archived 1, deleted 0, protected 1, failed 0/);
    assert.deepEqual(stepsIn(real.stdout), stepsIn(dry.stdout));
    assert.match(real.stdout, /\narchive\s+m\s+2\s+done\s+/);
    assert.equal((await call(`${server.url}/api/v1/models/m/versions/2`)).body.state, 'archived');

    const after = await cli(['gc', '--dry-run', '--json']);
    const run = JSON.parse(after.stdout);
    assert.deepEqual(
      run.results.map((r: { version: number; action: string }) => `${r.version} ${r.action}`),
      ['1 skip'],
    );
  });

  it('archives and restores versions', async () => {
    const rejected = await cli(['archive', 'm', '1']);
    assert.equal(rejected.code, 1);
    assert.match(rejected.stderr, /409: model "m" version 1 is behind alias "production"/);

    const restored = await cli(['restore', 'm', '2', '--reason', 'needed again']);
    assert.equal(restored.code, 0, restored.stderr);
    assert.equal(restored.stdout.trim(), 'm version 2 restored');
    const again = await cli(['restore', 'm', '2']);
    assert.equal(again.stdout.trim(), 'm version 2 is not archived; nothing changed');

    const archived = await cli(['archive', 'm', '2', '-r', 'done with it']);
    assert.equal(archived.stdout.trim(), 'm version 2 archived');
  });

  it('shows the audit log of a model and version', async () => {
    const result = await cli(['audit', 'm', '2', '--action', 'restore']);
    assert.equal(result.code, 0, result.stderr);
    const [header, row, ...rest] = result.stdout.trim().split('\n');
    assert.match(header!, /^WHEN\s+ACTION\s+MODEL\s+VERSION\s+ACTOR\s+REASON$/);
    assert.match(row!, /^\S+Z\s+restore\s+m\s+2\s+anonymous\s+needed again$/);
    assert.equal(rest.length, 0);

    const gc = await cli(['audit', '--action', 'gc', '--json']);
    const entries = JSON.parse(gc.stdout).entries;
    assert.equal(entries.length, 1);
    assert.equal(entries[0].details.archived, 1);
  });
});

describe('steward gc without a policy', () => {
  let server: TestServer;

  before(async () => {
    server = await startTestServer();
  });

  after(async () => {
    await server.destroy();
  });

  it('says that no policy is configured', async () => {
    const result = await runCli(['--url', server.url, 'gc', '--dry-run']);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^no retirement policy is configured, so gc has nothing to do/);
  });
});
