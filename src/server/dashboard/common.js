// Helpers shared by the dashboard pages. Every value from the API reaches the page through
// textContent, never as HTML.

/** Fetches a JSON document from the Steward API; throws with the server's message on an error status. */
export async function getJson(path) {
  const response = await fetch(path, { headers: { accept: 'application/json' } });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new Error(body.error ?? `${response.status} ${response.statusText}`);
    error.status = response.status;
    throw error;
  }
  return body;
}

/** Creates an element with attributes and children; strings become text nodes. */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value !== undefined && value !== null) node.setAttribute(name, String(value));
  }
  for (const child of children) {
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** Describes a past time relative to now, as the CLI does: "never used", "3 s ago", "2 d ago". */
export function ago(iso, now = Date.now()) {
  if (!iso) return 'never used';
  const seconds = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (seconds < 60) return `${seconds} s ago`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.round(minutes / 60);
  if (hours < 48) return `${hours} h ago`;
  return `${Math.round(hours / 24)} d ago`;
}

/** Formats a byte count with a binary unit, as the CLI does. */
export function formatBytes(bytes) {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let index = 0;
  while (Math.abs(value) >= 1024 && index < units.length - 1) {
    value /= 1024;
    index += 1;
  }
  return index === 0 ? `${value} B` : `${value.toFixed(1)} ${units[index]}`;
}

export function formatMs(ms) {
  return ms === null || ms === undefined ? '-' : `${ms.toFixed(2)} ms`;
}

/** Returns the share of requests that failed in the model as a percentage, or "-" before the first request. */
export function errorRate(usage) {
  if (!usage || usage.requests === 0) return '-';
  return `${((100 * usage.errors) / usage.requests).toFixed(1)}%`;
}

/** Creates a status badge. A status without a style of its own gets the neutral one. */
export function statusBadge(status) {
  const name = String(status ?? 'unknown');
  return el('span', { class: `badge status-${name.replace(/[^a-z]+/gi, '-')}` }, name);
}

export function memoryOf(version) {
  return version.load?.loaded ? formatBytes(version.load.memory_bytes) : '-';
}

export function loadedOf(version) {
  return version.load?.loaded ? 'yes' : 'no';
}

/** Shows an error message in the page's error line, or hides the line with null. */
export function showError(message) {
  const line = document.getElementById('error');
  line.hidden = message === null;
  line.textContent = message ?? '';
}

export function stamp() {
  document.getElementById('updated').textContent = `updated ${new Date().toLocaleTimeString()}`;
}

/** Replaces the rows of a table body. */
export function fillTable(table, rows) {
  const body = table.tBodies[0];
  body.replaceChildren(...rows);
}

/** Creates a table row. Each cell is text, a node, or `{text, class}`. */
export function row(cells, attributes = {}) {
  return el(
    'tr',
    attributes,
    ...cells.map((cell) => {
      if (cell instanceof Node) return el('td', {}, cell);
      if (typeof cell === 'object' && cell !== null)
        return el('td', { class: cell.class }, cell.text);
      return el('td', {}, cell);
    }),
  );
}
