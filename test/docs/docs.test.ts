import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { SETTINGS } from '../../src/config/config.js';
import { ERROR_CODES } from '../../src/errors.js';
import { REPO_ROOT } from '../support/paths.js';

describe('documentation', () => {
  it('lists every error code with its status', async () => {
    const api = await readFile(path.join(REPO_ROOT, 'docs/api.md'), 'utf8');
    for (const [code, { status }] of Object.entries(ERROR_CODES)) {
      assert.match(
        api,
        new RegExp(`\\|\\s*\`${code}\`\\s*\\|\\s*${status}\\s*\\|`),
        `${code} is missing from docs/api.md`,
      );
    }
  });

  it('lists every setting with its flag, variable and file key', async () => {
    const configuration = await readFile(path.join(REPO_ROOT, 'docs/configuration.md'), 'utf8');
    for (const setting of SETTINGS) {
      const flag = setting.flag.split(' ')[0]!;
      const row = new RegExp(
        `\\|\\s*\`${flag}\`\\s*\\|\\s*\`${setting.env}\`\\s*\\|\\s*\`${setting.key}\`\\s*\\|`,
      );
      assert.match(configuration, row, `${flag} is missing from docs/configuration.md`);
    }
  });
});
