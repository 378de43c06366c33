import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { assertClose } from '../support/assert.js';
import { call, infer, push, readJson } from '../support/http.js';
import { example } from '../support/paths.js';
import { runCli } from '../support/process.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { randomDigitsRequests, settled, waitForComparison } from '../support/staging.js';

async function rawInfer(url: string, body: unknown): Promise<string> {
  const response = await fetch(`${url}/v2/models/digits/infer`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  assert.equal(response.status, 200);
  return response.text();
}

async function aliasesOf(url: string): Promise<Record<string, number>> {
  return (await call(`${url}/api/v1/models/digits`)).body.aliases;
}

describe('promotion and rollback', () => {
  let server: TestServer;
  let cli: (args: string[]) => ReturnType<typeof runCli>;
  let request: unknown;
  let productionAnswer: string;
  let agreement: number;

  before(async () => {
    server = await startTestServer();
    cli = (args) => runCli(['--url', server.url, ...args]);
    assert.equal(
      (await push(server.url, 'digits', example('digits-mlp'), { alias: 'production' })).status,
      201,
    );
    assert.equal(
      (await push(server.url, 'digits', example('digits-mlp-v2'), { alias: 'staging' })).status,
      201,
    );
    request = await readJson(example('digits-mlp', 'requests/request.json'));
    productionAnswer = await rawInfer(server.url, request);
    for (const body of randomDigitsRequests(39, 11)) {
      assert.equal((await infer(server.url, 'digits', body)).status, 200);
    }
    const comparison = await waitForComparison(server.url, 'digits', settled(40));
    assert.equal(comparison.shadow.compared, 40);
    agreement = comparison.agreement.percent;
    assert.ok(agreement < 100, 'the random rows include disagreements');
  });

  after(async () => {
    await server.destroy();
  });

  it('rejects promotion below the minimum of compared requests', async () => {
    const response = await call(`${server.url}/api/v1/models/digits/promote`, {
      method: 'POST',
      json: { min_requests: 41 },
    });
    assert.equal(response.status, 409);
    assert.equal(response.body.code, 'PROMOTION_GATE_FAILED');
    assert.equal(response.body.field, 'min_requests');
    assert.match(response.body.error, /staging version 2 has 40 compared requests \(minimum 41\)/);
    assert.ok(response.body.error.includes(`${agreement}% agreement`), response.body.error);
    assert.deepEqual(await aliasesOf(server.url), { production: 1, staging: 2 });
  });

  it('rejects promotion below the minimum agreement', async () => {
    const response = await call(`${server.url}/api/v1/models/digits/promote`, {
      method: 'POST',
      json: { min_requests: 40, min_agreement_percent: 100 },
    });
    assert.equal(response.status, 409);
    assert.equal(response.body.field, 'min_agreement_percent');
    assert.ok(
      response.body.error.includes(
        `${agreement}% agreement (minimum 100%) against production version 1`,
      ),
      response.body.error,
    );
    const viaCli = await cli(['promote', 'digits', '--min-agreement', '100']);
    assert.equal(viaCli.code, 1);
    assert.match(viaCli.stderr, /steward: 409: promotion of model "digits" rejected/);
    assert.deepEqual(await aliasesOf(server.url), { production: 1, staging: 2 });
  });

  it('reports the comparison on the command line', async () => {
    const result = await cli(['compare', 'digits']);
    assert.equal(result.code, 0, result.stderr);
    const [summary] = result.stdout.split('\n');
    assert.match(
      summary!,
      /^staging v2 agrees with production v1 on \d+\.\d% of 40 requests; p95 latency/,
    );
    assert.match(
      result.stdout,
      /shadow: 40 mirrored, 40 compared, 0 failed, 0 pending; dropped: none/,
    );
    // The example request has 8 rows, the random ones one each.
    assert.match(result.stdout, /^logits\s+scores\s+47\s/m);
  });

  it('promotes when the gate is met', async () => {
    const result = await cli([
      'promote',
      'digits',
      '--min-requests',
      '40',
      '--min-agreement',
      String(agreement),
      '--reason',
      'gate met',
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout.trim(), 'digits production: version 1 -> version 2');
    assert.deepEqual(await aliasesOf(server.url), { previous: 1, production: 2 });

    const response = await infer(server.url, 'digits', request);
    assert.equal(response.body.model_version, '2');
    const v2 = await readJson(example('digits-mlp-v2', 'requests/expected.json'));
    assertClose(response.body.outputs[0].data, v2.outputs[0].data, 1e-4, 'logits after promotion');

    const history = (await call(`${server.url}/api/v1/models/digits/history`)).body.history;
    const [staging, previous, production] = history;
    assert.deepEqual(
      [staging.alias, staging.from_version, staging.to_version],
      ['staging', 2, null],
    );
    assert.deepEqual([previous.alias, previous.to_version], ['previous', 1]);
    assert.deepEqual(
      [production.alias, production.from_version, production.to_version],
      ['production', 1, 2],
    );
    assert.match(
      production.reason,
      /^gate met; promoted from staging \(staging v2 agrees with production v1 on/,
    );
    const comparison = (await call(`${server.url}/api/v1/models/digits/comparison`)).body;
    assert.equal(comparison.active, false, 'staging was promoted, so nothing is compared');
  });

  it('rolls back to the previous outputs', async () => {
    const response = await call(`${server.url}/api/v1/models/digits/rollback`, {
      method: 'POST',
      json: { reason: 'customer reports' },
      headers: { 'X-Steward-Actor': 'alice' },
    });
    assert.equal(response.status, 200, JSON.stringify(response.body));
    assert.deepEqual(response.body, {
      model: 'digits',
      production_version: 1,
      previous_version: 2,
    });
    assert.equal(await rawInfer(server.url, request), productionAnswer);
    const [previous, production] = (await call(`${server.url}/api/v1/models/digits/history`)).body
      .history;
    assert.deepEqual([production.alias, production.to_version], ['production', 1]);
    assert.equal(production.actor, 'anonymous:alice');
    assert.equal(production.reason, 'customer reports; rolled back from version 2');
    assert.deepEqual([previous.alias, previous.to_version], ['previous', 2]);

    // A second rollback undoes the first.
    const again = await cli(['rollback', 'digits']);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.stdout.trim(), 'digits production rolled back to version 2 (was version 1)');
    assert.deepEqual(await aliasesOf(server.url), { previous: 1, production: 2 });
  });

  it('records promotion and rollbacks in the audit log', async () => {
    const { entries } = (await call(`${server.url}/api/v1/models/digits/audit?limit=1000`)).body;
    const steps = entries
      .filter(
        (entry: { action: string }) => entry.action === 'promote' || entry.action === 'rollback',
      )
      .reverse();
    assert.equal(steps.length, 3, JSON.stringify(steps));
    const [promote, rollback, undo] = steps;

    assert.equal(promote.action, 'promote');
    assert.equal(promote.version, 2);
    assert.equal(promote.actor, 'anonymous');
    assert.equal(promote.reason, 'gate met');
    assert.equal(promote.details.from_version, 1);
    assert.equal(promote.details.to_version, 2);
    assert.equal(promote.details.compared_requests, 40);
    assert.equal(promote.details.agreement_percent, agreement);
    assert.equal(promote.details.min_requests, 40);
    assert.equal(promote.details.min_agreement_percent, agreement);
    assert.match(promote.details.summary, /^staging v2 agrees with production v1 on/);

    assert.equal(rollback.action, 'rollback');
    assert.equal(rollback.version, 1);
    assert.equal(rollback.actor, 'anonymous:alice');
    assert.equal(rollback.reason, 'customer reports');
    assert.deepEqual(rollback.details, { from_version: 2, to_version: 1 });
    assert.deepEqual(undo.details, { from_version: 1, to_version: 2 });

    // Each alias move of the promotion is in the audit log too, before its promote entry.
    const promoteIndex = entries.indexOf(promote);
    const moves = entries
      .slice(promoteIndex + 1)
      .filter((entry: { action: string }) => entry.action.startsWith('alias_'))
      .slice(0, 3)
      .map((entry: { action: string; details: { alias: string } }) => [
        entry.action,
        entry.details.alias,
      ]);
    assert.deepEqual(moves, [
      ['alias_remove', 'staging'],
      ['alias_set', 'previous'],
      ['alias_set', 'production'],
    ]);
  });

  it('rejects promotion and rollback without the aliases they move', async () => {
    assert.equal(
      (await push(server.url, 'solo', example('digits-mlp'), { alias: 'production' })).status,
      201,
    );
    const promote = await call(`${server.url}/api/v1/models/solo/promote`, { method: 'POST' });
    assert.equal(promote.status, 409);
    assert.equal(promote.body.code, 'CONFLICT');
    assert.match(promote.body.error, /has no staging alias/);
    const rollback = await call(`${server.url}/api/v1/models/solo/rollback`, { method: 'POST' });
    assert.equal(rollback.status, 409);
    assert.match(rollback.body.error, /has no previous alias/);
    const missing = await call(`${server.url}/api/v1/models/nothing/promote`, { method: 'POST' });
    assert.equal(missing.status, 404);
    const invalid = await call(`${server.url}/api/v1/models/solo/promote`, {
      method: 'POST',
      json: { min_requests: -1 },
    });
    assert.equal(invalid.status, 400);
    assert.equal(invalid.body.field, 'min_requests');
  });

  it('rejects promotion to another signature unless forced', async () => {
    for (const [file, alias] of [
      ['digits-cnn', 'production'],
      ['digits-mlp', 'staging'],
    ] as const) {
      const response = await push(server.url, 'reshaped', example(file), { alias });
      assert.equal(response.status, 201, JSON.stringify(response.body));
    }
    const rejected = await call(`${server.url}/api/v1/models/reshaped/promote`, {
      method: 'POST',
    });
    assert.equal(rejected.status, 409);
    assert.equal(rejected.body.code, 'CONFLICT');
    assert.equal(rejected.body.field, 'force');
    assert.match(
      rejected.body.error,
      /staging version 2 does not take the requests of production version 1 \(input "image" is missing\)/,
    );
    const aliases = (await call(`${server.url}/api/v1/models/reshaped`)).body.aliases;
    assert.deepEqual(aliases, { production: 1, staging: 2 });

    const forced = await cli(['promote', 'reshaped', '--force']);
    assert.equal(forced.code, 0, forced.stderr);
    assert.match(forced.stdout, /reshaped production: version 1 -> version 2/);
    const audit = await call(`${server.url}/api/v1/audit?model=reshaped&action=promote`);
    assert.equal(audit.body.entries[0].details.forced, true);
  });
});
