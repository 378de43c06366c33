import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { canaryPick } from '../../src/serving/staging/routing.js';

describe('canary choice', () => {
  it('keeps one key on one side', () => {
    for (let key = 0; key < 200; key += 1) {
      const first = canaryPick('digits', `user-${key}`, 30);
      for (let again = 0; again < 3; again += 1) {
        assert.equal(canaryPick('digits', `user-${key}`, 30), first, `user-${key}`);
      }
    }
  });

  it('sends about the weight of distinct keys to staging', () => {
    const keys = 4000;
    let toStaging = 0;
    for (let key = 0; key < keys; key += 1)
      if (canaryPick('digits', `caller ${key}`, 20)) toStaging += 1;
    // Binomial(4000, 0.2): mean 800, standard deviation about 25; 4 sigma is 100.
    assert.ok(Math.abs(toStaging - 800) <= 100, `${toStaging} of ${keys} keys went to staging`);
  });

  it('keeps staged keys on staging when the weight grows', () => {
    for (let key = 0; key < 500; key += 1) {
      if (canaryPick('digits', `k${key}`, 10)) assert.ok(canaryPick('digits', `k${key}`, 25));
    }
  });

  it('never picks staging at 0% and always at 100%', () => {
    for (let key = 0; key < 100; key += 1) {
      assert.equal(canaryPick('digits', `k${key}`, 0), false);
      assert.equal(canaryPick('digits', undefined, 0), false);
      assert.equal(canaryPick('digits', `k${key}`, 100), true);
    }
  });
});
