import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compareOutputs, kindOf } from '../../src/serving/staging/compare.js';
import { Comparison } from '../../src/serving/staging/comparison.js';
import { toFloat16Bits } from '../../src/tensors/float16.js';
import type { Tensor } from '../../src/tensors/types.js';

function fp32(name: string, shape: number[], values: number[]): Tensor {
  return { name, datatype: 'FP32', shape, data: Float32Array.from(values) };
}

describe('output kinds', () => {
  it('reads [batch, classes] floats as scores', () => {
    assert.equal(kindOf({ datatype: 'FP32', shape: [8, 10] }), 'scores');
    assert.equal(kindOf({ datatype: 'FP16', shape: [-1, 2] }), 'scores');
  });

  it('reads other floats as values', () => {
    assert.equal(kindOf({ datatype: 'FP32', shape: [8] }), 'values');
    assert.equal(kindOf({ datatype: 'FP64', shape: [8, 1] }), 'values');
    assert.equal(kindOf({ datatype: 'FP32', shape: [2, 3, 4] }), 'values');
  });

  it('reads integers, BOOL and BYTES as labels', () => {
    assert.equal(kindOf({ datatype: 'INT64', shape: [8] }), 'labels');
    assert.equal(kindOf({ datatype: 'BOOL', shape: [8, 1] }), 'labels');
    assert.equal(kindOf({ datatype: 'BYTES', shape: [8] }), 'labels');
  });
});

describe('compareOutputs', () => {
  it('counts top-1 agreement per row of scores', () => {
    const production = [fp32('logits', [3, 3], [1, 5, 2, 9, 0, 0, 0, 0, 1])];
    const staging = [fp32('logits', [3, 3], [1, 6, 2, 0, 9, 0, 0, 0, 2])];
    const result = compareOutputs(production, staging, 1e-4);
    assert.equal(result.rows, 3);
    assert.equal(result.rowsAgreeing, 2);
    assert.equal(result.agrees, false);
    const output = result.outputs[0]!;
    assert.equal(output.kind, 'scores');
    assert.equal(output.rowsAgreeing, 2);
    assert.equal(output.elements, 9);
    assert.equal(output.maxAbsDiff, 9);
    assert.equal(output.withinTolerance, 5);
    assert.equal(output.absDiffSum, 1 + 9 + 9 + 1);
    assert.equal(output.absDiffCount, 9);
  });

  it('agrees on values within the tolerance', () => {
    const production = [fp32('y', [2], [1, 2])];
    const close = compareOutputs(production, [fp32('y', [2], [1.00005, 2])], 1e-4);
    assert.equal(close.agrees, true);
    assert.equal(close.outputs[0]!.withinTolerance, 2);
    const far = compareOutputs(production, [fp32('y', [2], [1.5, 2])], 1e-4);
    assert.equal(far.agrees, false);
    assert.equal(far.rowsAgreeing, 1);
    assert.equal(far.outputs[0]!.maxAbsDiff, 0.5);
  });

  it('compares labels exactly, across integer types', () => {
    const production: Tensor = {
      name: 'label',
      datatype: 'INT64',
      shape: [3],
      data: BigInt64Array.of(1n, 2n, 3n),
    };
    const sameType = compareOutputs(
      [production],
      [{ ...production, data: BigInt64Array.of(1n, 0n, 3n) }],
      0,
    );
    assert.equal(sameType.rowsAgreeing, 2);
    const int32: Tensor = {
      name: 'label',
      datatype: 'INT32',
      shape: [3],
      data: Int32Array.of(1, 2, 3),
    };
    assert.equal(compareOutputs([production], [int32], 0).agrees, true);
  });

  it('treats equal NaN as agreeing and NaN against a number as a mismatch', () => {
    const production = [fp32('y', [3], [Number.NaN, Number.POSITIVE_INFINITY, 1])];
    const same = compareOutputs(
      production,
      [fp32('y', [3], [Number.NaN, Number.POSITIVE_INFINITY, 1])],
      0,
    );
    assert.equal(same.agrees, true);
    const different = compareOutputs(
      production,
      [fp32('y', [3], [0, Number.POSITIVE_INFINITY, 1])],
      0,
    );
    assert.equal(different.agrees, false);
    assert.equal(different.outputs[0]!.nonFiniteMismatches, 1);
    assert.equal(different.outputs[0]!.absDiffCount, 1);
  });

  it('reads half precision outputs as numbers', () => {
    const half = (values: number[]): Tensor => ({
      name: 'y',
      datatype: 'FP16',
      shape: [1, 2],
      data: Uint16Array.from(values.map(toFloat16Bits)),
    });
    const result = compareOutputs([half([0.5, 2])], [half([0.25, 2])], 0);
    assert.equal(result.outputs[0]!.maxAbsDiff, 0.25);
    assert.equal(result.agrees, true, 'both rows pick class 1');
  });

  it('marks missing and misshapen outputs as disagreeing', () => {
    const production = [fp32('a', [2, 2], [1, 0, 1, 0]), fp32('b', [2], [1, 1])];
    const result = compareOutputs(production, [fp32('a', [2, 3], [1, 0, 0, 1, 0, 0])], 1);
    assert.equal(result.agrees, false);
    assert.equal(result.rowsAgreeing, 0);
    assert.deepEqual(
      result.outputs.map((output) => output.mismatch),
      ['shape', 'missing'],
    );
  });
});

describe('comparison totals', () => {
  function comparison(): Comparison {
    return new Comparison({
      model: 'm',
      productionVersion: 2,
      stagingVersion: 3,
      tolerance: 1e-4,
      startedAt: '2026-01-01T00:00:00.000Z',
      maxSamples: 2,
    });
  }
  const noTensors = () => ({ requestId: null, inputs: [], production: [], staging: [] });

  it('summarizes agreement and the p95 latency ratio', () => {
    const totals = comparison();
    const agree = compareOutputs([fp32('y', [1, 2], [0, 1])], [fp32('y', [1, 2], [0, 2])], 0);
    const disagree = compareOutputs([fp32('y', [1, 2], [0, 1])], [fp32('y', [1, 2], [1, 0])], 0);
    for (let index = 0; index < 999; index += 1) {
      totals.countMirrored();
      totals.record(agree, { productionMs: 1, stagingMs: 2 }, noTensors);
    }
    totals.countMirrored();
    totals.record(disagree, { productionMs: 1, stagingMs: 2 }, noTensors);
    assert.match(
      totals.summary(),
      /^staging v3 agrees with production v2 on 99\.9% of 1,000 requests; p95 latency 2\.\dx$/,
    );
    assert.equal(totals.report().agreement.percent, 99.9);
    assert.equal(totals.pending, 0);
  });

  it('keeps the largest disagreements only', () => {
    const totals = comparison();
    for (const gap of [1, 5, 3]) {
      const difference = compareOutputs([fp32('y', [1], [0])], [fp32('y', [1], [gap])], 0);
      totals.record(difference, { productionMs: 1, stagingMs: 1 }, noTensors);
    }
    assert.deepEqual(
      totals.report().disagreements.map((sample) => sample.maxAbsDiff),
      [5, 3],
    );
  });

  it('restores its totals but not totals of another tolerance', () => {
    const totals = comparison();
    const difference = compareOutputs([fp32('y', [1], [0])], [fp32('y', [1], [0])], 0);
    totals.countMirrored();
    totals.countMirrored();
    totals.record(difference, { productionMs: 1, stagingMs: 1 }, noTensors);
    const restored = comparison();
    restored.restore(totals.toJson());
    assert.equal(restored.compared, 1);
    assert.equal(restored.dropped.shutting_down, 1, 'the request pending at the stop never ran');
    assert.equal(restored.summary(), `${totals.summary()}; 1 shadow request dropped`);
    const other = new Comparison({
      model: 'm',
      productionVersion: 2,
      stagingVersion: 3,
      tolerance: 0.5,
      startedAt: '2026-01-01T00:00:00.000Z',
      maxSamples: 2,
    });
    assert.throws(() => other.restore(totals.toJson()), /tolerance 0.0001/);
  });
});
