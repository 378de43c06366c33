import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { call, infer, push, readJson } from '../support/http.js';
import { scaleModel } from '../support/onnx-builder.js';
import { example, REPO_ROOT } from '../support/paths.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { setStaging, settled, waitForComparison } from '../support/staging.js';

/** Debian's chromium package; .ci/run installs it. */
const CHROMIUM = '/usr/bin/chromium';
const OUTPUT = path.join(REPO_ROOT, 'test-output');

// Without the browser the test is skipped on a developer machine, but fails in CI, where a
// missing browser means a broken install step.
const SKIP = existsSync(CHROMIUM) || process.env.CI ? false : `${CHROMIUM} is not installed`;

interface VersionView {
  version: number;
  aliases: string[];
  status: string;
  state: string;
  usage: { requests: number; errors: number; last_used_at: string | null };
  load: { loaded: boolean };
}

/** The text of each cell of the fleet table's row for one version. */
async function rowCells(page: Page, model: string, version: number): Promise<string[]> {
  return page
    .locator(`#fleet tbody tr[data-model="${model}"][data-version="${version}"] td`)
    .allInnerTexts();
}

describe('dashboard', { skip: SKIP }, () => {
  let server: TestServer;
  let profile: string;
  let browser: BrowserContext;
  let page: Page;
  const pageErrors: string[] = [];

  before(async () => {
    server = await startTestServer();
    await push(server.url, 'digits-mlp', example('digits-mlp'), { alias: 'production' });
    await push(server.url, 'digits-mlp', example('digits-mlp-v2'), { alias: 'staging' });
    await push(server.url, 'iris-multi-io', example('iris-multi-io'), { alias: 'production' });
    await push(server.url, 'scaled', scaleModel(2));
    await push(server.url, 'scaled', scaleModel(3));
    await call(`${server.url}/api/v1/models/scaled/versions/1/archive`, {
      method: 'POST',
      json: { reason: 'replaced by version 2' },
    });

    const request = await readJson(example('digits-mlp', 'requests/request.json'));
    for (let i = 0; i < 6; i += 1) await infer(server.url, 'digits-mlp', request);
    for (let i = 0; i < 3; i += 1) await infer(server.url, 'digits-mlp', request, '2');
    const invalid = {
      inputs: [{ name: 'pixels', datatype: 'FP32', shape: [1, 3], data: [1, 2, 3] }],
    };
    await infer(server.url, 'digits-mlp', invalid);
    // The six production requests were also run on the staging version. The canary weight is
    // set only now, so every request above went where the table checks expect.
    await waitForComparison(server.url, 'digits-mlp', settled(6));
    await setStaging(server.url, 'digits-mlp', { canary_percent: 10 });

    profile = await fs.mkdtemp(path.join(os.tmpdir(), 'steward-chromium-'));
    await fs.mkdir(OUTPUT, { recursive: true });
    // Playwright passes the fresh profile folder as --user-data-dir.
    browser = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1280, height: 900 },
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--disable-quic',
      ],
    });
    page = await browser.newPage();
    page.on('pageerror', (error) => pageErrors.push(error.message));
  });

  after(async () => {
    await browser?.close();
    await server?.destroy();
    if (profile) await fs.rm(profile, { recursive: true, force: true });
  });

  it('lists every version as the API reports it', async () => {
    await page.goto(`${server.url}/`);
    const { models } = (await call(`${server.url}/api/v1/models`)).body as {
      models: Array<{ name: string; versions: VersionView[] }>;
    };
    const total = models.reduce((sum, model) => sum + model.versions.length, 0);
    assert.equal(total, 5);
    await page.waitForFunction(
      `document.querySelectorAll('#fleet tbody tr[data-model]').length === ${total}`,
    );

    for (const model of models) {
      for (const version of model.versions) {
        const cells = await rowCells(page, model.name, version.version);
        const label = `${model.name} ${version.version}`;
        assert.equal(cells[0], model.name, label);
        assert.equal(cells[1], String(version.version), label);
        assert.equal(cells[2], version.aliases.join(', ') || '-', label);
        assert.equal(cells[3], version.status, label);
        assert.equal(cells[4], version.state, label);
        if (version.usage.last_used_at === null) assert.equal(cells[5], 'never used', label);
        else assert.match(cells[5]!, /^\d+ s ago$/, label);
        assert.equal(cells[6], String(version.usage.requests), label);
        assert.equal(cells[10], version.load.loaded ? 'yes' : 'no', label);
      }
    }

    const production = await rowCells(page, 'digits-mlp', 1);
    assert.equal(production[6], '7', 'six runs and one rejected request');
    assert.equal(production[7], '0.0%');
    assert.match(production[8]!, /^\d+\.\d\d ms$/);
    assert.match(production[9]!, /^\d+\.\d (KiB|MiB)$/);
    assert.deepEqual(await rowCells(page, 'scaled', 1).then((cells) => cells.slice(3, 6)), [
      'never used',
      'archived',
      'never used',
    ]);
  });

  it('shows the summary and the report findings', async () => {
    const cards = await page.locator('#summary .card').allInnerTexts();
    assert.match(cards[0]!, /^3\s+models$/);
    assert.match(cards[1]!, /^5\s+versions$/);
    const report = (await call(`${server.url}/api/v1/report`)).body as {
      findings: Array<{ kind: string; model: string; version: number; reason: string }>;
    };
    assert.ok(report.findings.length >= 2, 'the unused versions are findings');
    await page.waitForFunction(
      `document.querySelectorAll('#findings .finding').length === ${report.findings.length}`,
    );
    const shown = await page.locator('#findings .finding').allInnerTexts();
    report.findings.forEach((finding, index) => {
      assert.ok(
        shown[index]!.includes(`${finding.model} version ${finding.version}`),
        shown[index],
      );
      assert.ok(shown[index]!.includes(finding.reason), shown[index]);
    });
    await page.screenshot({ path: path.join(OUTPUT, 'dashboard.png'), fullPage: true });
  });

  it('opens the page of a model with its chart, history and audit', async () => {
    await page.click('#fleet a[href="/models/digits-mlp"]');
    await page.waitForURL(`${server.url}/models/digits-mlp`);
    await page.waitForSelector('#latency-chart canvas');
    await page.waitForSelector('#audit tbody tr[data-action]');

    assert.equal(await page.locator('#model-name').textContent(), 'digits-mlp');
    assert.equal(await page.locator('#versions tbody tr').count(), 2);
    const legend = (await page.locator('#latency-chart .u-legend').textContent()) ?? '';
    assert.match(legend, /v1 p95/);
    assert.match(legend, /v2 p95/);

    const history = await page.locator('#history tbody tr').allInnerTexts();
    assert.equal(history.length, 2);
    assert.match(history[0]!, /staging\s+-\s+2\s+anonymous\s+set at upload/);

    const rows = page.locator('#audit tbody tr');
    const actions: Array<string | null> = [];
    for (let index = 0; index < (await rows.count()); index += 1) {
      actions.push(await rows.nth(index).getAttribute('data-action'));
    }
    for (const action of ['upload', 'alias_set', 'load']) {
      assert.ok(actions.includes(action), `audit shows ${action}: ${actions.join(', ')}`);
    }
    await page.screenshot({ path: path.join(OUTPUT, 'dashboard-model.png'), fullPage: true });
    assert.deepEqual(pageErrors, []);
  });

  it('shows the staging comparison and the canary weight', async () => {
    const comparison = (await call(`${server.url}/api/v1/models/digits-mlp/comparison`)).body;
    assert.equal(comparison.agreement.requests, 6);
    await page.waitForSelector('#staging-cards .card[data-field="compared"]');
    const card = (field: string) =>
      page.locator(`#staging-cards .card[data-field="${field}"] .value`).textContent();

    assert.equal(await page.locator('#staging-summary').textContent(), comparison.summary);
    assert.equal(await card('production'), 'v1');
    assert.equal(await card('staging'), 'v2');
    assert.equal(await card('compared'), '6');
    assert.equal(await card('agreement'), `${comparison.agreement.percent.toFixed(1)}%`);
    assert.equal(await card('p95-ratio'), `${comparison.latency_ms.p95_ratio.toFixed(2)}x`);
    assert.equal(await card('shadow'), '100%');
    assert.equal(await card('canary'), '10%');
    assert.equal(await card('problems'), '0 / 0');
    assert.deepEqual(pageErrors, []);
  });

  it('serves the chart library and rejects unknown files', async () => {
    const uplot = await fetch(`${server.url}/assets/uPlot.iife.min.js`);
    assert.equal(uplot.status, 200);
    assert.match(uplot.headers.get('content-type')!, /^text\/javascript/);
    const missing = await call(`${server.url}/assets/..%2Fpackage.json`);
    assert.equal(missing.status, 404);
  });
});
