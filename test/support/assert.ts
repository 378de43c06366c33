import assert from 'node:assert/strict';

/** Asserts that two arrays have the same length and differ by at most `tolerance` per element. */
export function assertClose(
  actual: readonly number[],
  expected: readonly number[],
  tolerance: number,
  what: string,
): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i += 1) {
    const difference = Math.abs(actual[i]! - expected[i]!);
    assert.ok(
      difference <= tolerance,
      `${what}[${i}]: ${actual[i]} differs from ${expected[i]} by ${difference}`,
    );
  }
}
