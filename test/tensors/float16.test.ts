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

describe('float16 rounding from doubles', () => {
  it('rounds once, from the double', () => {
    // Through float32 this would round to 1.0 first, then stay at 1.0.
    assert.equal(toFloat16Bits(1.0004882812500009), 0x3c01);
    assert.equal(fromFloat16Bits(toFloat16Bits(1.0004882812500009)), 1.0009765625);
  });

  it('rounds the largest finite half and overflows past it', () => {
    assert.equal(toFloat16Bits(65519.99), 0x7bff);
    assert.equal(toFloat16Bits(-65520), 0xfc00);
  });

  it('rounds subnormals half to even', () => {
    assert.equal(toFloat16Bits(2 ** -25), 0x0000);
    assert.equal(toFloat16Bits(3 * 2 ** -25), 0x0002);
    assert.equal(toFloat16Bits(2 ** -14 - 2 ** -26), 0x0400);
  });
});
