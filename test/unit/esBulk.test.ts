import { expect } from 'chai';
import { bulkOutcome, bulkRequest, versionOf } from '../../src/backends/elasticsearch/bulk';
import { EsStatusError, normalizeError } from '../../src/backends/elasticsearch/client';
import { exactJson } from '../../src/backends/exactJson';
import type { SourceDoc } from '../../src/backends/types';
import { RetryableError } from '../../src/errors';

const doc = (id: string, fields: Record<string, unknown> = {}, routing?: string): SourceDoc =>
  ({ id, fields: { id, ...fields }, ...(routing ? { routing } : {}), bytes: 10 });

const lines = (body: Buffer) => body.toString('utf8').trimEnd().split('\n').map((l) => exactJson.parse(l));

describe('elasticsearch bulk request', () => {
  it('creates only (a 409 leaves the live write alone), with _id and routing kept', () => {
    const req = bulkRequest([doc('a', { n: 1 }), doc('b', {}, 'tenant-7')]);
    expect(req.body.toString('utf8').endsWith('\n')).to.equal(true);
    expect(lines(req.body)).to.deep.equal([
      { create: { _id: 'a' } }, { id: 'a', n: 1 },
      { create: { _id: 'b', routing: 'tenant-7' } }, { id: 'b' },
    ]);
    expect(req.sent.map((d) => d.id)).to.deep.equal(['a', 'b']);
    expect(req.refused).to.deep.equal([]);
  });

  it('writes the body as UTF-8 bytes, sized for characters of every width', () => {
    const text = 'café — 日本語 — 🐙 — \u0000\u2028';
    const req = bulkRequest([doc('é1', { text }), doc('a', { n: 2 })]);
    const expected = `${exactJson.stringify({ create: { _id: 'é1' } })}\n${exactJson.stringify({ id: 'é1', text })}\n{"create":{"_id":"a"}}\n{"id":"a","n":2}\n`;
    expect(req.body.length).to.equal(Buffer.byteLength(expected));
    expect(req.body.equals(Buffer.from(expected, 'utf8'))).to.equal(true);
    expect(lines(req.body)[1]).to.deep.equal({ id: 'é1', text });
  });

  it('writes 64-bit values digit for digit', () => {
    const big = exactJson.parse('{"v":9223372036854775807}').v;
    expect(bulkRequest([doc('a', { v: big })]).body.toString('utf8')).to.contain('"v":9223372036854775807');
  });

  it('uses external versions from the version field, and refuses documents without a usable one', () => {
    const big = exactJson.parse('9007199254740993');
    const req = bulkRequest([doc('a', { ver: 3 }), doc('b', { ver: 'x' }), doc('c', { ver: big }, 'r'), doc('d', {}), doc('e', { ver: -1 })], 'ver');
    expect(req.sent.map((d) => d.id)).to.deep.equal(['a', 'c']);
    expect(req.body.toString('utf8').split('\n')[0]).to.equal('{"index":{"_id":"a","version":3,"version_type":"external"}}');
    expect(req.body.toString('utf8').split('\n')[2]).to.equal('{"index":{"_id":"c","routing":"r","version":9007199254740993,"version_type":"external"}}');
    expect(req.refused.map((r) => r.id)).to.deep.equal(['b', 'd', 'e']);
    expect(req.refused[0].reason).to.match(/no usable version in "ver"/);
  });

  it('reads versions from numbers, BigInts and digit strings within a Java long', () => {
    expect(versionOf(5)).to.equal(5n);
    expect(versionOf('17')).to.equal(17n);
    expect(versionOf(9223372036854775807n)).to.equal(9223372036854775807n);
    expect(versionOf(9223372036854775808n)).to.equal(null);
    expect(versionOf(1.5)).to.equal(null);
    expect(versionOf(null)).to.equal(null);
  });

  it('sends nothing for an empty batch', () => {
    expect(bulkRequest([]).body.length).to.equal(0);
  });
});

describe('elasticsearch bulk answer', () => {
  const sent = ['a', 'b', 'c', 'd', 'e', 'f', 'g'].map((id) => doc(id));
  const item = (status: number, error?: object, op = 'create') => ({ [op]: { _id: 'x', status, ...(error ? { error } : {}) } });

  it('counts created and live-write-won, retries the busy ones, records the refused ones', () => {
    const out = bulkOutcome(sent, {
      errors: true,
      items: [
        item(201),
        item(409, { type: 'version_conflict_engine_exception', reason: 'document already exists' }),
        item(429, { type: 'es_rejected_execution_exception', reason: 'queue full' }),
        item(400, { type: 'mapper_parsing_exception', reason: 'failed to parse field [price]', caused_by: { type: 'number_format_exception', reason: 'For input string: "abc"' } }),
        item(503, { type: 'unavailable_shards_exception', reason: 'primary shard is not active' }),
        item(200, undefined, 'index'),
        item(400, { type: 'document_parsing_exception', reason: 'bad' }),
      ],
    });
    expect(out.written).to.equal(2);
    expect(out.skipped).to.equal(1);
    expect(out.retry.map((d) => d.id)).to.deep.equal(['c', 'e']);
    expect(out.retryReason).to.match(/503 unavailable_shards_exception/);
    expect(out.rejected).to.deep.equal([
      { id: 'd', reason: 'mapper_parsing_exception: failed to parse field [price] (number_format_exception: For input string: "abc")' },
      { id: 'g', reason: 'document_parsing_exception: bad' },
    ]);
    expect(out.indexProblem).to.equal(null);
  });

  it('retries an item rejected for being busy whatever its status', () => {
    const out = bulkOutcome([doc('a')], { items: [item(400, { type: 'circuit_breaking_exception', reason: 'data too large' })] });
    expect(out.retry.map((d) => d.id)).to.deep.equal(['a']);
  });

  it('fails the batch, not the documents, when the index itself refuses', () => {
    const out = bulkOutcome([doc('a'), doc('b')], {
      items: [item(403, { type: 'cluster_block_exception', reason: 'index [x] blocked by: [FORBIDDEN/8/index write (api)]' }), item(201)],
    });
    expect(out.indexProblem).to.match(/cluster_block_exception/);
    expect(out.rejected).to.deep.equal([]);
  });

  it('refuses an answer that does not match what was sent', () => {
    expect(() => bulkOutcome(sent, { items: [item(201)] })).to.throw(/1 items for 7 documents/);
  });
});

describe('elasticsearch client errors', () => {
  const responseError = (statusCode: number, body: unknown, headers: Record<string, string> = {}) =>
    Object.assign(new Error('response error'), { name: 'ResponseError', meta: { statusCode, body, headers } });

  it('makes 429, 5xx and connection trouble retryable, honouring Retry-After', () => {
    const busy = normalizeError(responseError(429, { error: { type: 'es_rejected_execution_exception', reason: 'full' } }, { 'retry-after': '3' }), 'bulk x');
    expect(busy).to.be.instanceOf(RetryableError);
    expect((busy as RetryableError).retryAfterMs).to.equal(3000);
    expect(busy.message).to.equal('bulk x: HTTP 429 es_rejected_execution_exception full');
    expect(normalizeError(responseError(503, { error: { type: 'x', reason: 'y' } }), 'search')).to.be.instanceOf(RetryableError);
    expect(normalizeError(Object.assign(new Error('socket hang up'), { name: 'ConnectionError' }), 'search')).to.be.instanceOf(RetryableError);
    expect(normalizeError(Object.assign(new Error('timeout'), { name: 'TimeoutError' }), 'search')).to.be.instanceOf(RetryableError);
  });

  it('keeps refusals as status errors with their type', () => {
    const e = normalizeError(responseError(404, { error: { type: 'index_not_found_exception', reason: 'no such index [x]' }, status: 404 }), 'mapping');
    expect(e).to.be.instanceOf(EsStatusError);
    expect((e as EsStatusError).status).to.equal(404);
    expect((e as EsStatusError).type).to.equal('index_not_found_exception');
    expect(e.message).to.equal('Elasticsearch answered HTTP 404 index_not_found_exception: no such index [x]');
  });
});
