/**
 * Solr → Elasticsearch with the schema translated, on the real stack (Solr 8.11 → Elasticsearch 8):
 * a collection whose schema has text, string, numeric (int, long, float, double), date, boolean,
 * point, multi-valued and dynamic fields, a copy field and one type with no Elasticsearch counterpart.
 * `plan --dry-run` shows the translated mapping and names the untranslated field; `plan` creates the
 * target index with it (target.prepare); every document lands exactly as Solr stores it (number text
 * included, arrays as arrays, the uniqueKey as `_id`, `_version_` not copied) and verifies clean. An
 * operator's mappings file laid over the translation wins where it maps a field. Solr → Elasticsearch
 * and Solr → OpenSearch with live writes through DualWriter while the copy runs (test/support/liveWrites.ts).
 */
import { expect } from 'chai';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exactJson } from '../../src/backends/exactJson';
import type { ZkSession } from '../../src/coordination/zk';
import { generateDocs } from '../../src/demo/dataset';
import { SolrAdmin } from '../../src/demo/solrAdmin';
import { EXIT } from '../../src/errors';
import type { VerifyReport } from '../../src/verifier/verifier';
import { run, writeSpec } from '../support/cli';
import { EsAdmin } from '../support/esAdmin';
import { esAll, itCopiesWithLiveWrites, solrAll } from '../support/liveWrites';
import { esSnapshot } from '../support/snapshot';
import { connectZk, stack, uniqueName, withOptionalServer } from '../support/stack';

const TS = '2025-06-01T10:00:00.000Z';

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

describe('cross-kind: Solr 8 → Elasticsearch 8 with the mapping translated from the Solr schema', function () {
  this.timeout(240_000);
  const solr = new SolrAdmin(stack.solrLegacy);
  const es = new EsAdmin(stack.esNew);
  const configSet = uniqueName('bgtest_xk_conf');
  const collection = uniqueName('bgtest_xk');
  const index = uniqueName('bgtest_xk');
  const index2 = uniqueName('bgtest_xk_file');
  const root = `/${uniqueName('bgtest')}`;
  let zk: ZkSession;
  let spec = '';
  let spec2 = '';
  let base: Record<string, unknown> = {};
  const mappingsFile = join(tmpdir(), `${uniqueName('xk_mappings')}.json`);
  // Solr keeps a value, not its text: what it answers is Java's text for it (1E+2 → 100.0).
  const EXOTIC = `{"id":"exact-1","customer":"acme","timestamp":"${TS}","title":"caf\\u00e9 \\"q\\" \\\\ \\n \\u2028 \\ud83d\\ude00",`
    + '"price":1.0,"quantity":-0,"rating":1.10,"a_d":1E+2,"c_d":-0.0,"e_d":3.14159265358979323846264338327950288,'
    + '"k_d":1e22,"j_d":123456789.123,"big_l":9223372036854775807,"neg_l":-9223372036854775808,"n_i":2147483647,'
    + '"t_s":"9223372036854775808","ss_ss":["1.0","1","-0.0"],"tags":["one"],"ok_b":true,"when_dt":"1999-12-31T23:59:59.999Z",'
    + '"where":"48.8566,2.3522","period":"[2020-01 TO 2021-06]"}';

  // updateTimeoutSecs: answered once every replica has reloaded with the change (not while a reload may
  // still be under way, which could race the documents indexed next).
  const schemaApi = (body: object) => http('POST', `${stack.solrLegacy}/${collection}/schema?wt=json&updateTimeoutSecs=60`, JSON.stringify(body));

  before(async () => {
    zk = await connectZk();
    // A configset of its own: the Schema API changes below must not reach the shared "bluegreen" one.
    await http('GET', `${stack.solrLegacy}/admin/configs?action=CREATE&name=${configSet}&baseConfigSet=bluegreen&wt=json`);
    await solr.createCollection(collection, 2, configSet);
    await schemaApi({
      'add-field-type': [
        { name: 'pfloat', class: 'solr.FloatPointField', docValues: true },
        { name: 'location', class: 'solr.LatLonPointSpatialField' },
        { name: 'daterange', class: 'solr.DateRangeField' },
      ],
    });
    await schemaApi({
      'add-field': [
        { name: 'rating', type: 'pfloat', stored: true },
        { name: 'where', type: 'location', stored: true },
        { name: 'period', type: 'daterange', stored: true },
        { name: 'all_text', type: 'text_general', stored: false, multiValued: true },
      ],
    });
    await schemaApi({ 'add-copy-field': { source: 'title', dest: 'all_text' } });
    // A reload of every replica, finished before the collection takes documents: a schema change
    // reloads the cores in the background, and documents sent meanwhile were seen to go missing.
    await http('GET', `${stack.solrLegacy}/admin/collections?action=RELOAD&name=${collection}&wt=json`);
    await http('POST', `${stack.solrLegacy}/${collection}/update?wt=json`, `[${EXOTIC}]`);
    await solr.index(collection, [...generateDocs([{ name: 'acme', docs: 60, spanDays: 2 }, { name: 'bolt', docs: 25, spanDays: 1 }], Date.UTC(2025, 5, 2), 5)], true);
    expect(await solr.count(collection)).to.equal(86);
    base = {
      zookeeper: { connect: stack.zk, root },
      source: { kind: 'solr', url: stack.solrLegacy, collection },
      slicing: { targetDocsPerSlice: 40 },
      batch: { docs: 20 },
      verify: { gracePeriod: '1s' },
    };
    spec = writeSpec({ ...base, migration: uniqueName('xk'), target: { kind: 'elasticsearch', url: stack.esNew, collection: index, prepare: {} } });
    writeFileSync(mappingsFile, JSON.stringify({ mappings: { properties: { category: { type: 'text' }, period: { type: 'keyword' } } } }));
    spec2 = writeSpec({ ...base, migration: uniqueName('xkfile'), target: { kind: 'elasticsearch', url: stack.esNew, collection: index2, prepare: { mappingsFile } } });
  });

  after(async () => {
    await zk.removeRecursive(root);
    await zk.removeRecursive(`${root}_bad`); // nothing, unless the refusal test failed
    zk.close();
    await Promise.all([es.deleteIndex(index), es.deleteIndex(index2), es.deleteIndex(`${index}_bad`)]);
    await solr.deleteCollection(collection);
    await http('GET', `${stack.solrLegacy}/admin/configs?action=DELETE&name=${configSet}&wt=json`);
  });

  it('plan --dry-run shows the translated mapping and names the field it could not translate; writes nothing', async () => {
    const r = await run(['plan', '--spec', spec, '--dry-run']);
    expect(r.code, r.stderr).to.equal(EXIT.OK);
    expect(r.stdout).to.contain('target mapping (translated from the Solr schema of solr 8.11');
    expect(r.stdout).to.contain('target.prepare creates the target index with it');
    expect(r.stdout).to.match(/- period \[daterange \(solr\.DateRangeField\)\]: Solr date ranges/);
    const json = r.stdout.slice(r.stdout.indexOf('{\n  "mappings"'), r.stdout.indexOf('\n}\n') + 2);
    const shown = JSON.parse(json).mappings;
    expect(shown.properties).to.deep.include({
      id: { type: 'keyword' }, customer: { type: 'keyword' }, timestamp: { type: 'date' }, price: { type: 'double' },
      quantity: { type: 'integer' }, rating: { type: 'float' }, where: { type: 'geo_point' }, tags: { type: 'keyword' },
      title: { type: 'text', copy_to: ['all_text'] }, all_text: { type: 'text' },
    });
    expect(shown.properties).to.not.have.property('_version_');
    expect(shown.properties).to.not.have.property('period');
    expect(shown.dynamic_templates.map((d: any) => Object.values(d)[0])).to.deep.include({ match: '*_l', mapping: { type: 'long' } });
    expect(r.stdout).to.contain('(dry run: nothing written)');
    expect(await es.exists(index)).to.equal(false);
    expect(await zk.exists(root)).to.equal(null);
  });

  it('plan creates the index with the translated mapping; the copy lands every document exactly as stored; verify passes', async () => {
    const p = await run(['plan', '--spec', spec]);
    expect(p.code, p.stderr).to.equal(EXIT.OK);
    const live = await es.mapping(index);
    expect(live.dynamic_templates.map((d: any) => Object.values(d)[0])).to.deep.include({ match: '*_l', mapping: { type: 'long' } });
    expect(live.properties.rating).to.deep.equal({ type: 'float' });
    expect(live.properties.where).to.deep.equal({ type: 'geo_point' });
    expect(live.properties.title).to.deep.equal({ type: 'text', copy_to: ['all_text'] });
    expect(live.properties.timestamp).to.deep.equal({ type: 'date' });
    const w = await run(['work', '--spec', spec]);
    expect(w.code, w.stderr).to.equal(EXIT.OK);
    await http('POST', `${stack.esNew}/${index}/_refresh`);
    const [src, dst] = await Promise.all([solrAll(stack.solrLegacy, collection), esAll(stack.esNew, index)]);
    expect(src.size).to.equal(86);
    expect([...dst.keys()].sort()).to.deep.equal([...src.keys()].sort()); // the uniqueKey is the _id
    for (const [id, content] of src) {
      expect(dst.get(id), id).to.equal(content);
      expect(numberTokens(dst.get(id)!), id).to.deep.equal(numberTokens(content));
    }
    const after = await es.mapping(index);
    expect(after.properties.big_l).to.deep.equal({ type: 'long' }); // a long stays a long (dynamic template *_l), not a double
    expect(after.properties.ok_b).to.deep.equal({ type: 'boolean' });
    expect(after.properties.when_dt).to.deep.equal({ type: 'date' });
    const copied = exactJson.parse(await http('GET', `${stack.esNew}/${index}/_source/exact-1`)) as any;
    expect(copied).to.not.have.property('_version_');
    expect(copied.ss_ss).to.deep.equal(['1.0', '1', '-0.0']);
    expect(copied.tags).to.deep.equal(['one']); // multi-valued: an array, even of one
    expect(exactJson.stringify(copied)).to.contain('"big_l":9223372036854775807').and.to.contain('"a_d":100.0').and.to.contain('"rating":1.1');
    // The untranslated field's values came too, as Solr stores them; copy_to filled the catch-all field.
    expect(copied.period).to.equal('[2020-01 TO 2021-06]');
    const hits = JSON.parse(await http('POST', `${stack.esNew}/${index}/_search`, JSON.stringify({ query: { match: { all_text: 'café' } } })));
    expect(hits.hits.hits.map((h: any) => h._id)).to.deep.equal(['exact-1']);
    const v = await run(['verify-integrity', '--spec', spec, '--json']);
    expect(v.code, v.stderr).to.equal(EXIT.OK);
    const report = JSON.parse(v.stdout) as VerifyReport;
    expect(report.results).to.deep.equal([]); // only slices with differences are listed
    expect(report.run.totals).to.include({ missing: 0, extra: 0, different: 0 });
    expect(report.run.totals!.clean).to.equal(report.run.totals!.slices).and.to.be.greaterThan(1);
  });

  itCopiesWithLiveWrites('Solr 8 → Elasticsearch 8', { kind: 'solr', url: stack.solrLegacy }, { kind: 'elasticsearch', url: stack.esNew });

  it('an operator\'s mappings file laid over the translation wins where it maps a field', async () => {
    const d = await run(['plan', '--spec', spec2, '--dry-run']);
    expect(d.code, d.stderr).to.equal(EXIT.OK);
    expect(d.stdout).to.contain(`with ${mappingsFile} (target.prepare.mappingsFile) merged over it`);
    expect(d.stdout).to.contain('fields the mappings file maps instead of the translation: category');
    const p = await run(['plan', '--spec', spec2]);
    expect(p.code, p.stderr).to.equal(EXIT.OK);
    const live = await es.mapping(index2);
    expect(live.properties.category.type).to.equal('text'); // the file's, not the translated keyword
    expect(live.properties.period).to.deep.equal({ type: 'keyword' }); // the file maps what the translation could not
    expect(live.properties.price).to.deep.equal({ type: 'double' }); // the rest is the translation
    const w = await run(['work', '--spec', spec2]);
    expect(w.code, w.stderr).to.equal(EXIT.OK);
    const v = await run(['verify-integrity', '--spec', spec2, '--json']);
    expect(v.code, v.stderr).to.equal(EXIT.OK);
  });

  it('a mapping that cannot be migrated into (a mappings file replacing the translation, without the timestamp) is exit 2 with nothing written', async () => {
    const file = join(tmpdir(), `${uniqueName('xk_replace')}.json`);
    writeFileSync(file, JSON.stringify({ properties: { id: { type: 'keyword' }, customer: { type: 'keyword' } } }));
    const bad = writeSpec({
      migration: uniqueName('xkbad'), zookeeper: { connect: stack.zk, root: `${root}_bad` },
      source: { kind: 'solr', url: stack.solrLegacy, collection },
      target: { kind: 'elasticsearch', url: stack.esNew, collection: `${index}_bad`, prepare: { mappingsFile: file, mappingsFileMode: 'replace' } },
    });
    const d = await run(['plan', '--spec', bad, '--dry-run']);
    expect(d.code, d.stderr).to.equal(EXIT.OK);
    expect(d.stdout).to.contain('mappingsFileMode: replace; the translation is not used');
    expect(d.stdout).to.contain('this mapping cannot be migrated into:\n  - no field "timestamp" (fields.timestamp) in its mapping');
    const esBefore = await esSnapshot(stack.esNew);
    const p = await run(['plan', '--spec', bad]);
    expect(p.code).to.equal(EXIT.USAGE);
    expect(p.stderr).to.contain('would create an index bluegreen cannot migrate into').and.to.contain('no field "timestamp"');
    expect(await zk.exists(`${root}_bad`)).to.equal(null);
    expect(await esSnapshot(stack.esNew)).to.deep.equal(esBefore);
  });
});

describe('cross-kind: Solr 8 → OpenSearch 3 with the translated mapping (optional server, started for this block)', function () {
  this.timeout(300_000);
  const solr = new SolrAdmin(stack.solrLegacy);
  const os = new EsAdmin(stack.opensearch);
  const collection = uniqueName('bgtest_xkos');
  const index = uniqueName('bgtest_xkos');
  const root = `/${uniqueName('bgtest')}`;
  let zk: ZkSession;
  let spec = '';
  const EXOTIC = `{"id":"exact-1","customer":"acme","timestamp":"${TS}","title":"caf\\u00e9","price":1.0,"quantity":-0,"a_d":1E+2,`
    + '"big_l":9223372036854775807,"n_i":2147483647,"ss_ss":["1.0","1"],"tags":["one"],"ok_b":false,"when_dt":"1999-12-31T23:59:59.999Z"}';

  // Defined before withOptionalServer's hooks: this cleanup runs before the server is stopped.
  after(async () => {
    await zk.removeRecursive(root);
    zk.close();
    await os.deleteIndex(index);
    await solr.deleteCollection(collection);
  });

  withOptionalServer('opensearch');

  before(async () => {
    zk = await connectZk();
    await solr.createCollection(collection, 2);
    await http('POST', `${stack.solrLegacy}/${collection}/update?wt=json`, `[${EXOTIC}]`);
    await solr.index(collection, [...generateDocs([{ name: 'acme', docs: 40, spanDays: 2 }, { name: 'bolt', docs: 15, spanDays: 1 }], Date.UTC(2025, 5, 2), 9)], true);
    expect(await solr.count(collection)).to.equal(56);
    spec = writeSpec({
      migration: uniqueName('xkos'),
      zookeeper: { connect: stack.zk, root },
      source: { kind: 'solr', url: stack.solrLegacy, collection },
      target: { kind: 'opensearch', url: stack.opensearch, collection: index, prepare: {} },
      slicing: { targetDocsPerSlice: 30 },
      batch: { docs: 20 },
      verify: { gracePeriod: '1s' },
    });
  });

  it('plan --dry-run shows the mapping; plan creates the OpenSearch index with it; every document lands exactly; verify passes', async () => {
    const d = await run(['plan', '--spec', spec, '--dry-run']);
    expect(d.code, d.stderr).to.equal(EXIT.OK);
    expect(d.stdout).to.contain('target mapping (translated from the Solr schema of solr 8.11');
    expect(await os.exists(index)).to.equal(false);
    expect((await run(['plan', '--spec', spec])).code).to.equal(EXIT.OK);
    const created = await os.mapping(index);
    expect(created.properties).to.deep.include({ id: { type: 'keyword' }, customer: { type: 'keyword' }, timestamp: { type: 'date' }, quantity: { type: 'integer' } });
    const w = await run(['work', '--spec', spec]);
    expect(w.code, w.stderr).to.equal(EXIT.OK);
    await http('POST', `${stack.opensearch}/${index}/_refresh`);
    const [src, dst] = await Promise.all([solrAll(stack.solrLegacy, collection), esAll(stack.opensearch, index)]);
    expect(src.size).to.equal(56);
    expect([...dst.keys()].sort()).to.deep.equal([...src.keys()].sort());
    for (const [id, content] of src) {
      expect(dst.get(id), id).to.equal(content);
      expect(numberTokens(dst.get(id)!), id).to.deep.equal(numberTokens(content));
    }
    const after = await os.mapping(index);
    expect(after.properties.big_l).to.deep.equal({ type: 'long' });
    expect(after.properties.when_dt).to.deep.equal({ type: 'date' });
    const v = await run(['verify-integrity', '--spec', spec, '--json']);
    expect(v.code, v.stderr).to.equal(EXIT.OK);
    expect((JSON.parse(v.stdout) as VerifyReport).run.totals).to.include({ missing: 0, extra: 0, different: 0 });
  });

  itCopiesWithLiveWrites('Solr 8 → OpenSearch 3', { kind: 'solr', url: stack.solrLegacy }, { kind: 'opensearch', url: stack.opensearch });
});
