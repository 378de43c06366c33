import { readFileSync } from 'node:fs';

/** The package version, read once from package.json two folders above the compiled file. */
export const STEWARD_VERSION: string = (() => {
  const url = new URL('../../package.json', import.meta.url);
  return (JSON.parse(readFileSync(url, 'utf8')) as { version: string }).version;
})();
