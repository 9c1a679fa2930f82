/**
 * Documents arrive exactly as stored, number text included, and verification compares exactly what
 * it copied, on the real stack: Elasticsearch 7 → 8 and Solr 8 → 9. The documents are written as raw
 * JSON text (JavaScript cannot even express `1.0`), read back raw (GET _source / select, no
 * filter_path) and compared value by value with number text identical (exactJson + canonicalContent).
 */
import { expect } from 'chai';
import { exactJson } from '../../src/backends/exactJson';
import type { ZkSession } from '../../src/coordination/zk';
import { generateDocs } from '../../src/demo/dataset';
import { SolrAdmin } from '../../src/demo/solrAdmin';
import { EXIT } from '../../src/errors';
import { canonicalContent } from '../../src/verifier/diff';
import type { VerifyReport } from '../../src/verifier/verifier';
import { run, writeSpec } from '../support/cli';
import { EsAdmin, TEST_MAPPING } from '../support/esAdmin';
import { connectZk, stack, uniqueName } from '../support/stack';

const TS = '2025-06-01T10:00:00.000Z';
const none = new Set<string>();

async function http(method: string, url: string, body?: string): Promise<string> {
  const res = await fetch(url, { method, headers: { 'content-type': 'application/json' }, body });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${url}: HTTP ${res.status} ${text.slice(0, 500)}`);
  return text;
}

/** The number tokens of a JSON text (outside strings), in order. */
function numberTokens(text: string): string[] {
  return [...text.matchAll(/"(?:[^"\\]|\\.)*"|(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)/g)].flatMap((m) => (m[1] === undefined ? [] : [m[1]]));
}

function verifier(spec: () => string) {
  return async (...flags: string[]) => {
    const r = await run(['verify-integrity', '--spec', spec(), '--json', ...flags]);
    expect(r.stdout, r.stderr).to.not.equal('');
    const report = JSON.parse(r.stdout) as VerifyReport;
    return { code: r.code, report, different: report.results.flatMap((x) => x.different).sort(), stderr: r.stderr };
  };
}

describe('exact data: Elasticsearch 7 → 8 copies and verifies every number text', function () {
  this.timeout(180_000);
  const legacy = new EsAdmin(stack.esLegacy);
  const next = new EsAdmin(stack.esNew);
  const index = uniqueName('bgtest_exact_es');
  const root = `/${uniqueName('bgtest')}`;
  let zk: ZkSession;
  let spec = '';
  const verify = verifier(() => spec);
  const mappings = {
    ...TEST_MAPPING,
    properties: {
      ...TEST_MAPPING.properties,
      // Kept in _source, not indexed: numbers no field type would take (1e400) travel too.
      raw: { type: 'object', enabled: false },
      parts: { type: 'nested', properties: { label: { type: 'keyword' }, weight: { type: 'double' }, count: { type: 'long' } } },
      ratio: { type: 'double' },
    },
  };
  /** The field report's numbers, and then some, as stored text. */
  const EXOTIC = `{"id":"exact-1","customer":"acme","timestamp":"${TS}","title":"caf\\u00e9 \\"quoted\\" \\\\ back\\nslash \\u2028 \\ud83d\\ude00 ü",`
    + '"price":1.0,"quantity":9223372036854775807,"ratio":1E+2,'
    + '"raw":{"a":1.0,"b":1E+2,"c":-0.0,"d":1e-400,"e":3.14159265358979323846264338327950288,"f":0.10000000000000000555,"g":1e400,'
    + '"h":-0,"i":9007199254740993,"j":-9223372036854775808,"k":[1.0,[2.50,{"l":1e21,"m":0.0000001}],-1.5E-7],"n":{"o":{"p":12.000}}},'
    + '"parts":[{"label":"x","weight":1.0,"count":9223372036854775806},{"label":"y","weight":2.50,"count":-0},{"label":"z","weight":1E+2,"count":3}],'
    + '"tags":["1.0","2"]}';
  /** One that takes the fast path (no number whose text could change). */
  const PLAIN = `{"id":"exact-2","customer":"acme","timestamp":"${TS}","price":12.5,"quantity":3,"raw":{"x":[1,2,3.25]}}`;

  const source = async (es: EsAdmin, id: string) => http('GET', `${es.url}/${index}/_source/${id}`);

  before(async () => {
    zk = await connectZk();
    await legacy.createIndex(index, { settings: { number_of_shards: 2, number_of_replicas: 0 }, mappings });
    await next.createIndex(index, { settings: { number_of_shards: 1, number_of_replicas: 0 }, mappings });
    for (const [id, text] of [['exact-1', EXOTIC], ['exact-2', PLAIN]]) await http('PUT', `${stack.esLegacy}/${index}/_doc/${id}`, text);
    // Ordinary documents around them, across pages.
    await legacy.index(index, [...generateDocs([{ name: 'acme', docs: 120, spanDays: 2 }], Date.UTC(2025, 5, 2), 3)].map((d) => ({ _id: d.id, source: d })));
    spec = writeSpec({
      migration: uniqueName('exact'),
      zookeeper: { connect: stack.zk, root },
      source: { kind: 'elasticsearch', url: stack.esLegacy, collection: index },
      target: { kind: 'elasticsearch', url: stack.esNew, collection: index },
      slicing: { targetDocsPerSlice: 1000 },
      batch: { docs: 25 },
      verify: { gracePeriod: '1s' },
    });
  });

  after(async () => {
    await zk.removeRecursive(root);
    zk.close();
    await Promise.all([legacy.deleteIndex(index), next.deleteIndex(index)]);
  });

  it('the source stores the text as written (the premise of the test)', async () => {
    expect(numberTokens(await source(legacy, 'exact-1'))).to.deep.equal(numberTokens(EXOTIC));
  });

  it('copies every document with every number text as stored', async () => {
    expect((await run(['plan', '--spec', spec])).code).to.equal(EXIT.OK);
    const w = await run(['work', '--spec', spec]);
    expect(w.code, w.stderr).to.equal(EXIT.OK);
    await next.refresh(index);
    expect(await next.count(index)).to.equal(122);
    for (const id of ['exact-1', 'exact-2', 'acme-0000007']) {
      const [a, b] = await Promise.all([source(legacy, id), source(next, id)]);
      expect(canonicalContent(exactJson.parse(b), none), id).to.equal(canonicalContent(exactJson.parse(a), none));
      expect(numberTokens(b), id).to.deep.equal(numberTokens(a));
    }
    const copied = await source(next, 'exact-1');
    for (const text of ['"b":1E+2', '"c":-0.0', '"d":1e-400', '"e":3.14159265358979323846264338327950288', '"f":0.10000000000000000555', '"g":1e400', '"h":-0', '"quantity":9223372036854775807']) {
      expect(copied).to.contain(text);
    }
    expect(exactJson.parse(copied).title).to.equal('café "quoted" \\ back\nslash \u2028 😀 ü');
    expect(exactJson.parse(copied).parts).to.have.length(3);
  });

  it('verifies clean, then reports a target whose number text differs (1.0 → 1) as different', async () => {
    const clean = await verify();
    expect(clean.code, clean.stderr).to.equal(EXIT.OK);
    // The same value as a double: the old verifier (which hashed parsed doubles) saw no difference.
    await http('PUT', `${stack.esNew}/${index}/_doc/exact-1?refresh=true`, EXOTIC.replace('"parts":[{"label":"x","weight":1.0', '"parts":[{"label":"x","weight":1'));
    await http('PUT', `${stack.esNew}/${index}/_doc/exact-2?refresh=true`, PLAIN.replace('3.25', '3.250'));
    const found = await verify('--new');
    expect(found.code).to.equal(EXIT.DIFFERENCES);
    expect(found.different).to.deep.equal(['exact-1', 'exact-2']);
  });
});

describe('exact data: Solr 8 → 9 copies and verifies every number text Solr gives', function () {
  this.timeout(180_000);
  const legacy = new SolrAdmin(stack.solrLegacy);
  const next = new SolrAdmin(stack.solrNew);
  const collection = uniqueName('bgtest_exact_solr');
  const root = `/${uniqueName('bgtest')}`;
  let zk: ZkSession;
  let spec = '';
  const verify = verifier(() => spec);
  // Solr keeps a value, not its text: what it answers is Java's text for it (1E+2 → 100.0, 1e22 → 1.0E22).
  const EXOTIC = `{"id":"exact-1","customer":"acme","timestamp":"${TS}","title":"caf\\u00e9 \\"q\\" \\\\ \\n \\u2028 \\ud83d\\ude00",`
    + '"price":1.0,"quantity":-0,"a_d":1E+2,"c_d":-0.0,"e_d":3.14159265358979323846264338327950288,"f_d":0.10000000000000000555,'
    + '"k_d":1e22,"m_d":1e-7,"j_d":123456789.123,"i_d":1e-320,"h_d":1.7976931348623157E308,"x_d":"Infinity","y_d":"NaN",'
    + '"big_l":9223372036854775807,"neg_l":-9223372036854775808,"n_i":2147483647,'
    + '"s_s":"3.14159265358979323846264338327950288","t_s":"9223372036854775808","ss_ss":["1.0","1","-0.0"]}';

  const stored = async (base: string, id: string) => {
    const text = await http('GET', `${base}/${collection}/select?q=id:${id}&fl=*&wt=json`);
    const doc = exactJson.parse(text).response.docs[0];
    return { doc, text: exactJson.stringify(doc) };
  };

  before(async () => {
    zk = await connectZk();
    await Promise.all([legacy.createCollection(collection), next.createCollection(collection)]);
    await http('POST', `${stack.solrLegacy}/${collection}/update?wt=json`, `[${EXOTIC}]`);
    await legacy.index(collection, [...generateDocs([{ name: 'acme', docs: 80, spanDays: 2 }], Date.UTC(2025, 5, 2), 5)], true);
    spec = writeSpec({
      migration: uniqueName('exact'),
      zookeeper: { connect: stack.zk, root },
      source: { kind: 'solr', url: stack.solrLegacy, collection },
      target: { kind: 'solr', url: stack.solrNew, collection },
      slicing: { targetDocsPerSlice: 1000 },
      batch: { docs: 20 },
      verify: { gracePeriod: '1s' },
    });
  });

  after(async () => {
    await zk.removeRecursive(root);
    zk.close();
    await Promise.all([legacy.deleteCollection(collection), next.deleteCollection(collection)]);
  });

  it('copies every stored value with the text Solr gives for it', async () => {
    const src = await stored(stack.solrLegacy, 'exact-1');
    // What Solr 8 answers (the premise): Java's text, not ours.
    for (const text of ['"price":1.0', '"c_d":-0.0', '"a_d":100.0', '"k_d":1.0E22', '"m_d":1.0E-7', '"j_d":1.23456789123E8', '"big_l":9223372036854775807']) {
      expect(src.text).to.contain(text);
    }
    expect((await run(['plan', '--spec', spec])).code).to.equal(EXIT.OK);
    const w = await run(['work', '--spec', spec]);
    expect(w.code, w.stderr).to.equal(EXIT.OK);
    await next.commit(collection);
    expect(await next.count(collection)).to.equal(81);
    for (const id of ['exact-1', 'acme-0000011']) {
      const [a, b] = await Promise.all([stored(stack.solrLegacy, id), stored(stack.solrNew, id)]);
      expect(canonicalContent(b.doc, none), id).to.equal(canonicalContent(a.doc, none));
      expect(numberTokens(canonicalContent(b.doc, none))).to.deep.equal(numberTokens(canonicalContent(a.doc, none)));
    }
    const copied = (await stored(stack.solrNew, 'exact-1')).doc;
    expect(copied.s_s).to.equal('3.14159265358979323846264338327950288');
    expect(copied.t_s).to.equal('9223372036854775808');
    expect(copied.title).to.equal('café "q" \\ \n \u2028 😀');
    expect(copied.ss_ss).to.deep.equal(['1.0', '1', '-0.0']);
  });

  it('verifies clean, then reports a target whose number text differs (-0.0 → 0.0) as different', async () => {
    const clean = await verify();
    expect(clean.code, clean.stderr).to.equal(EXIT.OK);
    // Equal as doubles (-0.0 == 0.0): the old verifier, hashing parsed numbers, saw no difference.
    await http('POST', `${stack.solrNew}/${collection}/update?commit=true&wt=json`, `[${EXOTIC.replace('"c_d":-0.0', '"c_d":0.0')}]`);
    expect((await stored(stack.solrNew, 'exact-1')).text).to.contain('"c_d":0.0');
    const found = await verify('--new');
    expect(found.code).to.equal(EXIT.DIFFERENCES);
    expect(found.different).to.deep.equal(['exact-1']);
  });
});
