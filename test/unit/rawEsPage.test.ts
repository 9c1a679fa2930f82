/**
 * Elasticsearch pages read from their bytes (elasticsearch/rawPage.ts; issue 15): each hit's
 * `_source` exactly as stored (number text, key order, nested objects), its id, routing and the
 * cursor as the parsed path has them, the bulk body the same JSON as the parsed path's, and every
 * answer the walker does not take handed back (null) or refused (RawJsonError).
 */
import { expect } from 'chai';
import { exactJson } from '../../src/backends/exactJson';
import { RawJsonError, rawObjectText } from '../../src/backends/rawJson';
import { rawEsPages } from '../../src/backends/elasticsearch/rawPage';
import { bulkRequest, ndjsonBytes } from '../../src/backends/elasticsearch/bulk';
import { incompleteReason } from '../../src/backends/elasticsearch/queries';
import type { SourceDoc } from '../../src/backends/types';

const read = rawEsPages('customer');

const HITS = [
  '{"_index":"src","_id":"a1","_score":null,"_source":{"customer":"acme","n":1.0,"big":12345678901234567890,"neg":-0.0,"exp":1E+2,"tiny":1e-400,"t":"quote \\" } ] { [ , :"},"sort":["a1"]}',
  '{"_index":"src","_type":"_doc","_id":"a\\"2\\u00e9","_routing":"r-7","_score":null,"_source":{ "customer" : "beta" , "obj":{"inner":[{"x":40.000000000000000000001}],"e":{}}, "arr":[1,[2,3],null,true] } ,"sort":["a\\"2é", 12345678901234567891]}',
  '{"_index":"src","_id":"a3","_score":null,"_source":{},"sort":["a3"]}',
  '{"_index":"src","_id":"a4","_score":null,"sort":["a4"]}',
  '{"_index":"src","_id":"a5","_score":null,"_source":{"obj":{"customer":"not top level"},"e":"é€𝄞 \\ud83d\\ude00 \\u2028"},"sort":["a5"]}',
];
const answer = (hits: string[], extra = '') => `{"took":3,"timed_out":false,"_shards":{"total":2,"successful":2,"skipped":0,"failed":0}${extra},"hits":{"total":{"value":${hits.length},"relation":"eq"},"max_score":null,"hits":[${hits.join(',')}]}}`;

describe('raw Elasticsearch pages (bytes, not objects)', () => {
  it('gives each hit as the parsed path does: id, routing, _source with its number text and key order, the last sort values', () => {
    const text = answer(HITS);
    const page = read(Buffer.from(text))!;
    const hits = exactJson.parse(text).hits.hits;
    expect(page.docs.map((d) => d.id)).to.deep.equal(hits.map((h: any) => h._id));
    expect(page.docs.map((d) => d.routing)).to.deep.equal([undefined, 'r-7', undefined, undefined, undefined]);
    page.docs.forEach((d, i) => {
      const want = exactJson.stringify(hits[i]._source ?? {});
      expect(exactJson.stringify(exactJson.parse(rawObjectText(d.json!))), `hit ${i} as its bytes`).to.equal(want);
      expect(exactJson.stringify(d.fields), `hit ${i} parsed`).to.equal(want);
    });
    expect(exactJson.stringify(exactJson.parse(page.lastSort!))).to.equal(exactJson.stringify(hits[hits.length - 1].sort));
    expect(exactJson.stringify(exactJson.parse(read(Buffer.from(answer(HITS.slice(0, 2))))!.lastSort!))).to.equal('["a\\"2é",12345678901234567891]');
  });

  it('finds the customer at the top of _source only, when asked, and from the fields once they are parsed', () => {
    const docs = read(Buffer.from(answer(HITS)))!.docs;
    expect(docs.map((d) => d.customer)).to.deep.equal(['acme', 'beta', null, null, null]);
    expect(docs[0].fields.customer).to.equal('acme');
    expect(docs[0].customer).to.equal(undefined);
  });

  it('writes the bulk body with each _source as its bytes came: the same JSON as the parsed path, number text as stored', () => {
    const text = answer(HITS);
    const raw = read(Buffer.from(text))!.docs;
    const parsed: SourceDoc[] = exactJson.parse(text).hits.hits.map((h: any) => ({ id: h._id, fields: h._source ?? {}, bytes: 1, ...(h._routing ? { routing: h._routing } : {}) }));
    const rawBody = bulkRequest(raw).body.toString('utf8');
    const fieldsBody = bulkRequest(parsed).body.toString('utf8');
    const lines = (body: string) => body.trimEnd().split('\n').map((l) => exactJson.stringify(exactJson.parse(l)));
    expect(lines(rawBody)).to.deep.equal(lines(fieldsBody));
    for (const t of ['12345678901234567890', '-0.0', '1E+2', '1e-400', '40.000000000000000000001', '\\ud83d\\ude00', '"e":{}']) expect(rawBody).to.include(t);
    for (const d of raw) expect(d.bytes).to.equal(Buffer.byteLength(rawObjectText(d.json!)));
    expect(ndjsonBytes(['{"a":1}', raw[2].json!]).toString()).to.equal('{"a":1}\n{}\n');
  });

  it('carries what says whether the answer is complete: timed out, failed shards', () => {
    expect(incompleteReason(read(Buffer.from(answer(HITS)))!.header)).to.equal(null);
    const failed = answer(HITS).replace('"failed":0', '"failed":1,"failures":[{"reason":{"type":"x","reason":"y"}}]');
    expect(incompleteReason(read(Buffer.from(failed))!.header)).to.match(/1 of 2 shards failed/);
    expect(incompleteReason(read(Buffer.from(answer(HITS).replace('"timed_out":false', '"timed_out":true')))!.header)).to.match(/timed out/);
    const empty = read(Buffer.from(answer([])))!;
    expect(empty.docs).to.deep.equal([]);
    expect(empty.lastSort).to.equal(null);
  });

  it('hands back to the parsed path a hit without an id, with a _source that is not an object or without sort values, and refuses what is not JSON', () => {
    expect(read(Buffer.from(answer([HITS[0], '{"_index":"src","_source":{"a":1},"sort":["x"]}'])))).to.equal(null);
    expect(read(Buffer.from(answer([HITS[0], '{"_id":"x","_source":null,"sort":["x"]}'])))).to.equal(null);
    // Without sort values the cursor would have nothing to move on to: the parsed path decides.
    expect(read(Buffer.from(answer([HITS[0], '{"_id":"x","_source":{"a":1}}'])))).to.equal(null);
    for (const text of [answer(HITS).slice(0, -30), '{"hits":{"hits":[{"_id":"x" "_source":{}}]}}', '{"took":1}']) expect(() => read(Buffer.from(text)), text).to.throw(RawJsonError);
  });
});
