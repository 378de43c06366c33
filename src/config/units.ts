const BYTE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kb: 1000,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1000 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1000 ** 3,
  gib: 1024 ** 3,
  t: 1024 ** 4,
  tb: 1000 ** 4,
  tib: 1024 ** 4,
};

const DURATION_UNITS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

/**
 * Parses a byte size such as `1073741824`, `512MiB`, `1.5GB` or `2g`. Single letters and the
 * IEC suffixes are powers of 1024, the SI suffixes (kB, MB, GB, TB) powers of 1000.
 */
export function parseBytes(text: string, what: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  const unit = match ? BYTE_UNITS[match[2]!.toLowerCase()] : undefined;
  if (!match || unit === undefined) {
    throw new Error(
      `invalid ${what} "${text}": use a byte count with an optional unit, such as 512MiB or 2GB`,
    );
  }
  return Math.floor(Number(match[1]) * unit);
}

/** Parses a duration such as `500ms`, `30s`, `15m`, `2h` or `7d`; a bare number is milliseconds. */
export function parseDuration(text: string, what: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/i.exec(text);
  if (!match) {
    throw new Error(`invalid ${what} "${text}": use a number with a unit: ms, s, m, h or d`);
  }
  const unit = DURATION_UNITS[(match[2] ?? 'ms').toLowerCase()]!;
  return Math.round(Number(match[1]) * unit);
}

/** Formats a byte count with a binary unit for logs and tables. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let index = 0;
  while (Math.abs(value) >= 1024 && index < units.length - 1) {
    value /= 1024;
    index += 1;
  }
  return index === 0 ? `${value} B` : `${value.toFixed(1)} ${units[index]}`;
}
