/** The age of a verification: the oldest check behind it, carried slices keeping their own times. */
import { expect } from 'chai';
import { oldestCheck, type SliceVerification } from '../../src/verifier/verifier';

const result = (index: number, times: Partial<SliceVerification>): SliceVerification => ({
  customer: 'acme', index, bounds: {} as SliceVerification['bounds'], sourceCount: 1, targetCount: 1,
  missingCount: 0, extraCount: 0, differentCount: 0, unstableCount: 0, resolvedInFlight: 0,
  missing: [], extra: [], different: [], clean: true, runStartedAt: 0, checkedAt: 0, by: 'test', ...times,
});

describe('oldestCheck', () => {
  it('is the earliest check time, a carried result counting with its original one', () => {
    const fresh = result(0, { runStartedAt: 1_000, checkedAt: 2_000 });
    const carried = result(1, { runStartedAt: 100, checkedAt: 150, carriedFrom: 'run-1' });
    const got = oldestCheck([fresh, carried]);
    expect(got?.at).to.equal(150);
    expect(got?.result.carriedFrom).to.equal('run-1');
  });

  it('counts a result without usable times as the oldest possible, and is null without results', () => {
    expect(oldestCheck([result(0, { checkedAt: 5_000 }), result(1, { checkedAt: undefined as any, runStartedAt: undefined as any })])?.at).to.equal(0);
    expect(oldestCheck([result(0, { checkedAt: undefined as any, runStartedAt: 700 })])?.at).to.equal(700);
    expect(oldestCheck([])).to.equal(null);
  });
});
