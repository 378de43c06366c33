// The fleet page: a summary, the report's findings and one row per version.
import {
  ago,
  el,
  errorRate,
  fillTable,
  formatBytes,
  formatMs,
  getJson,
  loadedOf,
  memoryOf,
  row,
  showError,
  stamp,
  statusBadge,
} from './common.js';

const REFRESH_MS = 5000;

async function refresh() {
  try {
    const [{ models }, loaded] = await Promise.all([
      getJson('/api/v1/models'),
      getJson('/api/v1/loaded'),
    ]);
    renderSummary(models, loaded);
    renderVersions(models);
    showError(null);
    stamp();
  } catch (error) {
    showError(`Cannot read the fleet: ${error.message}`);
  }
  await renderFindings();
}

function renderSummary(models, loaded) {
  const versions = models.flatMap((model) => model.versions);
  const requests = versions.reduce((sum, version) => sum + (version.usage?.requests ?? 0), 0);
  const card = (value, label) =>
    el(
      'div',
      { class: 'card' },
      el('div', { class: 'value' }, value),
      el('div', { class: 'label' }, label),
    );
  document
    .getElementById('summary')
    .replaceChildren(
      card(models.length, 'models'),
      card(versions.length, 'versions'),
      card(loaded.versions.length, 'loaded'),
      card(
        `${formatBytes(loaded.used_bytes)} / ${formatBytes(loaded.budget_bytes)}`,
        'memory used / budget',
      ),
      card(requests, 'requests'),
    );
}

function renderVersions(models) {
  const rows = models.flatMap((model) =>
    model.versions.map((version) =>
      row(
        [
          el('a', { href: `/models/${encodeURIComponent(model.name)}` }, model.name),
          { text: version.version, class: 'number' },
          version.aliases.join(', ') || '-',
          statusBadge(version.status),
          version.state,
          ago(version.usage?.last_used_at ?? null),
          { text: version.usage?.requests ?? 0, class: 'number' },
          { text: errorRate(version.usage), class: 'number' },
          { text: formatMs(version.usage?.latency_ms?.p95 ?? null), class: 'number' },
          { text: memoryOf(version), class: 'number' },
          loadedOf(version),
        ],
        {
          'data-model': model.name,
          'data-version': version.version,
          class: version.state === 'archived' ? 'archived' : undefined,
        },
      ),
    ),
  );
  if (rows.length === 0)
    rows.push(row([el('span', { class: 'muted' }, 'No model is registered.')]));
  fillTable(document.getElementById('fleet'), rows);
}

/** Renders the report's totals line and findings. */
async function renderFindings() {
  const target = document.getElementById('findings');
  let report;
  try {
    report = await getJson('/api/v1/report');
  } catch (error) {
    target.replaceChildren(
      el('p', { class: 'muted' }, `Cannot read the fleet report: ${error.message}`),
    );
    return;
  }
  if (report.findings.length === 0) {
    target.replaceChildren(el('p', { class: 'muted' }, 'No findings.'));
    return;
  }
  target.replaceChildren(...report.findings.map(renderFinding));
}

function renderFinding(finding) {
  return el(
    'div',
    { class: `finding finding-${finding.kind}` },
    el('strong', {}, `${finding.kind.replace('_', ' ')}: `),
    el(
      'a',
      { href: `/models/${encodeURIComponent(finding.model)}` },
      `${finding.model} version ${finding.version}`,
    ),
    el('div', {}, finding.reason),
    el('div', { class: 'muted' }, `Recommended: ${finding.action}`),
  );
}

await refresh();
setInterval(refresh, REFRESH_MS);
