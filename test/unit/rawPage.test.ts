/**
 * Solr pages read from their bytes (solr/rawPage.ts, rawJson.ts; issue 15): each document as the
 * parsed path has it (id, fields, number text), written to the target as it came, and every answer
 * the walker does not take handed back to the parsed path (null) or refused (RawJsonError).
 */
import { expect } from 'chai';
import { exactJson } from '../../src/backends/exactJson';
import { RawJsonError, rawObjectText } from '../../src/backends/rawJson';
import { rawSolrPages } from '../../src/backends/solr/rawPage';
import { createOnlyBody } from '../../src/backends/solr/solrBackend';
import type { Doc, SourceDoc } from '../../src/backends/types';

const EXCLUDE = new Set(['_version_', '_root_', '_nest_path_', '_nest_parent_', 'score', 'secret_s']);
const read = rawSolrPages({ uniqueKey: 'id', customer: 'customer', exclude: EXCLUDE });

/** The documents as the parsed path has them: exactJson, the excluded fields left out. */
function parsed(text: string): Doc[] {
  return (exactJson.parse(text).response.docs as Doc[]).map((d) => Object.fromEntries(Object.entries(d).filter(([k]) => !EXCLUDE.has(k))));
}

const answer = (docs: string[], extra = '') => `{"responseHeader":{"status":0,"QTime":3${extra}},"response":{"numFound":${docs.length},"start":0,"numFoundExact":true,"docs":[${docs.join(',')}]},"nextCursorMark":"AoE/c2Q="}`;

/** Documents that a walker over bytes could get wrong: escapes, brackets in strings, number text, every position of a cut field. */
const ODD = [
  '{"id":"a1","customer":"acme","_version_":0,"t":"quote \\" inside, and } ] { [ , : in a string"}',
  '{"_version_":0,"id":"a2","customer":"acme","t":"ends in a backslash \\\\","u":"\\\\\\"","n":1.0}',
  '{"id":"a3","_version_":0,"customer":"acme","e":"é€𝄞 \\u0000 \\u2028 \\ud83d\\ude00","big":12345678901234567890,"neg":-0.0,"exp":1E+2,"tiny":1e-400}',
  '{"id":"a4","customer":"acme","tags":["x","y\\"]",""],"nums":[1.50,2,-3e5],"empty":[],"nil":null,"yes":true,"no":false,"_version_":0}',
  '{"id":"a\\"5\\u00e9","customer":null,"secret_s":"cut","_version_":0,"score":1.5}',
  '{"_version_":0,"score":2.0,"id":"a6"}',
  '{"id":"a7","customer":"\\u0061cme","d":40.000000000000000000001,"_root_":"a7"}',
];

describe('raw Solr pages (bytes, not objects)', () => {
  it('gives each document as the parsed path does: id, customer, fields with their number text, excluded fields cut wherever they stand', () => {
    const text = answer(ODD);
    const page = read(Buffer.from(text))!;
    expect(page).to.not.equal(null);
    expect(page.nextCursorMark).to.equal('AoE/c2Q=');
    expect(page.partialResults).to.equal(false);
    const want = parsed(text);
    expect(page.docs.map((d) => d.id)).to.deep.equal(['a1', 'a2', 'a3', 'a4', 'a"5é', 'a6', 'a7']);
    expect(page.docs.map((d) => d.customer)).to.deep.equal(['acme', 'acme', 'acme', 'acme', null, null, 'acme']);
    page.docs.forEach((d, i) => {
      expect(exactJson.parse(rawObjectText(d.json!)), `document ${i} as its bytes`).to.deep.equal(want[i]);
      expect(exactJson.stringify(d.fields), `document ${i} parsed`).to.equal(exactJson.stringify(want[i]));
    });
  });

  it('reads whitespace as Solr writes it with indent=true, and numeric ids as their text', () => {
    const text = '{\n  "responseHeader":{\n    "status":0},\n  "response":{"numFound":2,"start":0,"docs":[\n      {\n        "id":17,\n        "_version_":0,\n        "v":[ 1 , 2 ]},\n      {\n        "id":98765432109876543210,\n        "v":[]}]\n  },\n  "nextCursorMark":"x"}\n';
    const page = read(Buffer.from(text))!;
    expect(page.docs.map((d) => d.id)).to.deep.equal(['17', '98765432109876543210']);
    expect(page.docs.map((d) => exactJson.stringify(d.fields))).to.deep.equal(parsed(text).map((d) => exactJson.stringify(d)));
  });

  it('writes each document as it came, create-only (_version_ -1), the same JSON as the parsed path writes', () => {
    const text = answer(ODD);
    const raw = read(Buffer.from(text))!.docs;
    const fromFields: SourceDoc[] = parsed(text).map((fields, i) => ({ id: raw[i].id, fields, bytes: 10 }));
    const rawBody = exactJson.parse(createOnlyBody(raw).toString('utf8'));
    const fieldsBody = exactJson.parse(createOnlyBody(fromFields).toString('utf8'));
    expect(exactJson.stringify(rawBody)).to.equal(exactJson.stringify(fieldsBody));
    expect(rawBody.every((d: Doc) => d._version_ === -1)).to.equal(true);
    // Number text went through as the source wrote it (not through a double).
    const body = createOnlyBody(raw).toString('utf8');
    for (const t of ['12345678901234567890', '-0.0', '1E+2', '1e-400', '1.50', '40.000000000000000000001', '\\ud83d\\ude00']) expect(body).to.include(t);
    expect(body).to.not.include('secret_s');
    expect(body).to.not.include('"score"');
  });

  it('measures a document by the bytes it is written with', () => {
    const raw = read(Buffer.from(answer(ODD)))!.docs;
    for (const d of raw) expect(d.bytes).to.equal(Buffer.byteLength(rawObjectText(d.json!)));
  });

  it('once fields are read the object is the document (the bytes are dropped), and a copy by spreading never carries them', () => {
    const [a, b] = read(Buffer.from(answer(ODD)))!.docs;
    expect({ ...a }.json).to.equal(undefined);
    expect(a.customer).to.equal('acme');
    expect(exactJson.stringify(a.fields)).to.equal(exactJson.stringify(parsed(answer(ODD))[0]));
    expect(a.json).to.equal(undefined);
    expect(a.customer, 'once parsed, the customer is the fields\' own').to.equal(undefined);
    b.fields.t = 'changed';
    expect(b.json).to.equal(undefined);
    expect(createOnlyBody([b]).toString()).to.include('"t":"changed"');
  });

  it('reports partial results, and an empty page', () => {
    expect(read(Buffer.from(answer(ODD, ',"partialResults":true')))!.partialResults).to.equal(true);
    const empty = read(Buffer.from(answer([])))!;
    expect(empty.docs).to.deep.equal([]);
    expect(empty.nextCursorMark).to.equal('AoE/c2Q=');
  });

  it('hands back to the parsed path what it does not carry: child documents, an array of them, a key written with an escape, a document without its id', () => {
    for (const doc of [
      '{"id":"p","kids":{"id":"c"}}',
      '{"id":"p","_childDocuments_":[{"id":"c1"},{"id":"c2"}]}',
      '{"id":"p","\\u0074":"x"}',
      '{"title":"no id"}',
    ]) expect(read(Buffer.from(answer([ODD[0], doc]))), doc).to.equal(null);
  });

  it('refuses an answer that is not JSON as it should be, naming where (the caller then parses it and reports)', () => {
    for (const text of [answer(ODD).slice(0, -40), '{"response":{"docs":[{"id":"x" "t":1}]}}', '{"response":{"docs":[{"id":"x",}]}}', '{"response":{"docs":[{"id":"x","t":"unterminated}]}}', '{"responseHeader":{}}']) {
      expect(() => read(Buffer.from(text)), text).to.throw(RawJsonError);
    }
  });
});
