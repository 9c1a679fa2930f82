import { expect } from 'chai';
import {
  anyOfFilter, boundsFilter, CUSTOMER_PARAMS, customersAfter, customersFilter, facetDate, pickSeparator, quotedTerm, shapesFacet, shapesPage,
} from '../../src/backends/solr/queries';
import { describeBounds } from '../../src/coordination/workNode';
import { workNodeSchema } from '../../src/coordination/nodes';
import { inSlice } from '../../src/planner/slicing';

describe('solr filters for sets of customers', () => {
  it('reads one customer as before, a set as one {!bool} of parameters: terms, the empty string, no customer', () => {
    expect(customersFilter('c', 'a,b')).to.deep.equal({ fq: '{!term f=c}a,b', params: {} });
    expect(customersFilter('c', null)).to.deep.equal({ fq: '(*:* -c:[* TO *])', params: {} });
    expect(customersFilter('c', ['a', 'b c', '', null, 'a'])).to.deep.equal({
      fq: `{!bool should=$${CUSTOMER_PARAMS.terms} should=$${CUSTOMER_PARAMS.empty} should=$${CUSTOMER_PARAMS.none}}`,
      params: {
        [CUSTOMER_PARAMS.terms]: "{!terms f=c method=termsFilter separator=','}a,b c",
        [CUSTOMER_PARAMS.empty]: "{!term f=c v=''}",
        [CUSTOMER_PARAMS.none]: '(*:* -c:[* TO *])',
      },
    });
    expect(customersFilter('c', [''])).to.deep.equal({ fq: `{!bool should=$${CUSTOMER_PARAMS.empty}}`, params: { [CUSTOMER_PARAMS.empty]: "{!term f=c v=''}" } });
    // Nothing to read: a filter that matches nothing, not one that matches everything.
    expect(customersFilter('c', [])).to.deep.equal({ fq: '-*:*', params: {} });
  });

  it('picks a separator that occurs in none of the values, never whitespace', () => {
    expect(pickSeparator(['a', 'b'])).to.equal(',');
    expect(pickSeparator(['a,b', 'x|y'])).to.equal(';');
    const every = [',', '|', ';', '~', '^', '\u0001', '\u001f'].join('');
    expect(pickSeparator([every])).to.equal('\ue000');
    expect(pickSeparator([every + '\ue000', '\ue001'])).to.equal('\ue002');
    const values = [every, 'a,b|c', ' sp '];
    const sep = pickSeparator(values);
    expect(values.some((v) => v.includes(sep))).to.equal(false);
    const { params } = customersFilter('c', values);
    expect(params[CUSTOMER_PARAMS.terms]).to.equal(`{!terms f=c method=termsFilter separator='${sep}'}${values.join(sep)}`);
  });

  it('pages customers by key: after a value (quoted, escaped), after the empty string', () => {
    expect(customersAfter('c', 'acme')).to.equal('c:{"acme" TO *]');
    expect(customersAfter('c', 'a"b\\c d')).to.equal('c:{"a\\"b\\\\c d" TO *]');
    expect(customersAfter('c', '')).to.equal('(c:[* TO *] -c:"")');
  });

  it('quotes a term with every character kept, and a set of ids as one OR of quoted terms', () => {
    expect(quotedTerm('a"b\\c d:*')).to.equal('"a\\"b\\\\c d:*"');
    expect(anyOfFilter('id', ['x', 'y"z'])).to.equal('id:("x" OR "y\\"z")');
  });

  it('asks for customers in index order with the timestamp stats, the missing bucket only when asked', () => {
    const first = JSON.parse(shapesFacet({ customer: 'c', timestamp: 'ts' }, 500, true));
    expect(first).to.deep.equal({
      customers: {
        type: 'terms', field: 'c', sort: 'index asc', limit: 500, mincount: 1, missing: true, numBuckets: false,
        facet: { minTs: 'min(ts)', maxTs: 'max(ts)', noTs: { type: 'query', q: '(*:* -ts:[* TO *])' } },
      },
    });
    expect(JSON.parse(shapesFacet({ customer: 'c', timestamp: 'ts' }, 500, false)).customers.missing).to.equal(false);
  });

  it('reads a page: dates as Solr writes them (any year), no stats for a customer without timestamps, an empty missing bucket dropped', () => {
    const page = shapesPage({
      count: 9,
      customers: {
        buckets: [
          { val: '', count: 2, minTs: '-0500-01-01T00:00:00Z', maxTs: '+10000-01-01T00:00:00.5Z', noTs: { count: 0 } },
          { val: 'b', count: 3, noTs: { count: 3 } },
        ],
        missing: { count: 0, noTs: { count: 0 } },
      },
    });
    expect(page.rows).to.deep.equal([
      { customer: '', total: 2, noTimestamp: 0, minTs: new Date('-000500-01-01T00:00:00Z').getTime(), maxTs: new Date('+010000-01-01T00:00:00.500Z').getTime() },
      { customer: 'b', total: 3, noTimestamp: 3, minTs: null, maxTs: null },
    ]);
    expect(page).to.deep.include({ missing: null, buckets: 2, last: 'b' });
    const withMissing = shapesPage({ customers: { buckets: [], missing: { count: 4, minTs: '2020-01-01T00:00:00Z', maxTs: '2020-01-02T00:00:00Z', noTs: { count: 1 } } } });
    expect(withMissing.missing).to.deep.equal({ customer: null, total: 4, noTimestamp: 1, minTs: Date.UTC(2020, 0, 1), maxTs: Date.UTC(2020, 0, 2) });
    expect(withMissing.last).to.equal(null);
    expect(facetDate(1.7e12)).to.equal(1.7e12);
    expect(facetDate(undefined)).to.equal(null);
  });
});

describe('bounds kind all', () => {
  it('holds every document, with or without a timestamp: no time filter, a valid work node, a readable name', () => {
    expect(boundsFilter('ts', { kind: 'all' })).to.equal(null);
    for (const t of [null, -1e15, 0, 1e15]) expect(inSlice({ kind: 'all' }, t)).to.equal(true);
    expect(describeBounds({ kind: 'all' })).to.equal('(all documents)');
    expect(workNodeSchema.shape.bounds.safeParse({ kind: 'all' }).success).to.equal(true);
    expect(workNodeSchema.shape.bounds.safeParse({ kind: 'everything' }).success).to.equal(false);
  });
});
