/** Memory bounded by configuration: page sizing within bytes, measuring without writing out, size refusals named. */
import { expect } from 'chai';
import { bulkOutcome } from '../../src/backends/elasticsearch/bulk';
import { normalizeError } from '../../src/backends/elasticsearch/client';
import { exactJson } from '../../src/backends/exactJson';
import { jsonBytes, ResponseTooLargeError, sizeRefusal, tooLargeToRead, withSize } from '../../src/backends/http';
import type { SourceDoc } from '../../src/backends/types';
import { fewerRows, PageBudget, PageSizer, pageByteCap, splitByBytes } from '../../src/worker/batching';

const doc = (id: string, bytes: number): SourceDoc => ({ id, fields: { id }, bytes });
const MB = 1024 * 1024;

describe('page sizing within batch.bytes', () => {
  it('starts small, follows the sizes seen, and halves down to one row when a page is too big', () => {
    const s = new PageSizer(500, 8 * MB);
    expect(s.rows).to.equal(100);
    expect(s.cap).to.equal(pageByteCap(8 * MB));
    const smallPage = Array.from({ length: 100 }, (_, i) => doc(`s${i}`, 1000));
    s.seen(smallPage);
    expect(s.rows).to.equal(200); // small documents: twice as many a page...
    s.seen(smallPage);
    s.seen(smallPage);
    expect(s.rows).to.equal(500); // ...up to batch.docs
    s.seen([doc('a', 5 * MB), doc('b', 5 * MB)]);
    expect(s.rows).to.equal(1); // 5 MB each: one per page of 8 MB
    expect(s.cap).to.equal(undefined); // a single document is read whole
    expect(s.shrink()).to.equal(false);
    const t = new PageSizer(500, 8 * MB, 100);
    const seen: number[] = [];
    while (t.shrink()) seen.push(t.rows);
    expect(seen).to.deep.equal([50, 25, 12, 6, 3, 1]);
    expect(fewerRows(1)).to.equal(null);
    expect(new PageSizer(10, MB, 100).rows).to.equal(10); // a learned size above today's batch.docs
  });

  it('expects the next page to weigh its rows at the sizes seen, within the cap (the cap before any page)', () => {
    const s = new PageSizer(500, 8 * MB);
    expect(s.expectedBytes).to.equal(pageByteCap(8 * MB));
    s.seen(Array.from({ length: 100 }, (_, i) => doc(`s${i}`, 1000)));
    expect(s.expectedBytes).to.equal(200 * 1000);
    s.seen([doc('a', 5 * MB), doc('b', 7 * MB)]);
    expect(s.rows).to.equal(1);
    expect(s.expectedBytes, 'one row: as large as the documents seen, no cap').to.equal(6 * MB);
  });

  it('a page budget: pages being written are held whatever the limit, pages read ahead only within it', () => {
    const b = new PageBudget(16 * MB);
    b.take(10 * MB);
    b.take(10 * MB); // two lanes' pages: over the limit, held anyway
    expect(b.tryTake(1)).to.equal(false);
    expect(b.held).to.equal(20 * MB);
    b.give(10 * MB);
    expect(b.tryTake(6 * MB)).to.equal(true);
    expect(b.tryTake(1)).to.equal(false);
    b.give(16 * MB);
    b.give(16 * MB);
    expect(b.held, 'never below nothing').to.equal(0);
  });

  it('puts a document larger than batch.bytes in a batch of its own, between the others', () => {
    const batches = splitByBytes([doc('a', 10), doc('big', 9 * MB), doc('b', 10), doc('c', 10)], 500, 8 * MB);
    expect(batches.map((b) => b.map((d) => d.id))).to.deep.equal([['a'], ['big'], ['b', 'c']]);
  });

  it('knows a read that failed for its size from any other failure', () => {
    expect(tooLargeToRead(new ResponseTooLargeError(30 * MB, 24 * MB, 'POST /select'))).to.equal(true);
    expect(tooLargeToRead(new RangeError('Invalid string length'))).to.equal(true);
    expect(tooLargeToRead(Object.assign(new Error('Cannot create a string longer than 0x1fffffe8 characters'), { code: 'ERR_STRING_TOO_LONG' }))).to.equal(true);
    expect(tooLargeToRead(new Error('HTTP 400'))).to.equal(false);
    // The Elasticsearch clients' own limit (maxResponseSize) becomes the same error, never a retry of the same page.
    const es = normalizeError(Object.assign(new Error('The content length (33554500) is bigger than the maximum allowed string (25165824)'), { name: 'RequestAbortedError' }), 'search events');
    expect(es).to.be.instanceOf(ResponseTooLargeError);
  });
});

describe('document sizes', () => {
  it('measures a document as its JSON text is long, without writing it out', () => {
    const fields = {
      id: 'ünï-1', n: 42, big: 12345678901234567890n, neg: -0.5, ok: true, none: null, list: ['a', 'bé', 3],
      nested: { k: 'v', deeper: [{ x: 1 }] }, empty: {}, none2: [], text: 'x'.repeat(1000),
      exact: exactJson.parse('{"v":1.50}').v,
    };
    expect(jsonBytes(fields)).to.equal(Buffer.byteLength(exactJson.stringify(fields)));
  });

  it('names the size of a document the target refused for its size', () => {
    expect(sizeRefusal(413, '')).to.equal(true);
    expect(sizeRefusal(400, 'Size of the document big is too large, around: 600118 bytes')).to.equal(true);
    expect(sizeRefusal(400, 'ERROR: [doc=x] unknown field foo')).to.equal(false);
    expect(withSize('HTTP 413', 6 * MB)).to.match(/^document of 6MB \(6291456 bytes\) too large for the target: HTTP 413/);
    const out = bulkOutcome([doc('a', 2 * MB), doc('b', 10)], { items: [
      { create: { status: 400, error: { type: 'illegal_argument_exception', reason: 'Document contains at least one immense term in field="k" (whose UTF8 encoding is longer than the max length 32766)', caused_by: { type: 'max_bytes_length_exceeded_exception', reason: 'bytes can be at most 32766 in length; got 40000' } } } },
      { create: { status: 400, error: { type: 'mapper_parsing_exception', reason: 'failed to parse field [n]' } } },
    ] });
    expect(out.rejected[0].reason).to.match(/^document of 2MB \(2097152 bytes\)/);
    expect(out.rejected[1].reason).to.not.match(/document of/);
  });
});
