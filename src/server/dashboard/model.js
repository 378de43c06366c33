// The page of one model: its versions, staging comparison, latency chart, alias history and
// audit entries.
import {
  ago,
  el,
  errorRate,
  fillTable,
  formatMs,
  getJson,
  loadedOf,
  memoryOf,
  row,
  showError,
  stamp,
  statusBadge,
} from './common.js';

const REFRESH_MS = 10000;
const AUDIT_ENTRIES = 50;
const COLORS = ['#1f5fbf', '#c2410c', '#15803d', '#7e22ce', '#b91c1c', '#0e7490', '#a16207'];

const name = decodeURIComponent(location.pathname.replace(/^\/models\//, '').replace(/\/$/, ''));
const api = `/api/v1/models/${encodeURIComponent(name)}`;
let chart;

async function refresh() {
  let model;
  try {
    model = await getJson(api);
  } catch (error) {
    showError(`Cannot read model "${name}": ${error.message}`);
    return;
  }
  showError(null);
  renderHeader(model);
  renderVersions(model.versions);
  renderStaging(model.staging);
  await Promise.all([renderLatency(model.versions), renderHistory(), renderAudit()]);
  stamp();
}

function renderHeader(model) {
  document.title = `Steward: ${model.name}`;
  document.getElementById('model-name').textContent = model.name;
  document.getElementById('description').textContent = model.description;
  const aliases = Object.entries(model.aliases).map(([alias, version]) => `${alias} → ${version}`);
  document.getElementById('aliases').textContent =
    `Aliases: ${aliases.length > 0 ? aliases.join(', ') : 'none'}`;
}

function renderVersions(versions) {
  const rows = versions.map((version) =>
    row(
      [
        { text: version.version, class: 'number' },
        version.aliases.join(', ') || '-',
        statusBadge(version.status),
        version.state,
        ago(version.created_at),
        ago(version.usage?.last_used_at ?? null),
        { text: version.usage?.requests ?? 0, class: 'number' },
        { text: errorRate(version.usage), class: 'number' },
        { text: formatMs(version.usage?.latency_ms?.p50 ?? null), class: 'number' },
        { text: formatMs(version.usage?.latency_ms?.p95 ?? null), class: 'number' },
        { text: memoryOf(version), class: 'number' },
        loadedOf(version),
        el('code', {}, version.sha256.slice(0, 12)),
      ],
      { 'data-version': version.version },
    ),
  );
  fillTable(document.getElementById('versions'), rows);
}

/**
 * Shows the staging version's comparison with production and the traffic shares. The figures
 * are those of `staging.comparison` in the model's API response.
 */
function renderStaging(staging) {
  const summary = document.getElementById('staging-summary');
  const cards = document.getElementById('staging-cards');
  if (!staging || staging.staging_version === null) {
    summary.textContent =
      'No staging version. Point the staging alias at a candidate version to compare it with production on live requests.';
    cards.replaceChildren();
    return;
  }
  const comparison = staging.comparison;
  summary.textContent = comparison?.summary ?? inactiveStaging(staging);
  const settings = staging.settings;
  const dropped = comparison
    ? Object.values(comparison.shadow.dropped).reduce((sum, count) => sum + count, 0)
    : 0;
  const canary = comparison?.canary;
  cards.replaceChildren(
    card(
      'production',
      staging.production_version === null ? '-' : `v${staging.production_version}`,
      'production version',
    ),
    card('staging', `v${staging.staging_version}`, 'staging version'),
    card('compared', comparison?.agreement.requests ?? 0, 'compared requests'),
    card('agreement', percent(comparison?.agreement.percent ?? null), 'agreement'),
    card(
      'p95-ratio',
      ratio(comparison?.latency_ms.p95_ratio ?? null),
      'p95 latency, staging / production',
    ),
    card('shadow', `${settings.shadow_percent}%`, 'shadow share'),
    card(
      'canary',
      `${settings.canary_percent}%`,
      canary
        ? `canary weight: ${canary.requests_to_staging} to staging, ${canary.requests_to_production} to production`
        : 'canary weight',
    ),
    card(
      'problems',
      `${dropped} / ${comparison?.shadow.errors ?? 0}`,
      'shadow requests dropped / failed',
    ),
  );
}

function card(field, value, label) {
  return el(
    'div',
    { class: 'card', 'data-field': field },
    el('div', { class: 'value' }, value),
    el('div', { class: 'label' }, label),
  );
}

function inactiveStaging(staging) {
  if (staging.production_version === null) {
    return `No production version to compare staging version ${staging.staging_version} with.`;
  }
  return `Staging and production both point at version ${staging.staging_version}; there is nothing to compare.`;
}

function percent(value) {
  return value === null ? '-' : `${value.toFixed(1)}%`;
}

function ratio(value) {
  return value === null ? '-' : `${value.toFixed(2)}x`;
}

/** Draws p50 and p95 per minute for every version with requests in the window. */
async function renderLatency(versions) {
  const target = document.getElementById('latency-chart');
  const series = await Promise.all(
    versions.map(async (version) => ({
      version: version.version,
      latency: await getJson(`${api}/versions/${version.version}/latency`),
    })),
  );
  const withData = series.filter((entry) => entry.latency.points.length > 0);

  chart?.destroy();
  chart = undefined;
  if (withData.length === 0) {
    target.replaceChildren(el('p', { class: 'muted' }, 'No requests in the last two hours.'));
    return;
  }

  const { data, lines } = chartSeries(withData);
  target.replaceChildren();
  chart = new window.uPlot(
    {
      width: Math.max(480, target.clientWidth || 900),
      height: 280,
      // The whole window, so a single minute of traffic still sits on a readable time axis.
      scales: { x: { time: true, range: () => windowRange(withData[0].latency) } },
      axes: [{}, { label: 'latency (ms)', size: 70 }],
      series: lines,
    },
    data,
    target,
  );
}

/**
 * Aligns the versions' points on one time axis, as uPlot needs: the minutes in seconds, then a
 * p95 and a p50 column per version, with null where a version had no request that minute.
 */
function chartSeries(withData) {
  const seconds = (point) => Date.parse(point.start) / 1000;
  const times = [...new Set(withData.flatMap((entry) => entry.latency.points.map(seconds)))];
  times.sort((a, b) => a - b);

  const data = [times];
  const lines = [{}];
  withData.forEach((entry, index) => {
    const byTime = new Map(entry.latency.points.map((point) => [seconds(point), point]));
    const color = COLORS[index % COLORS.length];
    for (const [field, dash] of [
      ['p95_ms', undefined],
      ['p50_ms', [6, 4]],
    ]) {
      data.push(times.map((time) => byTime.get(time)?.[field] ?? null));
      lines.push({
        label: `v${entry.version} ${field.replace('_ms', '')}`,
        stroke: color,
        width: 2,
        dash,
        points: { show: true, size: 5 },
        value: (_chart, value) => (value === null ? '-' : `${value.toFixed(2)} ms`),
      });
    }
  });
  return { data, lines };
}

/** Returns the chart's time range in seconds: the series window, up to the current minute. */
function windowRange(latency) {
  const interval = latency?.interval_seconds ?? 60;
  const end = Math.ceil(Date.now() / 1000 / interval) * interval;
  return [end - (latency?.window_minutes ?? 120) * 60, end];
}

async function renderHistory() {
  const { history } = await getJson(`${api}/history`);
  const rows = history.map((change) =>
    row([
      change.changed_at.replace('T', ' ').replace(/\.\d+Z$/, 'Z'),
      change.alias,
      { text: change.from_version ?? '-', class: 'number' },
      { text: change.to_version ?? '-', class: 'number' },
      change.actor,
      { text: change.reason || '-', class: 'reason' },
    ]),
  );
  if (rows.length === 0) rows.push(row([el('span', { class: 'muted' }, 'No alias change yet.')]));
  fillTable(document.getElementById('history'), rows);
}

async function renderAudit() {
  const { entries } = await getJson(`${api}/audit?limit=${AUDIT_ENTRIES}`);
  const rows = entries.map((entry) =>
    row(
      [
        entry.at.replace('T', ' ').replace(/\.\d+Z$/, 'Z'),
        entry.action,
        { text: entry.version ?? '-', class: 'number' },
        entry.actor,
        { text: entry.reason || '-', class: 'reason' },
      ],
      { 'data-action': entry.action },
    ),
  );
  if (rows.length === 0) rows.push(row([el('span', { class: 'muted' }, 'No audit entry yet.')]));
  fillTable(document.getElementById('audit'), rows);
}

await refresh();
setInterval(refresh, REFRESH_MS);
