/** Packing small customers into effort-sized slices, and the hash buckets that keep listings small. */
import { expect } from 'chai';
import { addToSummary } from '../../src/coordination/claim';
import { bucketCount, bucketName, customerBucket, sliceBucket } from '../../src/coordination/layout';
import { emptySummary, newWorkNode } from '../../src/coordination/workNode';
import { packCustomers } from '../../src/planner/slicing';
import { multiBatches } from '../../src/planner/planner';

const opts = { targetDocs: 100, maxCustomers: 1000, maxNameBytes: 64 * 1024 };
const shapes = (sizes: number[]) => sizes.map((total, i) => ({ customer: i === sizes.length - 1 ? null : `c${String(i).padStart(5, '0')}`, total }));

describe('packCustomers', () => {
  it('puts every customer with documents in exactly one group, in order, each group at most the target unless alone', () => {
    const input = shapes(Array.from({ length: 5000 }, (_, i) => 1 + ((i * 37) % 60)));
    const groups = packCustomers(input, opts);
    const flat = groups.flat();
    expect(flat.map((c) => c.customer)).to.deep.equal(input.map((c) => c.customer));
    for (const g of groups) {
      const docs = g.reduce((n, c) => n + c.total, 0);
      if (g.length > 1) expect(docs).to.be.at.most(opts.targetDocs);
    }
    // Effort-sized: the groups are full, not one per tenant (about total / target of them).
    const total = input.reduce((n, c) => n + c.total, 0);
    expect(groups.length).to.be.below(Math.ceil(total / opts.targetDocs) * 2);
    expect(groups.length).to.be.at.least(Math.ceil(total / opts.targetDocs));
  });

  it('leaves customers without documents out, and a customer above the target alone', () => {
    const groups = packCustomers([{ customer: 'a', total: 0 }, { customer: 'b', total: 500 }, { customer: 'c', total: 3 }, { customer: 'd', total: 0 }], opts);
    expect(groups.map((g) => g.map((c) => c.customer))).to.deep.equal([['b'], ['c']]);
  });

  it('caps a group by customers and by the bytes of their names (the work node must fit ZooKeeper)', () => {
    const many = Array.from({ length: 25 }, (_, i) => ({ customer: `t${i}`, total: 1 }));
    expect(packCustomers(many, { ...opts, maxCustomers: 10 }).map((g) => g.length)).to.deep.equal([10, 10, 5]);
    const long = Array.from({ length: 6 }, (_, i) => ({ customer: `${'x'.repeat(1000)}${i}`, total: 1 }));
    expect(packCustomers(long, { ...opts, maxNameBytes: 2100 }).map((g) => g.length)).to.deep.equal([2, 2, 2]);
  });
});

describe('hash buckets', () => {
  it('keep about `per` items in each, a power of two from 1 to 4096', () => {
    expect(bucketCount(0, 64)).to.equal(1);
    expect(bucketCount(52, 64)).to.equal(1);
    expect(bucketCount(20_008, 64)).to.equal(512);
    expect(bucketCount(10_000_000, 64)).to.equal(4096);
    expect(bucketName(10, 256)).to.equal('0a');
    expect(bucketName(0, 1)).to.equal('0');
  });

  it('spread consecutive slices over every bucket, and a customer always lands in the same one', () => {
    const seen = new Set(Array.from({ length: 512 }, (_, i) => sliceBucket(i, 256)));
    expect(seen.size).to.equal(256);
    expect(customerBucket('acme', 64)).to.equal(customerBucket('acme', 64));
    const spread = new Map<string, number>();
    for (let i = 0; i < 10_000; i++) spread.set(customerBucket(`tenant-${i}`, 64), (spread.get(customerBucket(`tenant-${i}`, 64)) ?? 0) + 1);
    expect(spread.size).to.equal(64);
    expect(Math.max(...spread.values())).to.be.below(10_000 / 64 * 1.5);
    expect(customerBucket(null, 64)).to.not.equal(undefined);
  });
});

describe('bucket summaries', () => {
  it('count a done slice and list a failed one once, adding their counts', () => {
    const done = { ...newWorkNode(['a'], 3, { kind: 'all' }, 10), status: 'done' as const, finishedAt: 5, counts: { read: 10, written: 8, skipped: 2, rejected: 0 } };
    const failed = { ...newWorkNode(['b'], 7, { kind: 'all' }, 10), status: 'failed' as const, counts: { read: 4, written: 4, skipped: 0, rejected: 0 } };
    const s = addToSummary(addToSummary(addToSummary(emptySummary(), done), failed), failed);
    expect(s.done).to.equal(1);
    expect(s.failed).to.deep.equal([7]);
    expect(s.lastFinishedAt).to.equal(5);
    expect(s.counts.read).to.equal(18);
  });
});

describe('multiBatches', () => {
  it('cuts a plan\'s writes into multis that fit a ZooKeeper request, in order, a large op alone', () => {
    const op = (i: number, bytes: number) => ({ op: 'create' as const, path: `/m/slices/0/${String(i).padStart(6, '0')}`, data: Buffer.alloc(bytes) });
    const ops = [...Array.from({ length: 300 }, (_, i) => op(i, 20_000)), op(300, 900_000), op(301, 10)];
    const batches = multiBatches(ops);
    expect(batches.flat()).to.deep.equal(ops);
    for (const b of batches) {
      const bytes = b.reduce((n, o) => n + ((o as { data?: Buffer }).data?.length ?? 0), 0);
      expect(b.length).to.be.at.most(200);
      if (b.length > 1) expect(bytes).to.be.at.most(512 * 1024);
    }
    expect(batches.find((b) => b.includes(ops[300]))).to.have.length(1);
    expect(multiBatches(Array.from({ length: 450 }, (_, i) => op(i, 10))).map((b) => b.length)).to.deep.equal([200, 200, 50]);
  });
});
