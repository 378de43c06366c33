import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { findFindings, type VersionFacts } from '../../src/governance/findings.js';

const NOW = Date.parse('2026-12-01T00:00:00.000Z');
const DAY = 86_400_000;

function facts(
  overrides: Partial<VersionFacts> & Pick<VersionFacts, 'model' | 'version'>,
): VersionFacts {
  return {
    createdAt: '2026-10-01T00:00:00.000Z',
    sha256: `${overrides.model}-${overrides.version}`.padEnd(64, '0'),
    state: 'ready',
    aliases: [],
    requests: 10,
    lastUsedAt: new Date(NOW - DAY).toISOString(),
    shadowLastUsedAt: null,
    health: { status: 'healthy', reasons: [] },
    probes: undefined,
    productionVersion: undefined,
    ...overrides,
  };
}

const RULES = { outdatedDays: 7, idleDays: 30 };

describe('report findings', () => {
  it('reports an old never-used version as outdated, not also unused', () => {
    const found = findFindings(
      [
        facts({ model: 'm', version: 1, requests: 0, lastUsedAt: null, productionVersion: 2 }),
        facts({ model: 'm', version: 2, aliases: ['production'], productionVersion: 2 }),
      ],
      RULES,
      NOW,
    );
    assert.deepEqual(
      found.map((f) => [f.kind, f.version]),
      [['outdated', 1]],
    );
    assert.match(
      found[0]!.reason,
      /newer version 2 holds production, and this version was never used/,
    );
  });

  it('keeps a recently used older version out of outdated', () => {
    const found = findFindings(
      [
        facts({
          model: 'm',
          version: 1,
          productionVersion: 2,
          lastUsedAt: new Date(NOW - 6 * DAY).toISOString(),
        }),
      ],
      RULES,
      NOW,
    );
    assert.deepEqual(found, []);
  });

  it('keeps the aliased copy of duplicated bytes', () => {
    const sha = 'a'.repeat(64);
    const found = findFindings(
      [
        facts({ model: 'old', version: 1, sha256: sha, createdAt: '2026-01-01T00:00:00.000Z' }),
        facts({
          model: 'live',
          version: 3,
          sha256: sha,
          aliases: ['production'],
          createdAt: '2026-06-01T00:00:00.000Z',
        }),
      ],
      RULES,
      NOW,
    );
    assert.deepEqual(
      found.map((f) => [f.kind, f.model, f.version]),
      [['redundant', 'old', 1]],
    );
    assert.match(found[0]!.reason, /as live version 3/);
  });

  it('advises no delete of a duplicate behind an alias', () => {
    const sha = 'b'.repeat(64);
    const found = findFindings(
      [
        facts({
          model: 'first',
          version: 1,
          sha256: sha,
          aliases: ['production'],
          createdAt: '2026-01-01T00:00:00.000Z',
        }),
        facts({
          model: 'second',
          version: 3,
          sha256: sha,
          aliases: ['production', 'stable'],
          createdAt: '2026-06-01T00:00:00.000Z',
        }),
      ],
      RULES,
      NOW,
    );
    assert.deepEqual(
      found.map((f) => [f.kind, f.model, f.version]),
      [['redundant', 'second', 3]],
    );
    assert.equal(
      found[0]!.action,
      'callers reach it through "production", "stable"; move them to first version 1, then remove the alias and archive it',
    );
  });

  it('ignores archived versions', () => {
    const found = findFindings(
      [facts({ model: 'm', version: 1, state: 'archived', requests: 0, lastUsedAt: null })],
      RULES,
      NOW,
    );
    assert.deepEqual(found, []);
  });

  it('reports idle versions after the idle days', () => {
    const found = findFindings(
      [
        facts({ model: 'm', version: 1, lastUsedAt: new Date(NOW - 31 * DAY).toISOString() }),
        facts({ model: 'm', version: 2, lastUsedAt: new Date(NOW - 29 * DAY).toISOString() }),
      ],
      RULES,
      NOW,
    );
    assert.deepEqual(
      found.map((f) => [f.kind, f.version, f.reason]),
      [['unused', 1, 'idle for 31 days (last used 2026-10-31)']],
    );
  });

  it('keeps a shadowed staging version out of unused', () => {
    const staging = { aliases: ['staging'], requests: 0, lastUsedAt: null };
    const found = findFindings(
      [
        facts({
          model: 'm',
          version: 2,
          ...staging,
          shadowLastUsedAt: new Date(NOW - DAY).toISOString(),
        }),
        facts({
          model: 'm',
          version: 3,
          ...staging,
          shadowLastUsedAt: new Date(NOW - 31 * DAY).toISOString(),
        }),
        facts({ model: 'm', version: 4, ...staging }),
      ],
      RULES,
      NOW,
    );
    assert.deepEqual(
      found.map((f) => [f.kind, f.version]),
      [
        ['unused', 3],
        ['unused', 4],
      ],
    );
  });

  it('skips versions whose probes did not all answer when comparing outputs', () => {
    const result = (outputs: string | null) => ({
      name: 'p',
      passed: outputs !== null,
      message: '',
      maxDifference: 0,
      durationMs: 1,
      requestSha256: 'r',
      outputsSha256: outputs,
    });
    const run = (outputs: string | null) => ({
      ranAt: '',
      trigger: 'load' as const,
      passed: true,
      results: [result(outputs)],
    });
    const found = findFindings(
      [
        facts({ model: 'a', version: 1, probes: run('o'), createdAt: '2026-01-01T00:00:00.000Z' }),
        facts({ model: 'b', version: 1, probes: run('o') }),
        facts({ model: 'c', version: 1, probes: run(null) }),
      ],
      RULES,
      NOW,
    );
    assert.deepEqual(
      found.map((f) => [f.kind, f.model]),
      [['redundant', 'b']],
    );
  });
});
