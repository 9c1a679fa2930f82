import { expect } from 'chai';
import {
  assertTiles, inSlice, packBuckets, planCustomer, refineBuckets, summarize, toSlices, type Bucket, type Histogram,
} from '../../src/planner/slicing';
import { parseSolrDate, rangeGap } from '../../src/backends/solr/queries';
import { histogramBuckets, histogramRequest } from '../../src/backends/elasticsearch/queries';

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

describe('histogram gaps over any span (Solr int gap, ES fixed_interval)', () => {
  const YEAR = 365.25 * DAY;
  const y = (year: number) => { const d = new Date(0); d.setUTCFullYear(year, 0, 1); return d.getTime(); };

  it('sends a Solr gap whose count fits an int, never narrower than asked', () => {
    const cases: Array<[number, number, number]> = [
      [0, 1, 200], [0, 1000, 200], [y(2010), y(2024), 200], [y(2010), y(2024) + 5 * YEAR, 200],
      [y(1000), y(2025), 200], [y(-500), y(9999), 200], [y(-500), y(9999), 2], [y(-271000), y(275000), 2],
    ];
    for (const [from, to, buckets] of cases) {
      const { gapMs, text } = rangeGap(from, to, buckets);
      const m = /^\+(\d+)(MILLISECONDS|SECONDS|MINUTES|HOURS|DAYS)$/.exec(text)!;
      expect(m, text).to.not.equal(null);
      expect(Number(m[1]), text).to.be.at.most(2 ** 31 - 1);
      const unit = { MILLISECONDS: 1, SECONDS: 1000, MINUTES: 60_000, HOURS: 3_600_000, DAYS: DAY }[m[2] as 'DAYS'];
      expect(Number(m[1]) * unit, text).to.equal(gapMs);
      expect(gapMs).to.be.at.least(Math.ceil((to - from) / buckets));
      // At most the requested number of buckets; never so wide that a huge span collapses into one.
      const n = Math.ceil((to - from) / gapMs);
      expect(n).to.be.at.most(buckets);
      if (to - from > buckets * DAY) expect(n).to.be.at.least(buckets - 1);
    }
    // 13.6 years at 200 buckets was exactly where "+N MILLISECONDS" overflowed.
    expect(rangeGap(0, 200 * 2 ** 31, 200).text).to.equal('+2147484SECONDS');
    expect(rangeGap(0, 200 * (2 ** 31 - 1), 200).text).to.equal('+2147483647MILLISECONDS');
  });

  it('parses the dates Solr writes, signed years included', () => {
    expect(parseSolrDate('2024-05-01T10:00:00Z')).to.equal(Date.UTC(2024, 4, 1, 10));
    expect(parseSolrDate('2024-05-01T10:00:00.5Z')).to.equal(Date.UTC(2024, 4, 1, 10, 0, 0, 500));
    expect(parseSolrDate('1000-01-01T00:00:00.123Z')).to.equal(y(1000) + 123);
    expect(parseSolrDate('0099-01-01T00:00:00Z')).to.equal(y(99));
    expect(parseSolrDate('-0500-01-01T00:00:00Z')).to.equal(y(-500));
    expect(parseSolrDate('+10000-01-01T00:00:00Z')).to.equal(y(10000));
    expect(parseSolrDate('9999-12-31T23:59:59.999Z')).to.equal(y(10000) - 1);
    // What the filters send (toISOString) reads back the same.
    for (const t of [y(-500), y(1000), y(10000), 0, -1]) expect(parseSolrDate(new Date(t).toISOString())).to.equal(t);
    expect(() => parseSolrDate('NOW')).to.throw(/not a Solr date/);
  });

  it('plans ~1000 years, year -500 to 9999, and a single instant, with every document in one slice', async () => {
    const spreads: number[][] = [
      Array.from({ length: 3000 }, (_, i) => y(1025) + Math.floor(i * ((1000 * YEAR) / 3000))),
      [y(-500), y(-500) + 1, ...Array.from({ length: 500 }, (_, i) => y(2020) + i * 1000), y(9999) + 364 * DAY],
      Array.from({ length: 700 }, () => Date.UTC(2024, 1, 29, 12, 0, 0, 7)),
      [0, 0, 0, -1, 1],
    ];
    for (const ts of spreads) {
      // The server's answer uses the gap the Solr backend really sends (rounded to a unit).
      const solrLike: Histogram = async (from, to, buckets) => {
        const { gapMs } = rangeGap(from, to, buckets);
        const out: Bucket[] = [];
        for (let s = from; s < to; s += gapMs) {
          const e = Math.min(s + gapMs, to);
          out.push({ from: s, to: e, count: ts.filter((t) => t >= s && t < e).length });
        }
        return out;
      };
      for (const o of [{ ...opts, initialBuckets: 200 }, { targetDocs: 100, minWidthMs: 1, fanout: 100, initialBuckets: 200 }]) {
        const slices = await planCustomer(shapeOf(ts), null, solrLike, o);
        assertCoverage(slices, ts);
        expect(summarize(slices.map((s) => s.estimate)).total).to.equal(ts.length);
      }
    }
  });

  it('asks Elasticsearch for at most the buckets requested, on edges that tile the range, over any span', () => {
    const fields = { customer: 'customer', timestamp: 'timestamp', uniqueKey: 'id' };
    for (const [from, to, buckets] of [[y(-500), y(10000), 200], [y(1025), y(2025), 100], [5, 6, 200], [-3, 1e3, 7]]) {
      const { gap, body } = histogramRequest(fields, 'c', from, to, buckets);
      const h = (body.aggs as any).histogram.date_histogram;
      expect(h.fixed_interval).to.equal(`${gap}ms`);
      expect(Number.isSafeInteger(gap)).to.equal(true);
      expect(Math.ceil((to - from) / gap)).to.be.at.most(buckets);
      const offset = Number(/^(\d+)ms$/.exec(h.offset)![1]);
      expect(offset).to.be.within(0, gap - 1);
      // ES puts bucket keys at offset + k·gap: `from` must be one of them.
      expect((((from - offset) % gap) + gap) % gap).to.equal(0);
      expect(histogramBuckets(from, to, gap, [{ key: from, doc_count: 3 }]).reduce((a, b) => a + b.count, 0)).to.equal(3);
    }
  });
});
