/**
 * Planning from one aggregate pass and packed slices, on the real servers (Solr 8.11 and 9.x,
 * Elasticsearch 7.17 and 8.x): customerShapes gives for every customer exactly what shape(customer)
 * gives, whatever the customer values and however small the pages; a set of customers is read
 * together, page by page, with exactly its documents.
 */
import { expect } from 'chai';
import { ElasticsearchBackend } from '../../src/backends/elasticsearch/esBackend';
import { SolrBackend } from '../../src/backends/solr/solrBackend';
import type { Customers, CustomerShapeRow, SourceReader } from '../../src/backends/types';
import type { Endpoint } from '../../src/config/spec';
import type { SliceBounds } from '../../src/coordination/workNode';
import { SolrAdmin } from '../../src/demo/solrAdmin';
import { inSlice, type CustomerShape } from '../../src/planner/slicing';
import { EsAdmin, TEST_MAPPING } from '../support/esAdmin';
import { stack, uniqueName, versionsSeen } from '../support/stack';

const fields = { customer: 'customer', timestamp: 'timestamp', uniqueKey: 'id' };
const endpoint = (kind: 'solr' | 'elasticsearch', url: string, collection: string): Endpoint =>
  ({ kind, url, collection, requestTimeout: 60_000 }) as unknown as Endpoint;
const iso = (year: number, plusMs = 0) => { const d = new Date(0); d.setUTCFullYear(year, 0, 1); return new Date(d.getTime() + plusMs).toISOString(); };

/** Customer values a query could trip over: separators, quotes, escapes, local params, range syntax, '' and unicode. */
const ODD = [
  'a,b', 'with space', ' lead', 'trail ', 'quo"te', "apos'", 'back\\slash', 'ünïcødé', '😀 emoji', '{!term f=id}x', '',
  '*', 'x TO y', '(a OR b)', 'c:d', 'pipe|semi;', 'every,|;~^sep', '\u0001ctrl', 'Zé', 'z',
];

interface TestDoc { id: string; customer: string | null; ts: number | null }

/**
 * The dataset: every odd customer and 25 plain ones, each with a few timestamped documents (one at a
 * fraction of a millisecond past the second), some with documents without a timestamp, one with
 * only those; documents with no customer, with and without a timestamp. `oldest`: the year of the
 * oldest timestamps (Solr holds year -500; Elasticsearch's date parsing starts at year 0000).
 */
function dataset(oldest: number): TestDoc[] {
  const docs: TestDoc[] = [];
  const customers = [...ODD, ...Array.from({ length: 25 }, (_, i) => `plain-${String(i).padStart(2, '0')}`)];
  customers.forEach((c, ci) => {
    const n = 1 + (ci % 4);
    for (let k = 0; k < n; k++) docs.push({ id: `d${ci}-${k}`, customer: c, ts: Date.parse(iso(2000 + ci, k * 86_400_000 + 7)) });
    if (ci % 3 === 0) docs.push({ id: `d${ci}-nots`, customer: c, ts: null });
    if (ci % 5 === 1) docs.push({ id: `d${ci}-old`, customer: c, ts: Date.parse(iso(oldest + ci)) });
  });
  docs.push({ id: 'only-nots-1', customer: 'only-nots', ts: null }, { id: 'only-nots-2', customer: 'only-nots', ts: null });
  docs.push({ id: 'far', customer: 'z', ts: Date.parse(iso(9999, 364 * 86_400_000)) });
  for (let k = 0; k < 4; k++) docs.push({ id: `none-${k}`, customer: null, ts: k < 3 ? Date.parse(iso(2010 + k)) : null });
  return docs;
}

function source(d: TestDoc): Record<string, unknown> {
  return { id: d.id, ...(d.customer === null ? {} : { customer: d.customer }), ...(d.ts === null ? {} : { timestamp: new Date(d.ts).toISOString() }) };
}

/** What shape(c) must say, from the dataset itself. */
function truth(docs: TestDoc[], customer: string | null): CustomerShape {
  const mine = docs.filter((d) => d.customer === customer);
  const ts = mine.map((d) => d.ts).filter((t): t is number => t !== null);
  return { total: mine.length, noTimestamp: mine.length - ts.length, minTs: ts.length ? Math.min(...ts) : null, maxTs: ts.length ? Math.max(...ts) : null };
}

/** Every document of the slice, page by page; fails on a duplicate. */
async function readAll(reader: SourceReader, customers: Customers, bounds: SliceBounds, rows: number): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | null = null;
  for (let pages = 0; ; pages++) {
    expect(pages, 'the slice ends').to.be.below(1000);
    const page = await reader.readPage(customers, bounds, cursor, rows);
    ids.push(...page.docs.map((d) => d.id));
    if (page.done) break;
    cursor = page.nextCursor;
  }
  expect(new Set(ids).size, 'no document read twice').to.equal(ids.length);
  return ids.sort();
}

/** The checks both kinds share, for one backend over `docs`. */
function sharedChecks(label: string, docs: () => TestDoc[], reader: (pageSize: number) => SourceReader) {
  const expectedIds = (set: ReadonlyArray<string | null>, bounds: SliceBounds) =>
    docs().filter((d) => set.includes(d.customer) && inSlice(bounds, d.ts)).map((d) => d.id).sort();

  for (const pageSize of [1, 4]) {
    it(`${label}: customerShapes (pages of ${pageSize}) gives every customer exactly what shape() gives, in customers() order, null last`, async () => {
      const r = reader(pageSize);
      const shapes = await r.customerShapes();
      const customers = await r.customers();
      const byName = new Map(customers.map((c) => [c.customer, c.count]));
      expect(shapes.map((s) => s.customer)).to.deep.equal([...customers.map((c) => c.customer).filter((c) => c !== null), null]);
      expect(new Set(shapes.map((s) => s.customer)).size).to.equal(shapes.length);
      const wanted = [...new Set(docs().map((d) => d.customer))];
      expect(shapes.length).to.equal(wanted.length);
      for (const s of shapes) {
        const { customer, ...shape } = s;
        expect(shape, JSON.stringify(customer)).to.deep.equal(await r.shape(customer));
        expect(shape, JSON.stringify(customer)).to.deep.equal(truth(docs(), customer));
        expect(shape.total).to.equal(byName.get(customer));
      }
    });
  }

  it(`${label}: customerShapes(only) returns exactly those customers that hold documents`, async () => {
    const r = reader(3);
    const all = new Map((await r.customerShapes()).map((s) => [s.customer, s]));
    for (const only of [['', null, 'a,b', 'nobody at all', '{!term f=id}x', 'z'], ['quo"te'], [null], [''], ['nobody'], [], [...ODD, 'only-nots']]) {
      const got = await r.customerShapes(only);
      const expected = [...all.values()].filter((s) => only.includes(s.customer));
      expect(got.map((s) => s.customer).sort(), JSON.stringify(only)).to.deep.equal(expected.map((s) => s.customer).sort());
      for (const s of got) expect(s, JSON.stringify(s.customer)).to.deep.equal(all.get(s.customer));
      if (got.some((s) => s.customer === null)) expect(got[got.length - 1].customer).to.equal(null);
    }
  });

  const sets: Array<ReadonlyArray<string | null>> = [
    [...ODD, null],
    ['', null],
    ['every,|;~^sep', 'a,b', 'pipe|semi;', ' lead', 'trail '],
    [''],
    ['only-nots', 'plain-03', 'nobody'],
  ];
  const bounds: SliceBounds[] = [
    { kind: 'all' },
    { kind: 'no-timestamp' },
    { kind: 'range', from: null, to: null },
    { kind: 'range', from: Date.parse('2005-01-01T00:00:00Z'), to: Date.parse('2015-01-01T00:00:00Z') },
  ];
  it(`${label}: reads a packed set of customers page by page: exactly its documents, counted alike; all includes those without a timestamp`, async () => {
    const r = reader(3);
    for (const set of sets) {
      for (const b of bounds) {
        const what = `${JSON.stringify(set)} ${JSON.stringify(b)}`;
        const expected = expectedIds(set, b);
        expect(await readAll(r, set, b, 3), what).to.deep.equal(expected);
        expect(await r.count(set, b), what).to.equal(expected.length);
      }
    }
    const all = expectedIds([...ODD, null], { kind: 'all' });
    expect(all.filter((id) => id.endsWith('nots') || id === 'none-3').length, 'the set holds documents without a timestamp').to.be.greaterThan(3);
    // A single customer reads as before, and as the set of that one customer.
    for (const c of ['a,b', '', null]) {
      expect(await readAll(r, c, { kind: 'all' }, 2)).to.deep.equal(await readAll(r, [c], { kind: 'all' }, 2));
    }
    expect(await readAll(r, [], { kind: 'all' }, 5)).to.deep.equal([]);
    expect(await r.count([], { kind: 'all' })).to.equal(0);
  });

  it(`${label}: a set of 20,000 customers is one filter (POST body, no clause limit)`, async () => {
    const r = reader(3);
    const many = [...Array.from({ length: 20_000 }, (_, i) => `absent-${i}-${'x'.repeat(20)}`), ...ODD, null];
    const expected = expectedIds(many, { kind: 'all' });
    expect(await r.count(many, { kind: 'all' })).to.equal(expected.length);
    expect(await readAll(r, many, { kind: 'all' }, 50)).to.deep.equal(expected);
    expect((await r.customerShapes(many)).map((s) => s.customer)).to.have.length(ODD.length + 1);
  });
}

describe('aggregate planning and packed slices: Solr', function () {
  this.timeout(300_000);
  for (const [label, url] of [['Solr 8', stack.solrLegacy], ['Solr 9', stack.solrNew]] as const) {
    describe(label, () => {
      const admin = new SolrAdmin(url);
      const collection = uniqueName('bgtest_aggplan');
      const nested = uniqueName('bgtest_aggnest');
      const docs = dataset(-500);
      const readers: SolrBackend[] = [];
      const reader = (pageSize: number, coll = collection) => {
        const b = new SolrBackend(endpoint('solr', url, coll), fields, [], 10_000, { facetPageSize: pageSize });
        readers.push(b);
        return b;
      };

      before(async () => {
        await Promise.all([admin.createCollection(collection, 3), admin.createCollection(nested, 2)]);
        await admin.index(collection, docs.map(source), true);
        versionsSeen.set(label.toLowerCase().replace(' ', '-'), await admin.version());
      });
      after(async () => {
        await Promise.all(readers.map((r) => r.close()));
        await Promise.all([admin.deleteCollection(collection), admin.deleteCollection(nested)]);
      });

      sharedChecks(label, () => docs, (n) => reader(n));

      it(`${label}: plans nested collections by roots: children (no customer of their own) are not documents without a customer`, async () => {
        const parents = Array.from({ length: 12 }, (_, i) => ({
          id: `p-${i}`, customer: i % 3 === 0 ? '' : `n${i % 4}`, ...(i % 5 ? { timestamp: iso(1990 + i) } : {}),
          comments: Array.from({ length: 1 + (i % 3) }, (_, k) => ({ id: `p-${i}-c${k}`, title: `c${k}` })),
        }));
        await admin.index(nested, [...parents, { id: 'orphan', title: 'no customer' }], true);
        const r = reader(2, nested);
        const shapes = await r.customerShapes();
        expect(shapes.reduce((a, s) => a + s.total, 0), 'roots only').to.equal(parents.length + 1);
        expect(shapes.find((s) => s.customer === null)?.total).to.equal(1);
        for (const { customer, ...shape } of shapes) expect(shape, JSON.stringify(customer)).to.deep.equal(await r.shape(customer));
        expect((await readAll(r, ['', 'n1'], { kind: 'all' }, 2))).to.deep.equal(parents.filter((p) => ['', 'n1'].includes(p.customer)).map((p) => p.id).sort());
      });
    });
  }
});

describe('aggregate planning and packed slices: Elasticsearch', function () {
  this.timeout(300_000);
  for (const [label, url] of [['Elasticsearch 7', stack.esLegacy], ['Elasticsearch 8', stack.esNew]] as const) {
    describe(label, () => {
      const es = new EsAdmin(url);
      const index = uniqueName('bgtest_aggplan');
      const docs = dataset(1000);
      const readers: ElasticsearchBackend[] = [];
      const reader = (pageSize: number) => {
        const b = new ElasticsearchBackend(endpoint('elasticsearch', url, index), fields, { role: 'source', customersPageSize: pageSize });
        readers.push(b);
        return b;
      };

      before(async () => {
        await es.createIndex(index, { settings: { number_of_shards: 3, number_of_replicas: 0 }, mappings: TEST_MAPPING });
        await es.index(index, docs.map((d) => ({ _id: d.id, source: source(d) })));
        versionsSeen.set(label.toLowerCase().replace(' ', '-'), await es.version());
      });
      after(async () => {
        await Promise.all(readers.map((r) => r.close()));
        await es.deleteIndex(index);
      });

      sharedChecks(label, () => docs, reader);

      it(`${label}: shapes keep what shape() makes of sub-millisecond dates (a date_nanos field)`, async () => {
        const nanos = `${index}_nanos`;
        await es.createIndex(nanos, { settings: { number_of_shards: 2, number_of_replicas: 0 }, mappings: { properties: { ...TEST_MAPPING.properties, timestamp: { type: 'date_nanos' } } } });
        try {
          await es.index(nanos, [
            { _id: 'n1', source: { id: 'n1', customer: 'k', timestamp: '2024-01-01T00:00:00.123456789Z' } },
            { _id: 'n2', source: { id: 'n2', customer: 'k', timestamp: '2024-01-01T00:00:00.999999999Z' } },
            { _id: 'n3', source: { id: 'n3', customer: 'j' } },
          ]);
          const r = new ElasticsearchBackend(endpoint('elasticsearch', url, nanos), fields, { role: 'source', customersPageSize: 1 });
          readers.push(r);
          const shapes: CustomerShapeRow[] = await r.customerShapes();
          expect(shapes.map((s) => s.customer)).to.deep.equal(['j', 'k']);
          for (const { customer, ...shape } of shapes) expect(shape).to.deep.equal(await r.shape(customer));
          expect(shapes[1]).to.deep.include({ minTs: Date.parse('2024-01-01T00:00:00.123Z'), maxTs: Date.parse('2024-01-01T00:00:00.999Z') });
        } finally {
          await es.deleteIndex(nanos);
        }
      });
    });
  }
});
