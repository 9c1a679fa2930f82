/** The age of a verification: the oldest check behind it, carried slices keeping their own times. */
import { expect } from 'chai';
import { oldestCheckOf, type BucketTally } from '../../src/verifier/verifier';

const tally = (oldestCheckAt: number | null, checked = [0]): BucketTally => ({ checked, clean: checked.length, sourceDocs: 1, targetDocs: 1, oldestCheckAt, finished: true });

describe('oldestCheckOf', () => {
  it('is the earliest check of the buckets, and the carried slices count with their original time', () => {
    expect(oldestCheckOf([tally(2_000), tally(1_500)])).to.equal(1_500);
    expect(oldestCheckOf([tally(2_000)], { clean: 10, oldestCheckAt: 150, startedAt: 100 })).to.equal(150);
    // A re-run that re-checks nothing is exactly as old as its parent.
    expect(oldestCheckOf([], { clean: 10, oldestCheckAt: 150, startedAt: 100 })).to.equal(150);
  });

  it('counts a carried part without a time as the oldest possible, and is null when nothing was checked', () => {
    expect(oldestCheckOf([tally(5_000)], { clean: 3, oldestCheckAt: null, startedAt: 0 })).to.equal(0);
    expect(oldestCheckOf([tally(null, [])])).to.equal(null);
    expect(oldestCheckOf([], { clean: 0, oldestCheckAt: 7, startedAt: 0 })).to.equal(null);
  });
});
