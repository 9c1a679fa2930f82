import { expect } from 'chai';
import {
  aggDate, boundsFilter, customerFilter, customersFilter, customersRequest, decodeCursor, encodeCursor, histogramBuckets, histogramRequest,
  incompleteReason, MAX_PAGE, pageRequest, shapeRequest, shapeRows, shapesRequest, sliceQuery, TERMS_CHUNK,
} from '../../src/backends/elasticsearch/queries';
import { prng } from '../../src/demo/dataset';
import { assertTiles, inSlice } from '../../src/planner/slicing';

const fields = { customer: 'tenant', timestamp: 'ts', uniqueKey: 'doc_id' };

describe('elasticsearch slice filters', () => {
  it('writes half-open ranges in epoch millis, open ends, and the no-timestamp filter', () => {
    expect(boundsFilter('ts', { kind: 'range', from: 0, to: 1000 })).to.deep.equal({ range: { ts: { format: 'epoch_millis', gte: 0, lt: 1000 } } });
    expect(boundsFilter('ts', { kind: 'range', from: null, to: 1000 })).to.deep.equal({ range: { ts: { format: 'epoch_millis', lt: 1000 } } });
    expect(boundsFilter('ts', { kind: 'range', from: -5, to: null })).to.deep.equal({ range: { ts: { format: 'epoch_millis', gte: -5 } } });
    // Both ends open: every document that has a timestamp, and none that has not.
    expect(boundsFilter('ts', { kind: 'range', from: null, to: null })).to.deep.equal({ exists: { field: 'ts' } });
    expect(boundsFilter('ts', { kind: 'no-timestamp' })).to.deep.equal({ bool: { must_not: [{ exists: { field: 'ts' } }] } });
  });

  it('filters a customer by exact term, whatever its characters, and the missing customer', () => {
    expect(customerFilter('tenant', 'a b:"c"/d*')).to.deep.equal({ term: { tenant: 'a b:"c"/d*' } });
    expect(customerFilter('tenant', null)).to.deep.equal({ bool: { must_not: [{ exists: { field: 'tenant' } }] } });
  });

  it('combines customer and bounds as non-scoring filters', () => {
    expect(sliceQuery(fields, 'acme', { kind: 'no-timestamp' })).to.deep.equal({
      bool: { filter: [{ term: { tenant: 'acme' } }, { bool: { must_not: [{ exists: { field: 'ts' } }] } }] },
    });
  });
});

describe('elasticsearch filters for sets of customers and bounds kind all', () => {
  const none = { bool: { must_not: [{ exists: { field: 'tenant' } }] } };

  it('reads a set as terms (the empty string among them) OR the documents with no customer', () => {
    expect(customersFilter('tenant', 'a')).to.deep.equal({ term: { tenant: 'a' } });
    expect(customersFilter('tenant', null)).to.deep.equal(none);
    expect(customersFilter('tenant', ['a', '', 'a'])).to.deep.equal({ terms: { tenant: ['a', ''] } });
    expect(customersFilter('tenant', [null])).to.deep.equal(none);
    expect(customersFilter('tenant', ['a,b', null])).to.deep.equal({ bool: { should: [{ terms: { tenant: ['a,b'] } }, none], minimum_should_match: 1 } });
    expect(customersFilter('tenant', [])).to.deep.equal({ match_none: {} });
  });

  it('splits a set larger than index.max_terms_count into several terms queries, every value once', () => {
    const many = Array.from({ length: TERMS_CHUNK * 2 + 5 }, (_, i) => `c${i}`);
    const q = customersFilter('tenant', many) as any;
    expect(q.bool.should).to.have.length(3);
    expect(q.bool.should.flatMap((t: any) => t.terms.tenant)).to.deep.equal(many);
  });

  it('puts no time filter on bounds all, and reads the set in pages', () => {
    expect(boundsFilter('ts', { kind: 'all' })).to.equal(null);
    expect(sliceQuery(fields, ['acme', null], { kind: 'all' })).to.deep.equal({
      bool: { filter: [{ bool: { should: [{ terms: { tenant: ['acme'] } }, { bool: { must_not: [{ exists: { field: 'tenant' } }] } }], minimum_should_match: 1 } }] },
    });
    expect(pageRequest(fields, ['x', 'y'], { kind: 'no-timestamp' }, null, 10).query).to.deep.equal({
      bool: { filter: [{ terms: { tenant: ['x', 'y'] } }, { bool: { must_not: [{ exists: { field: 'ts' } }] } }] },
    });
  });

  it('asks for customer shapes as a composite with the stats of shapeRequest, restricted by `only`, after a key', () => {
    const body = shapesRequest(fields, 100, undefined, { customer: null }) as any;
    expect(body.query).to.equal(undefined);
    expect(body.aggs.customers.composite).to.deep.equal({
      size: 100, sources: [{ customer: { terms: { field: 'tenant', missing_bucket: true } } }], after: { customer: null },
    });
    expect(body.aggs.customers.aggs).to.deep.equal((shapeRequest(fields, 'x') as any).aggs);
    expect((shapesRequest(fields, 100, ['a', null]) as any).query).to.deep.equal(customersFilter('tenant', ['a', null]));
    expect((shapesRequest(fields, 100) as any).aggs.customers.composite.after).to.equal(undefined);
  });

  it('reads shape rows: the missing bucket as null, no stats as null, dates rounded down to the millisecond', () => {
    expect(shapeRows([
      { key: { customer: null }, doc_count: 2, minTs: { value: null }, maxTs: { value: null }, noTs: { doc_count: 2 } },
      { key: { customer: '' }, doc_count: 3, minTs: { value: 1.7e12 + 0.123456 }, maxTs: { value: -1e13 }, noTs: { doc_count: 1 } },
      { key: { customer: 'gone' }, doc_count: 0 },
    ])).to.deep.equal([
      { customer: null, total: 2, noTimestamp: 2, minTs: null, maxTs: null },
      { customer: '', total: 3, noTimestamp: 1, minTs: 1.7e12, maxTs: -1e13 },
    ]);
    expect(aggDate(undefined)).to.equal(null);
  });
});

describe('elasticsearch cursor and pages', () => {
  it('stores the last sort values as JSON and resumes from them', () => {
    const cursor = encodeCursor(['big-0000042']);
    expect(cursor).to.equal('["big-0000042"]');
    expect(decodeCursor(cursor)).to.deep.equal(['big-0000042']);
    expect(decodeCursor(null)).to.equal(null);
    expect(decodeCursor('')).to.equal(null);
    // Not something a scroll or PIT id could be mistaken for.
    expect(() => decodeCursor('FGluY2x1ZGVfY29udGV4dF91dWlk')).to.throw(/not an Elasticsearch search_after cursor/);
    expect(() => decodeCursor('[]')).to.throw(/not an Elasticsearch search_after cursor/);
  });

  it('keeps 64-bit sort values exact', () => {
    expect(encodeCursor(decodeCursor('[9007199254740993]')!)).to.equal('[9007199254740993]');
  });

  it('sorts on the unique key, filters on the slice, and pages after the cursor', () => {
    const first = pageRequest(fields, 'acme', { kind: 'range', from: 10, to: 20 }, null, 500);
    expect(first).to.deep.equal({
      size: 500,
      query: sliceQuery(fields, 'acme', { kind: 'range', from: 10, to: 20 }),
      sort: [{ doc_id: { order: 'asc' } }],
      track_total_hits: false,
    });
    const next = pageRequest(fields, null, { kind: 'no-timestamp' }, '["x-1"]', 50_000);
    expect(next.search_after).to.deep.equal(['x-1']);
    expect(next.size).to.equal(MAX_PAGE);
    // The whole _source: a _source filter would have the server re-render it (sourceFilter.ts excludes).
    expect(next).to.not.have.property('_source');
  });

  it('takes a timed-out or shard-failed answer for what it is: incomplete', () => {
    expect(incompleteReason({ timed_out: false, _shards: { total: 2, successful: 2, skipped: 0, failed: 0 } })).to.equal(null);
    expect(incompleteReason({ timed_out: true, _shards: { total: 2, failed: 0 } })).to.match(/timed out/);
    expect(incompleteReason({ timed_out: false, _shards: { total: 3, failed: 1, failures: [{ reason: { type: 'node_disconnected_exception', reason: 'gone' } }] } }))
      .to.equal('1 of 3 shards failed: node_disconnected_exception gone');
    expect(incompleteReason({ count: 5, _shards: { total: 1, successful: 1, failed: 0 } })).to.equal(null);
  });
});

describe('elasticsearch planning requests', () => {
  it('pages customers with a composite aggregation that keeps the no-customer bucket', () => {
    const req: any = customersRequest('tenant', 1000, { customer: 'k' });
    expect(req.size).to.equal(0);
    expect(req.aggs.customers.composite).to.deep.equal({
      size: 1000, sources: [{ customer: { terms: { field: 'tenant', missing_bucket: true } } }], after: { customer: 'k' },
    });
    expect((customersRequest('tenant', 10) as any).aggs.customers.composite.after).to.equal(undefined);
  });

  it('asks min, max and missing of the timestamp with an exact total', () => {
    const req: any = shapeRequest(fields, null);
    expect(req.track_total_hits).to.equal(true);
    expect(req.aggs).to.deep.equal({ minTs: { min: { field: 'ts' } }, maxTs: { max: { field: 'ts' } }, noTs: { missing: { field: 'ts' } } });
  });

  it('aligns the date histogram on `from` with a fixed interval in ms', () => {
    const { gap, body } = histogramRequest(fields, 'acme', 1_000_003, 1_000_103, 10);
    expect(gap).to.equal(10);
    const h = (body as any).aggs.histogram.date_histogram;
    expect(h).to.deep.equal({ field: 'ts', fixed_interval: '10ms', offset: '3ms', min_doc_count: 1 });
    expect((body as any).query).to.deep.equal(sliceQuery(fields, 'acme', { kind: 'range', from: 1_000_003, to: 1_000_103 }));
    // Before 1970 too: the offset stays in [0, gap).
    const neg: any = histogramRequest(fields, null, -25, 5, 3).body;
    expect(neg.aggs.histogram.date_histogram.offset).to.equal('5ms');
  });

  it('turns server buckets into buckets that tile [from, to) exactly, for any from, to and count', () => {
    const rnd = prng(42);
    for (let round = 0; round < 120; round++) {
      const from = Math.floor((rnd() - 0.3) * 4e12);
      const to = from + 1 + Math.floor(rnd() * (rnd() < 0.5 ? 1e4 : 3e10));
      const n = 1 + Math.floor(rnd() * 200);
      const { gap, body } = histogramRequest(fields, 'c', from, to, n);
      const offset = Number(/^(\d+)ms$/.exec((body as any).aggs.histogram.date_histogram.offset)![1]);
      // What Elasticsearch does with fixed_interval + offset: key = floor((t - offset) / gap) * gap + offset.
      const ts = Array.from({ length: 50 }, () => from + Math.floor(rnd() * (to - from)));
      const keyed = new Map<number, number>();
      for (const t of ts) {
        const key = Math.floor((t - offset) / gap) * gap + offset;
        keyed.set(key, (keyed.get(key) ?? 0) + 1);
      }
      const buckets = histogramBuckets(from, to, gap, [...keyed].map(([key, doc_count]) => ({ key, doc_count })));
      assertTiles(buckets, from, to);
      expect(buckets.length).to.be.at.most(n);
      for (const b of buckets) {
        expect(b.count, `bucket [${b.from}, ${b.to})`).to.equal(ts.filter((t) => inSlice({ kind: 'range', from: b.from, to: b.to }, t)).length);
      }
    }
  });

  it('refuses buckets that are not on the expected edges', () => {
    expect(() => histogramBuckets(0, 100, 10, [{ key: 5, doc_count: 1 }])).to.throw(/not on the edges/);
    expect(() => histogramBuckets(0, 100, 10, [{ key: 100, doc_count: 1 }])).to.throw(/not on the edges/);
  });
});
