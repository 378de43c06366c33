import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { example } from '../support/paths.js';
import { runCli } from '../support/process.js';
import { startTestServer, type TestServer } from '../support/server.js';

describe('steward CLI client', () => {
  let server: TestServer;
  let cli: (args: string[], stdin?: string) => ReturnType<typeof runCli>;

  before(async () => {
    server = await startTestServer();
    cli = (args, stdin) => runCli(['--url', server.url, ...args], { stdin });
  });

  after(async () => {
    await server.destroy();
  });

  it('pushes a model with an alias', async () => {
    const result = await cli([
      'push',
      example('digits-mlp'),
      '--model',
      'digits',
      '--alias',
      'production',
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(
      result.stdout,
      /^digits version 1 registered \(sha256 3d368d98c980, 38\.4 KiB\) \[production\]$/m,
    );
  });

  it('reports a repeated push as already registered', async () => {
    const result = await cli(['push', example('digits-mlp'), '--model', 'digits']);
    assert.equal(result.code, 0, result.stderr);
    assert.match(
      result.stdout,
      /digits version 1 already has these bytes \(sha256 3d368d98c980, 38\.4 KiB\); nothing new registered/,
    );
  });

  it('lists models in a table', async () => {
    const result = await cli(['models']);
    assert.equal(result.code, 0, result.stderr);
    const [header, row] = result.stdout.trim().split('\n');
    assert.match(header!, /^MODEL\s+VERSION\s+ALIASES\s+STATUS/);
    assert.match(row!, /^digits\s+1\s+production\s+never used/);
  });

  it('lists models as JSON', async () => {
    const result = await cli(['models', '--json']);
    const models = JSON.parse(result.stdout);
    assert.equal(models[0].name, 'digits');
    assert.equal(models[0].versions[0].version, 1);
  });

  it('shows one model with its signature', async () => {
    const result = await cli(['show', 'digits']);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /aliases: production -> 1/);
    assert.match(result.stdout, /signature of version 1:/);
    assert.match(result.stdout, /input\s+pixels\s+FP32\s+\[-1, 64\]/);
    assert.match(result.stdout, /output\s+logits\s+FP32\s+\[-1, 10\]/);
  });

  it('runs inference from a file and from standard input', async () => {
    const file = example('digits-mlp', 'requests/request.json');
    const fromFile = await cli(['infer', 'digits', '--input', file]);
    assert.equal(fromFile.code, 0, fromFile.stderr);
    const fromStdin = await cli(['infer', 'digits', '--input', '-'], await readFile(file, 'utf8'));
    assert.equal(fromStdin.code, 0, fromStdin.stderr);
    assert.deepEqual(JSON.parse(fromFile.stdout), JSON.parse(fromStdin.stdout));
    assert.equal(JSON.parse(fromFile.stdout).outputs[0].shape.join(','), '8,10');
  });

  it('prints the server error and exits 1', async () => {
    const result = await cli(['show', 'missing-model']);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /steward: 404: model "missing-model" is not registered/);
  });

  it('rejects an alias version that is not a number', async () => {
    const result = await cli(['alias', 'set', 'digits', 'production', 'abc']);
    assert.equal(result.code, 1);
    assert.match(
      result.stderr,
      /error: command-argument value 'abc' is invalid for argument 'version'\. use a whole version number of 1 or more, such as 2/,
    );
    assert.doesNotMatch(result.stderr, /received null/);
    const model = await cli(['show', 'digits']);
    assert.match(model.stdout, /aliases: production -> 1/);
  });

  it('names a missing file', async () => {
    const result = await cli(['push', '/no/such/model.onnx', '--model', 'digits']);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /cannot read \/no\/such\/model\.onnx: ENOENT/);
  });

  it('rejects pushing a folder', async () => {
    const folder = example('digits-mlp', '');
    const result = await cli(['push', folder, '--model', 'digits']);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /digits-mlp\/? is a folder, but push uploads one file/);
    assert.match(result.stderr, /pack a model of several files as an archive first \(tar czf/);
    assert.doesNotMatch(result.stderr, /EISDIR/);
  });

  it('explains an unreachable server', async () => {
    const result = await runCli(['--url', 'http://127.0.0.1:9', 'models']);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /cannot reach Steward at http:\/\/127\.0\.0\.1:9/);
  });
});
