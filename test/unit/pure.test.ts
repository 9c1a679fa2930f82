import { expect } from 'chai';
import { boundsFilter, customerFilter } from '../../src/backends/solr/queries';
import { exactJson } from '../../src/backends/exactJson';
import { customerFromNodeName, customerNodeName, NO_CUSTOMER } from '../../src/coordination/layout';
import { workNodeProblem, newWorkNode } from '../../src/coordination/workNode';
import { nextPageRows, splitByBytes, TAIL_GROUP, tailDue } from '../../src/worker/batching';
import { chunked } from '../../src/util';
import { backoffDelay, withBackoff } from '../../src/retry';
import { RetryableError } from '../../src/errors';
import { safeUrl } from '../../src/log';
import type { SourceDoc } from '../../src/backends/types';

const doc = (id: string, bytes: number): SourceDoc => ({ id, fields: { id }, bytes });

describe('solr slice filters', () => {
  it('writes half-open ranges, open ends, and the no-timestamp filter', () => {
    expect(boundsFilter('ts', { kind: 'range', from: 0, to: 1000 })).to.equal('ts:[1970-01-01T00:00:00.000Z TO 1970-01-01T00:00:01.000Z}');
    expect(boundsFilter('ts', { kind: 'range', from: null, to: 1000 })).to.equal('ts:[* TO 1970-01-01T00:00:01.000Z}');
    expect(boundsFilter('ts', { kind: 'range', from: 1000, to: null })).to.equal('ts:[1970-01-01T00:00:01.000Z TO *]');
    expect(boundsFilter('ts', { kind: 'no-timestamp' })).to.equal('(*:* -ts:[* TO *])');
  });
  it('filters a customer by exact term, whatever its characters, and the missing customer', () => {
    expect(customerFilter('c', 'a b:"c"/d')).to.equal('{!term f=c}a b:"c"/d');
    expect(customerFilter('c', null)).to.equal('(*:* -c:[* TO *])');
  });
});

describe('customer node names', () => {
  it('round-trip any value and never collide with the no-customer node', () => {
    for (const c of ['acme', 'a/b', 'ünï cödé', '..', '.', '_none', '%41', 'x.y', '', '_empty']) {
      const n = customerNodeName(c);
      expect(n).not.to.equal('');
      expect(n).not.to.contain('/');
      expect(n).not.to.equal(NO_CUSTOMER);
      expect(['.', '..']).not.to.include(n);
      expect(customerFromNodeName(n)).to.equal(c);
    }
    expect(customerFromNodeName(customerNodeName(null))).to.equal(null);
  });
});

describe('work node checks', () => {
  it('accepts a fresh node and names what is wrong with a corrupt one', () => {
    expect(workNodeProblem(newWorkNode(['a'], 0, { kind: 'range', from: null, to: 5 }, 3))).to.equal(null);
    expect(workNodeProblem({ ...newWorkNode(['a'], 0, { kind: 'no-timestamp' }, 3), status: 'weird' })).to.match(/status/);
    expect(workNodeProblem({ ...newWorkNode(['a'], 0, { kind: 'no-timestamp' }, 3), cursor: 5 })).to.match(/cursor/);
    expect(workNodeProblem('hello')).to.match(/not an object/);
  });
});

describe('batching', () => {
  it('bounds batches by documents and by bytes; a lone large document travels alone', () => {
    const docs = [doc('a', 10), doc('b', 10), doc('c', 100), doc('d', 10), doc('e', 10), doc('f', 10)];
    expect(splitByBytes(docs, 3, 50).map((b) => b.map((d) => d.id).join(''))).to.deep.equal(['ab', 'c', 'def']);
    expect(splitByBytes(docs, 2, 1000).map((b) => b.length)).to.deep.equal([2, 2, 2]);
    expect(splitByBytes([], 2, 10)).to.deep.equal([]);
  });
  it('shrinks pages of large documents and grows pages of small ones', () => {
    expect(nextPageRows([doc('a', 1000), doc('b', 1000)], 500, 10_000)).to.equal(10);
    expect(nextPageRows([doc('a', 10)], 500, 10_000)).to.equal(500);
    expect(nextPageRows([doc('a', 50_000)], 500, 10_000)).to.equal(1);
  });
  it('cuts a look by ids by count and by bytes; a lone long id goes alone', () => {
    const ids = ['a', 'bb', 'c'.repeat(30), 'd', 'e', 'f', 'g'];
    expect(chunked(ids, 3, 10, (s) => s.length).map((r) => r.join(','))).to.deep.equal(['a,bb', 'c'.repeat(30), 'd,e,f', 'g']);
    expect(chunked(ids, 100, 1000, (s) => s.length)).to.have.length(1);
  });
  it('lets pages written wait for one tail by count, by age and by bytes, whichever comes first', () => {
    const share = 8 * 1024 * 1024;
    expect(tailDue({ pages: 1, bytes: 1000, ageMs: 0, everyMs: 1000, laneShare: share }), 'one small fresh page waits').to.equal(false);
    expect(tailDue({ pages: TAIL_GROUP.pages - 1, bytes: 1000, ageMs: 999, everyMs: 1000, laneShare: share })).to.equal(false);
    expect(tailDue({ pages: TAIL_GROUP.pages, bytes: 1000, ageMs: 0, everyMs: 1000, laneShare: share }), 'enough pages').to.equal(true);
    expect(tailDue({ pages: 2, bytes: 1000, ageMs: 1000, everyMs: 1000, laneShare: share }), 'old enough').to.equal(true);
    expect(tailDue({ pages: 1, bytes: 1, ageMs: 0, everyMs: 0, laneShare: share }), 'checkpointEvery 0: every page').to.equal(true);
    expect(tailDue({ pages: 2, bytes: share * TAIL_GROUP.share + 1, ageMs: 0, everyMs: 1000, laneShare: share }), 'holding too much of the budget').to.equal(true);
  });
});

describe('lossless JSON', () => {
  it('keeps 64-bit integers exact through parse and stringify', () => {
    const text = '{"big":9007199254740993,"small":42,"f":1.5,"g":15.591021014036652,"neg":-9223372036854775808}';
    expect(exactJson.stringify(exactJson.parse(text))).to.equal(text);
  });
});

describe('retry', () => {
  it('retries retryable errors, then gives up; never retries others', async () => {
    let n = 0;
    const v = await withBackoff(async () => {
      if (++n < 3) throw new RetryableError('busy');
      return 'ok';
    }, { attempts: 5, initialDelayMs: 1, maxDelayMs: 2 });
    expect(v).to.equal('ok');
    expect(n).to.equal(3);
    n = 0;
    await withBackoff(async () => { n++; throw new Error('bad'); }, { attempts: 5, initialDelayMs: 1, maxDelayMs: 2 }).catch(() => undefined);
    expect(n).to.equal(1);
    n = 0;
    await withBackoff(async () => { n++; throw new RetryableError('busy'); }, { attempts: 3, initialDelayMs: 1, maxDelayMs: 2 }).catch(() => undefined);
    expect(n).to.equal(3);
  });
  it('honours Retry-After and caps the delay', () => {
    expect(backoffDelay(0, { initialDelayMs: 100, maxDelayMs: 5000 }, 2000)).to.equal(2000);
    for (let a = 0; a < 20; a++) expect(backoffDelay(a, { initialDelayMs: 100, maxDelayMs: 5000 })).to.be.within(50, 5000);
  });
});

describe('safeUrl', () => {
  it('strips credentials', () => {
    expect(safeUrl('http://u:secret@host:8983/solr')).to.equal('http://host:8983/solr');
  });
});

describe('adaptive rate limiter', () => {
  it('halves on pushback, creeps back up to the configured ceiling', async () => {
    const { RateLimiter } = await import('../../src/worker/rateLimiter');
    const r = new RateLimiter(1000);
    expect(r.limit).to.equal(1000);
    r.pushback();
    expect(r.limit).to.equal(500);
    r.pushback();
    expect(r.limit).to.equal(250);
    r.recovered(50);
    expect(r.limit).to.equal(250 * 1.2 + 50);
    for (let i = 0; i < 20; i++) r.recovered(50);
    expect(r.limit).to.equal(1000);
    const floor = new RateLimiter(0, 5);
    expect(floor.limit).to.equal(0, 'unlimited');
    for (let i = 0; i < 20; i++) floor.pushback();
    expect(floor.limit).to.equal(5);
    let batches = 0;
    while (floor.limit !== 0 && batches < 100) {
      floor.recovered(50);
      batches++;
    }
    expect(batches, 'back to unlimited within a few batches').to.be.below(20);
  });
  it('paces documents to the allowed rate', async () => {
    const { RateLimiter } = await import('../../src/worker/rateLimiter');
    const r = new RateLimiter(200);
    const t0 = Date.now();
    for (let i = 0; i < 6; i++) await r.take(50); // 300 docs at 200/s, starting from an empty bucket
    expect(Date.now() - t0).to.be.within(1200, 2500);
  });
});
