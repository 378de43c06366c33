import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fromFloat16Bits, toFloat16Bits } from '../../src/tensors/float16.js';

describe('float16', () => {
  const cases: Array<[number, number]> = [
    [0, 0x0000],
    [-0, 0x8000],
    [1, 0x3c00],
    [-2, 0xc000],
    [65504, 0x7bff],
    [65520, 0x7c00],
    [2 ** -24, 0x0001],
    [2 ** -14, 0x0400],
    [0.1, 0x2e66],
    [Number.POSITIVE_INFINITY, 0x7c00],
    [Number.NEGATIVE_INFINITY, 0xfc00],
  ];

  for (const [value, bits] of cases) {
    it(`encodes ${value} as 0x${bits.toString(16)}`, () => {
      assert.equal(toFloat16Bits(value), bits);
    });
  }

  it('rounds halfway cases to even', () => {
    assert.equal(toFloat16Bits(1 + 2 ** -11), 0x3c00);
    assert.equal(toFloat16Bits(1 + 3 * 2 ** -11), 0x3c02);
  });

  it('keeps NaN a NaN', () => {
    assert.ok(Number.isNaN(fromFloat16Bits(toFloat16Bits(Number.NaN))));
  });

  it('decodes every finite pattern back to the same bits', () => {
    for (let bits = 0; bits < 0x10000; bits += 1) {
      const value = fromFloat16Bits(bits);
      if (Number.isNaN(value)) continue;
      assert.equal(toFloat16Bits(value), bits, `0x${bits.toString(16)}`);
    }
  });
});
