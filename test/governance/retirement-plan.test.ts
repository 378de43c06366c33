import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parsePolicy } from '../../src/governance/policy.js';
import { planRetirement, type VersionFacts } from '../../src/governance/retirement-plan.js';
import type { VersionRecord } from '../../src/registry/records.js';

const NOW = new Date('2026-12-01T00:00:00.000Z');
const DAY = 86_400_000;

/** Returns the ISO time `days` days before NOW. */
function daysAgo(days: number): string {
  return new Date(NOW.getTime() - days * DAY).toISOString();
}

function fact(
  model: string,
  version: number,
  options: Partial<VersionRecord> & {
    aliases?: string[];
    pinned?: boolean;
    lastUsedAt?: string | null;
  } = {},
): VersionFacts {
  const { aliases = [], pinned = false, lastUsedAt = null, ...record } = options;
  return {
    record: {
      model,
      version,
      format: 'onnx',
      sha256: `${model}-${version}`,
      sizeBytes: 1,
      signature: { inputs: [], outputs: [] },
      sourceName: '',
      description: '',
      state: 'ready',
      stateReason: '',
      createdAt: daysAgo(1),
      archivedAt: null,
      restoredAt: null,
      ...record,
    },
    aliases,
    pinned,
    lastUsedAt,
  };
}

const policy = (document: unknown) => parsePolicy(document, 'test.json');

/** Steps as "model version action" strings, for compact comparisons. */
function summarize(steps: ReturnType<typeof planRetirement>): string[] {
  return steps.map((step) => `${step.model} ${step.version} ${step.action}`);
}

describe('retirement plan', () => {
  it('archives versions below the newest K', () => {
    const facts = [1, 2, 3, 4, 5].map((v) => fact('m', v));
    const steps = planRetirement(facts, policy({ defaults: { keep_newest: 2 } }), NOW);
    assert.deepEqual(summarize(steps), ['m 1 archive', 'm 2 archive', 'm 3 archive']);
    assert.deepEqual(steps[0]!.reasons, ['older than the 2 newest versions (keep_newest 2)']);
  });

  it('counts archived versions among the newest K but leaves them alone', () => {
    const facts = [
      fact('m', 1),
      fact('m', 2, { state: 'archived', archivedAt: daysAgo(1) }),
      fact('m', 3),
    ];
    const steps = planRetirement(facts, policy({ defaults: { keep_newest: 2 } }), NOW);
    assert.deepEqual(summarize(steps), ['m 1 archive']);
  });

  it('skips versions behind an alias or pinned and says why', () => {
    const facts = [
      fact('m', 1, { aliases: ['production', 'stable'] }),
      fact('m', 2, { pinned: true }),
      fact('m', 3),
      fact('m', 4),
    ];
    const steps = planRetirement(facts, policy({ defaults: { keep_newest: 1 } }), NOW);
    assert.deepEqual(summarize(steps), ['m 1 skip', 'm 2 skip', 'm 3 archive']);
    assert.deepEqual(steps[0]!.protectedBy, ['alias "production"', 'alias "stable"']);
    assert.deepEqual(steps[1]!.protectedBy, ['pin']);
    assert.deepEqual(steps[2]!.protectedBy, []);
  });

  it('archives versions unused for longer than the limit', () => {
    const facts = [
      fact('m', 1, { createdAt: daysAgo(90), lastUsedAt: daysAgo(31) }),
      fact('m', 2, { createdAt: daysAgo(90), lastUsedAt: daysAgo(29) }),
      fact('m', 3, { createdAt: daysAgo(40) }),
      fact('m', 4, { createdAt: daysAgo(10) }),
      // Restored five days ago: the unused period starts again there.
      fact('m', 5, { createdAt: daysAgo(90), lastUsedAt: daysAgo(60), restoredAt: daysAgo(5) }),
    ];
    const rules = policy({ defaults: { archive_unused_after: '30d' } });
    const steps = planRetirement(facts, rules, NOW);
    assert.deepEqual(summarize(steps), ['m 1 archive', 'm 3 archive']);
    assert.deepEqual(steps[0]!.reasons, ['unused for 31 d, longer than archive_unused_after 30d']);
    assert.deepEqual(steps[1]!.reasons, [
      'never used for 40 d, longer than archive_unused_after 30d',
    ]);
  });

  it('deletes versions archived for longer than the retention', () => {
    const facts = [
      fact('m', 1, { state: 'archived', archivedAt: daysAgo(100) }),
      fact('m', 2, { state: 'archived', archivedAt: daysAgo(10) }),
      // Archived at an unknown time: the retention cannot be measured, so it stays.
      fact('m', 3, { state: 'archived', archivedAt: null }),
      fact('m', 4, { createdAt: daysAgo(400) }),
    ];
    const rules = policy({ defaults: { delete_archived_after: '90d' } });
    const steps = planRetirement(facts, rules, NOW);
    assert.deepEqual(summarize(steps), ['m 1 delete']);
    assert.deepEqual(steps[0]!.reasons, [
      'archived for 100 d, longer than delete_archived_after 90d',
    ]);
  });

  it('lists every matching rule of a version', () => {
    const facts = [fact('m', 1, { createdAt: daysAgo(50) }), fact('m', 2)];
    const rules = policy({ defaults: { keep_newest: 1, archive_unused_after: '30d' } });
    const [step] = planRetirement(facts, rules, NOW);
    assert.equal(step!.reasons.length, 2);
  });

  it('applies model overrides over the defaults', () => {
    const facts = [
      fact('a', 1),
      fact('a', 2),
      fact('b', 1),
      fact('b', 2),
      fact('c', 1, { createdAt: daysAgo(50) }),
      fact('c', 2, { createdAt: daysAgo(50) }),
    ];
    const rules = policy({
      defaults: { keep_newest: 1, archive_unused_after: '30d' },
      models: { b: { keep_newest: null }, c: { archive_unused_after: null } },
    });
    const steps = planRetirement(facts, rules, NOW);
    // b keeps every version; c keeps the newest one and ignores idleness.
    assert.deepEqual(summarize(steps), ['a 1 archive', 'c 1 archive']);
  });

  it('plans nothing without rules', () => {
    const facts = [fact('m', 1, { createdAt: daysAgo(999) }), fact('m', 2)];
    assert.deepEqual(planRetirement(facts, policy({}), NOW), []);
  });
});

describe('retirement policy file', () => {
  it('reads durations and overrides', () => {
    const parsed = policy({
      defaults: { keep_newest: 3, archive_unused_after: '30d', delete_archived_after: '12h' },
      models: { digits: { keep_newest: null } },
    });
    assert.equal(parsed.defaults.keepNewest, 3);
    assert.deepEqual(parsed.defaults.archiveUnusedAfter, { text: '30d', ms: 30 * DAY });
    assert.equal(parsed.defaults.deleteArchivedAfter?.ms, 12 * 3_600_000);
    assert.deepEqual(parsed.models.get('digits'), { keepNewest: null });
  });

  it('rejects invalid documents naming the key and the fix', () => {
    const cases: Array<[unknown, RegExp]> = [
      [[], /the document must be a JSON object/],
      [{ default: {} }, /unknown key "default"; use "defaults", "models"/],
      [{ defaults: { keep: 1 } }, /unknown key "defaults.keep"/],
      [{ defaults: { keep_newest: 0 } }, /"defaults.keep_newest" must be a whole number/],
      [{ defaults: { keep_newest: 1.5 } }, /"defaults.keep_newest" must be a whole number/],
      [{ defaults: { archive_unused_after: 30 } }, /must be a duration with a unit/],
      [{ defaults: { archive_unused_after: '30' } }, /must be a duration with a unit/],
      [{ models: { 'bad name!': {} } }, /"bad name!", which is not a valid model name/],
      [{ models: { m: { delete_archived_after: 'soon' } } }, /"models.m.delete_archived_after"/],
    ];
    for (const [document, message] of cases) {
      assert.throws(() => policy(document), message, JSON.stringify(document));
    }
  });
});
