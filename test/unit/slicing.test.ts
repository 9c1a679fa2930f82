import { expect } from 'chai';
import {
  assertTiles, inSlice, packBuckets, planCustomer, refineBuckets, summarize, toSlices, type Bucket, type Histogram,
} from '../../src/planner/slicing';

const DAY = 86_400_000;

/** A histogram over a fixed list of document timestamps: what a server's range facet would answer. */
function histogramOf(timestamps: number[]): Histogram & { calls: number } {
  const h = (async (from: number, to: number, buckets: number) => {
    h.calls++;
    const gap = Math.max(1, Math.ceil((to - from) / buckets));
    const out: Bucket[] = [];
    for (let s = from; s < to; s += gap) {
      const e = Math.min(s + gap, to);
      out.push({ from: s, to: e, count: timestamps.filter((t) => t >= s && t < e).length });
    }
    return out;
  }) as Histogram & { calls: number };
  h.calls = 0;
  return h;
}

function shapeOf(ts: number[], noTimestamp = 0) {
  return { total: ts.length + noTimestamp, noTimestamp, minTs: ts.length ? Math.min(...ts) : null, maxTs: ts.length ? Math.max(...ts) : null };
}

/** Every timestamp (and every missing one) lands in exactly one slice. */
function assertCoverage(slices: Awaited<ReturnType<typeof planCustomer>>, ts: Array<number | null>) {
  for (const t of ts) {
    const hits = slices.filter((s) => inSlice(s.bounds, t)).length;
    expect(hits, `document at ${t} is in ${hits} slices`).to.equal(1);
  }
  const ranges = slices.filter((s) => s.bounds.kind === 'range') as Array<{ bounds: { kind: 'range'; from: number | null; to: number | null } }>;
  expect(ranges[0].bounds.from).to.equal(null);
  expect(ranges[ranges.length - 1].bounds.to).to.equal(null);
  for (let i = 1; i < ranges.length; i++) expect(ranges[i].bounds.from).to.equal(ranges[i - 1].bounds.to);
}

const opts = { targetDocs: 100, minWidthMs: 1000, fanout: 50, initialBuckets: 20 };

describe('slicing', () => {
  it('gives a high-volume customer short slices and a low-volume long-retention one long slices', async () => {
    const start = Date.UTC(2024, 0, 1);
    const busy = Array.from({ length: 2000 }, (_, i) => start + 60 * DAY + Math.floor(i * ((7 * DAY) / 2000))); // 2000 docs in a week
    const quiet = Array.from({ length: 300 }, (_, i) => start + Math.floor(i * ((700 * DAY) / 300))); // 300 docs over ~2 years
    const busySlices = await planCustomer(shapeOf(busy), null, histogramOf(busy), opts);
    const quietSlices = await planCustomer(shapeOf(quiet), null, histogramOf(quiet), opts);
    assertCoverage(busySlices, busy);
    assertCoverage(quietSlices, quiet);
    const width = (s: (typeof busySlices)[number]) => (s.bounds.kind === 'range' && s.bounds.from !== null && s.bounds.to !== null ? s.bounds.to - s.bounds.from : NaN);
    const innerBusy = busySlices.map(width).filter(Number.isFinite);
    const innerQuiet = quietSlices.map(width).filter(Number.isFinite);
    expect(busySlices.length).to.be.greaterThan(15);
    expect(quietSlices.length).to.be.within(3, 8);
    expect(Math.max(...innerBusy)).to.be.lessThan(Math.min(...innerQuiet));
    for (const s of busySlices.filter((x) => x.bounds.kind === 'range')) expect(s.estimate).to.be.at.most(opts.targetDocs);
  });

  it('plans an empty customer as one open range slice plus the no-timestamp slice', async () => {
    const slices = await planCustomer(shapeOf([]), null, histogramOf([]), opts);
    expect(slices).to.deep.equal([
      { bounds: { kind: 'range', from: null, to: null }, estimate: 0 },
      { bounds: { kind: 'no-timestamp' }, estimate: 0 },
    ]);
  });

  it('keeps documents with no timestamp in their own slice with the right estimate', async () => {
    const ts = [1_000_000, 2_000_000, 3_000_000];
    const slices = await planCustomer(shapeOf(ts, 42), null, histogramOf(ts), opts);
    const nts = slices.filter((s) => s.bounds.kind === 'no-timestamp');
    expect(nts).to.have.length(1);
    expect(nts[0].estimate).to.equal(42);
    assertCoverage(slices, [...ts, null]);
  });

  it('refines a single-second burst down to the minimum width and accepts one oversized slice', async () => {
    const burst = Array.from({ length: 1000 }, () => Date.UTC(2024, 5, 1, 12, 0, 0, 500));
    const around = [Date.UTC(2024, 0, 1), Date.UTC(2024, 11, 31)];
    const ts = [...burst, ...around];
    const h = histogramOf(ts);
    const slices = await planCustomer(shapeOf(ts), null, h, opts);
    assertCoverage(slices, ts);
    const big = slices.filter((s) => s.estimate >= 1000);
    expect(big).to.have.length(1, 'the burst cannot be cut below the minimum width');
    const b = big[0].bounds as { from: number; to: number };
    expect(b.to - b.from).to.be.at.most(2 * opts.minWidthMs);
    expect(h.calls).to.be.lessThan(40);
  });

  it('puts documents older than the retention window in slices of their own, and covers the future', async () => {
    const now = Date.UTC(2025, 0, 1);
    const old = Array.from({ length: 50 }, (_, i) => now - 400 * DAY - i * DAY);
    const recent = Array.from({ length: 250 }, (_, i) => now - 90 * DAY + i * 8 * 3_600_000);
    const future = [now + 30 * DAY];
    const ts = [...old, ...recent, ...future];
    const retentionFrom = now - 90 * DAY;
    const slices = await planCustomer(shapeOf(ts), retentionFrom, histogramOf(ts), opts);
    assertCoverage(slices, ts);
    const edges = slices.flatMap((s) => (s.bounds.kind === 'range' ? [s.bounds.from, s.bounds.to] : []));
    expect(edges).to.include(retentionFrom, 'a slice edge lines up with the retention boundary');
    expect(summarize(slices.map((s) => s.estimate)).total).to.equal(ts.length);
  });

  it('packs contiguous buckets greedily without crossing the target', () => {
    const buckets: Bucket[] = [10, 50, 50, 0, 0, 90, 5, 5].map((count, i) => ({ from: i * 10, to: i * 10 + 10, count }));
    const packed = packBuckets(buckets, 100);
    expect(packed.map((p) => p.count)).to.deep.equal([60, 50, 100]);
    assertTiles(packed, 0, 80);
  });

  it('refuses a histogram that does not tile its range', () => {
    expect(() => assertTiles([{ from: 0, to: 5, count: 1 }, { from: 6, to: 10, count: 1 }], 0, 10)).to.throw(/do not meet/);
    expect(() => assertTiles([{ from: 0, to: 5, count: 1 }], 0, 10)).to.throw(/do not cover/);
  });

  it('does not refine buckets at or below the target', async () => {
    const h = histogramOf([]);
    const out = await refineBuckets([{ from: 0, to: 100_000, count: 100 }], h, { targetDocs: 100, minWidthMs: 1, fanout: 10 });
    expect(out).to.have.length(1);
    expect(h.calls).to.equal(0);
  });

  it('always ends with the no-timestamp slice', () => {
    const s = toSlices([{ from: 0, to: 10, count: 3 }], 7);
    expect(s[s.length - 1]).to.deep.equal({ bounds: { kind: 'no-timestamp' }, estimate: 7 });
  });

  it('summarizes estimates', () => {
    expect(summarize([5, 1, 3, 9])).to.deep.equal({ min: 1, median: 4, max: 9, total: 18 });
    expect(summarize([])).to.deep.equal({ min: 0, median: 0, max: 0, total: 0 });
  });
});
