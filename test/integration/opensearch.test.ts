/**
 * `kind: opensearch` on a real OpenSearch (optional server: this file starts it, scripts/stack up
 * opensearch, and stops it after): Elasticsearch 7 → OpenSearch 3 end to end (plan by aggregations,
 * create-only copy beside live writes, documents exactly as stored, number text included, verify);
 * OpenSearch → OpenSearch (same cluster, old index → new index: planning from OpenSearch, verify
 * --repair, cutover with the read alias and back); OpenSearch → Elasticsearch 8; OpenSearch 2 → 3
 * (a 2.x server started beside the 3.x one for that block); and a kind that names the other distribution.
 * Elasticsearch 7 → OpenSearch, Elasticsearch 8 → OpenSearch and OpenSearch 2 → 3 also with live writes
 * through DualWriter while the copy runs (test/support/liveWrites.ts).
 */
import { expect } from 'chai';
import { exactJson } from '../../src/backends/exactJson';
import { Layout } from '../../src/coordination/layout';
import type { ZkSession } from '../../src/coordination/zk';
import { generateDocs, type CustomerProfile } from '../../src/demo/dataset';
import { EXIT } from '../../src/errors';
import { canonicalContent } from '../../src/verifier/diff';
import type { VerifyReport } from '../../src/verifier/verifier';
import { run, writeSpec } from '../support/cli';
import { EsAdmin, TEST_MAPPING } from '../support/esAdmin';
import { allSlices, planNode } from '../support/fleet';
import { itCopiesWithLiveWrites } from '../support/liveWrites';
import { esSnapshot, zkSnapshot } from '../support/snapshot';
import { connectZk, stack, uniqueName, versionsSeen, withOptionalServer } from '../support/stack';

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

/** Every document of an index as stored: id → the `_source` text's canonical content (exactJson: number text kept). */
async function exactAll(url: string, index: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  let res = exactJson.parse(await http('POST', `${url}/${index}/_search?scroll=1m`, JSON.stringify({ size: 1000, sort: ['_doc'] }))) as any;
  while (res.hits.hits.length) {
    for (const h of res.hits.hits) out.set(String(h._id), canonicalContent(h._source, none));
    res = exactJson.parse(await http('POST', `${url}/_search/scroll`, JSON.stringify({ scroll: '1m', scroll_id: res._scroll_id })));
  }
  await http('DELETE', `${url}/_search/scroll`, JSON.stringify({ scroll_id: res._scroll_id }));
  return out;
}

function verifier(spec: () => string) {
  return async (...flags: string[]) => {
    const r = await run(['verify-integrity', '--spec', spec(), '--json', ...flags]);
    expect(r.stdout, r.stderr).to.not.equal('');
    const report = JSON.parse(r.stdout) as VerifyReport;
    const ids = (kind: 'missing' | 'extra' | 'different') => report.results.flatMap((x) => x[kind]).sort();
    return { code: r.code, report, ids, stderr: r.stderr };
  };
}

const MAPPINGS = {
  ...TEST_MAPPING,
  properties: {
    ...TEST_MAPPING.properties,
    // Kept in _source, not indexed: numbers no field type would take (1e400) travel too.
    raw: { type: 'object', enabled: false },
    ratio: { type: 'double' },
  },
};
const EXOTIC = `{"id":"exact-1","customer":"acme","timestamp":"${TS}","title":"caf\\u00e9 \\"quoted\\" \\\\ \\n \\u2028 \\ud83d\\ude00 ü",`
  + '"price":1.0,"quantity":9223372036854775807,"ratio":1E+2,'
  + '"raw":{"a":1.0,"b":1E+2,"c":-0.0,"d":1e-400,"e":3.14159265358979323846264338327950288,"f":0.10000000000000000555,"g":1e400,'
  + '"h":-0,"i":9007199254740993,"j":-9223372036854775808,"k":[1.0,[2.50,{"l":1e21,"m":0.0000001}],-1.5E-7]},"tags":["1.0","2"]}';

describe('OpenSearch (kind: opensearch; optional server, started for this file)', function () {
  this.timeout(300_000);
  withOptionalServer('opensearch');
  const os = new EsAdmin(stack.opensearch);
  const legacy = new EsAdmin(stack.esLegacy);
  let zk: ZkSession;

  before(async () => {
    zk = await connectZk();
    versionsSeen.set('OpenSearch', await os.version());
  });
  after(() => zk?.close());

  describe('Elasticsearch 7 → OpenSearch: plan, work beside live writes, exact documents, verify', () => {
    const PROFILES: CustomerProfile[] = [
      { name: 'acme', docs: 1200, spanDays: 20, noTimestamp: 5 },
      { name: 'globex', docs: 300, spanDays: 400 },
      { name: null, docs: 20, spanDays: 30 },
    ];
    const TOTAL = PROFILES.reduce((s, p) => s + p.docs, 0) + 1;
    const index = uniqueName('bgtest_es2os');
    const migration = uniqueName('es2os');
    const root = `/${uniqueName('bgtest')}`;
    const layout = new Layout(root, migration);
    const liveIds = ['acme-0000010', 'globex-0000042'];
    const routingOf = (id: string) => (id.startsWith('acme-') && Number(id.slice(-7)) % 50 === 0 ? `r${Number(id.slice(-7)) % 3}` : undefined);
    let spec = '';
    const verify = verifier(() => spec);
    const generated = [...generateDocs(PROFILES, Date.UTC(2025, 5, 1), 11)];
    /** The application's newer version of a document (same customer and timestamp, new title). */
    const live = (id: string) => ({ _id: id, source: { ...generated.find((d) => d.id === id)!, title: 'LIVE newer content' } });

    before(async () => {
      await legacy.createIndex(index, { settings: { number_of_shards: 2, number_of_replicas: 0 }, mappings: MAPPINGS });
      await os.createIndex(index, { settings: { number_of_shards: 2, number_of_replicas: 0 }, mappings: MAPPINGS });
      await http('PUT', `${stack.esLegacy}/${index}/_doc/exact-1?refresh=true`, EXOTIC);
      await legacy.index(index, generated.map((d) => ({ _id: d.id, source: d, routing: routingOf(d.id) })));
      // Live writes that reached OpenSearch before the copy, with newer content: they must win.
      await os.index(index, liveIds.map(live));
      spec = writeSpec({
        migration,
        zookeeper: { connect: stack.zk, root },
        source: { kind: 'elasticsearch', url: stack.esLegacy, collection: index },
        target: { kind: 'opensearch', url: stack.opensearch, collection: index },
        slicing: { targetDocsPerSlice: 400 },
        batch: { docs: 100 },
        verify: { gracePeriod: '1s' },
      });
    });
    after(async () => {
      await zk.removeRecursive(root);
      await Promise.all([legacy.deleteIndex(index), os.deleteIndex(index)]);
    });

    it('plans every document into slices (Elasticsearch aggregations)', async () => {
      const r = await run(['plan', '--spec', spec]);
      expect(r.code, r.stderr).to.equal(EXIT.OK);
      const plan = (await planNode(zk, layout))!;
      expect(plan.estimate).to.equal(TOTAL);
      const slices = await allSlices(zk, layout);
      expect(slices.length).to.be.greaterThan(3);
      expect(slices.reduce((n, s) => n + s.node.estimate, 0)).to.equal(TOTAL);
    });

    it('copies create-only into OpenSearch: every document exactly as stored, routing kept, live writes not overwritten', async () => {
      const w = await run(['work', '--spec', spec]);
      expect(w.code, w.stderr).to.equal(EXIT.OK);
      expect(w.stderr).to.not.match(/"level":50/);
      await os.refresh(index);
      expect(await os.count(index)).to.equal(TOTAL);
      for (const id of liveIds) expect((await os.get(index, id))!.source.title, `${id} kept its live content`).to.equal('LIVE newer content');
      const [src, dst] = await Promise.all([exactAll(stack.esLegacy, index), exactAll(stack.opensearch, index)]);
      expect(src.size).to.equal(TOTAL);
      const wrong = [...src].filter(([id, content]) => !liveIds.includes(id) && dst.get(id) !== content).map(([id]) => id);
      expect(wrong, 'documents whose content differs (number text included)').to.deep.equal([]);
      // The exotic one, as text: every number token as stored.
      const [a, b] = await Promise.all([http('GET', `${stack.esLegacy}/${index}/_source/exact-1`), http('GET', `${stack.opensearch}/${index}/_source/exact-1`)]);
      expect(numberTokens(b)).to.deep.equal(numberTokens(a));
      for (const text of ['"b":1E+2', '"c":-0.0', '"d":1e-400', '"e":3.14159265358979323846264338327950288', '"g":1e400', '"h":-0', '"quantity":9223372036854775807']) {
        expect(b).to.contain(text);
      }
      const routed = [...src.keys()].filter((id) => routingOf(id)).slice(0, 5);
      expect(routed).to.have.length(5);
      for (const id of routed) expect((await os.get(index, id, routingOf(id)))?.routing, id).to.equal(routingOf(id));
    });

    it('verifies: the live writes are the only differences, and clean once the application wrote them to the source too', async () => {
      const first = await verify();
      expect(first.code, first.stderr).to.equal(EXIT.DIFFERENCES);
      expect(first.ids('different')).to.deep.equal([...liveIds].sort());
      expect(first.ids('missing')).to.deep.equal([]);
      // The dual write's other half: the same content lands on the source.
      await legacy.index(index, liveIds.map(live));
      const clean = await verify('--new');
      expect(clean.code, clean.stderr).to.equal(EXIT.OK);
      expect(clean.report.run.totals!.different).to.equal(0);
    });

    itCopiesWithLiveWrites('Elasticsearch 7 → OpenSearch 3', { kind: 'elasticsearch', url: stack.esLegacy }, { kind: 'opensearch', url: stack.opensearch });
    // Elasticsearch 8 → OpenSearch: the same, from the 8.x cluster of the default stack.
    itCopiesWithLiveWrites('Elasticsearch 8 → OpenSearch 3', { kind: 'elasticsearch', url: stack.esNew }, { kind: 'opensearch', url: stack.opensearch });
  });

  describe('OpenSearch → OpenSearch (same cluster): verify --repair, cutover with the read alias', () => {
    const oldIndex = uniqueName('bgtest_os_old');
    const newIndex = uniqueName('bgtest_os_new');
    const alias = uniqueName('bgtest_os_read');
    const root = `/${uniqueName('bgtest')}`;
    const migration = uniqueName('os2os');
    const layout = new Layout(root, migration);
    let spec = '';
    const verify = verifier(() => spec);
    const docs = [...generateDocs([{ name: 'acme', docs: 600, spanDays: 20 }, { name: 'globex', docs: 150, spanDays: 300, noTimestamp: 3 }], Date.UTC(2025, 0, 1), 4)];

    before(async () => {
      await os.createIndex(oldIndex, { settings: { number_of_shards: 2, number_of_replicas: 0 }, mappings: MAPPINGS });
      await os.createIndex(newIndex, { settings: { number_of_shards: 1, number_of_replicas: 0 }, mappings: MAPPINGS });
      await http('PUT', `${stack.opensearch}/${oldIndex}/_doc/exact-1?refresh=true`, EXOTIC);
      await os.index(oldIndex, docs.map((d, i) => ({ _id: d.id, source: d, ...(i % 50 === 0 ? { routing: `r${i % 3}` } : {}) })));
      await os.putAlias(oldIndex, alias); // the application reads through the alias
      spec = writeSpec({
        migration,
        zookeeper: { connect: stack.zk, root },
        source: { kind: 'opensearch', url: stack.opensearch, collection: oldIndex },
        target: { kind: 'opensearch', url: stack.opensearch, collection: newIndex },
        slicing: { targetDocsPerSlice: 250 },
        verify: { gracePeriod: '1s' },
        cutover: { readAlias: alias },
      });
    });
    after(async () => {
      await zk.removeRecursive(root);
      await Promise.all([os.deleteIndex(oldIndex), os.deleteIndex(newIndex)]);
    });

    it('plans from OpenSearch and copies every document exactly', async () => {
      const p = await run(['plan', '--spec', spec]);
      expect(p.code, p.stderr).to.equal(EXIT.OK);
      // OpenSearch's aggregations count exactly: the estimates add up to every document.
      expect((await planNode(zk, layout))!.estimate).to.equal(docs.length + 1);
      const w = await run(['work', '--spec', spec]);
      expect(w.code, w.stderr).to.equal(EXIT.OK);
      await os.refresh(newIndex);
      const [src, dst] = await Promise.all([exactAll(stack.opensearch, oldIndex), exactAll(stack.opensearch, newIndex)]);
      expect(src.size).to.equal(docs.length + 1);
      expect(dst.size).to.equal(src.size);
      expect([...src].filter(([id, c]) => dst.get(id) !== c).map(([id]) => id)).to.deep.equal([]);
    });

    it('verifies clean, reports deleted, added and altered documents exactly, and repairs them', async () => {
      const clean = await verify();
      expect(clean.code, clean.stderr).to.equal(EXIT.OK);
      const routed = docs[50];
      await os.deleteDoc(newIndex, docs[3].id);
      await os.deleteDoc(newIndex, routed.id, 'r2');
      const altered = docs[10];
      await os.index(newIndex, [{ _id: altered.id, source: { ...altered, title: 'tampered' } }, { _id: 'zz-extra', source: { ...docs[11], id: 'zz-extra' } }]);
      await http('PUT', `${stack.opensearch}/${newIndex}/_doc/exact-1?refresh=true`, EXOTIC.replace('"a":1.0', '"a":1'));

      const found = await verify('--new');
      expect(found.code).to.equal(EXIT.DIFFERENCES);
      expect(found.ids('missing')).to.deep.equal([docs[3].id, routed.id].sort());
      expect(found.ids('extra')).to.deep.equal(['zz-extra']);
      expect(found.ids('different')).to.deep.equal([altered.id, 'exact-1'].sort());

      const refused = await run(['cutover', '--spec', spec, '--to', 'new']);
      expect(refused.code).to.equal(EXIT.USAGE);
      expect(await os.aliasTargets(alias)).to.deep.equal([oldIndex]);

      const repaired = await verify('--new', '--repair');
      expect(repaired.report.run.totals!.repaired).to.equal(5);
      await os.refresh(newIndex);
      const again = await verify('--only-failed');
      expect(again.code, again.stderr).to.equal(EXIT.OK);
      expect((await os.get(newIndex, routed.id, 'r2'))?.routing, 'restored with its routing').to.equal('r2');
      expect((await os.get(newIndex, altered.id))?.source.title).to.equal(altered.title);
      expect(await os.get(newIndex, 'zz-extra')).to.equal(null);
      expect(numberTokens(await http('GET', `${stack.opensearch}/${newIndex}/_source/exact-1`))).to.deep.equal(numberTokens(EXOTIC));
    });

    it('cutover moves the read alias to the new index in one step; rollback moves it back', async () => {
      const r = await run(['cutover', '--spec', spec, '--to', 'new']);
      expect(r.code, r.stderr).to.equal(EXIT.OK);
      expect(await os.aliasTargets(alias)).to.deep.equal([newIndex]);
      const back = await run(['cutover', '--spec', spec, '--to', 'legacy']);
      expect(back.code, back.stderr).to.equal(EXIT.OK);
      expect(await os.aliasTargets(alias)).to.deep.equal([oldIndex]);
      expect(await os.count(oldIndex), 'the old index is untouched').to.equal(docs.length + 1);
    });
  });

  describe('OpenSearch → Elasticsearch 8: OpenSearch as the source of another distribution', () => {
    const next = new EsAdmin(stack.esNew);
    const index = uniqueName('bgtest_os2es');
    const root = `/${uniqueName('bgtest')}`;
    let spec = '';
    const verify = verifier(() => spec);
    const docs = [...generateDocs([{ name: 'acme', docs: 400, spanDays: 10 }, { name: null, docs: 10, spanDays: 5 }], Date.UTC(2025, 2, 1), 9)];
    before(async () => {
      await os.createIndex(index, { settings: { number_of_shards: 2, number_of_replicas: 0 }, mappings: MAPPINGS });
      await next.createIndex(index, { settings: { number_of_shards: 1, number_of_replicas: 0 }, mappings: MAPPINGS });
      await http('PUT', `${stack.opensearch}/${index}/_doc/exact-1?refresh=true`, EXOTIC);
      await os.index(index, docs.map((d) => ({ _id: d.id, source: d })));
      spec = writeSpec({
        migration: uniqueName('os2es'),
        zookeeper: { connect: stack.zk, root },
        source: { kind: 'opensearch', url: stack.opensearch, collection: index },
        target: { kind: 'elasticsearch', url: stack.esNew, collection: index },
        verify: { gracePeriod: '1s' },
      });
    });
    after(async () => {
      await zk.removeRecursive(root);
      await Promise.all([os.deleteIndex(index), next.deleteIndex(index)]);
    });

    it('plans, copies every document exactly and verifies clean', async () => {
      expect((await run(['plan', '--spec', spec])).code).to.equal(EXIT.OK);
      const w = await run(['work', '--spec', spec]);
      expect(w.code, w.stderr).to.equal(EXIT.OK);
      await next.refresh(index);
      const [src, dst] = await Promise.all([exactAll(stack.opensearch, index), exactAll(stack.esNew, index)]);
      expect(dst.size).to.equal(docs.length + 1);
      expect([...src].filter(([id, c]) => dst.get(id) !== c).map(([id]) => id)).to.deep.equal([]);
      const v = await verify();
      expect(v.code, v.stderr).to.equal(EXIT.OK);
    });
  });

  describe('OpenSearch 2 → OpenSearch 3 (opensearch2 started beside it for this block): plan, work, exact documents, verify, cutover', () => {
    const os2 = new EsAdmin(stack.opensearch2);
    const index = uniqueName('bgtest_os2to3');
    const alias = uniqueName('bgtest_os2to3_read');
    const migration = uniqueName('os2to3');
    const root = `/${uniqueName('bgtest')}`;
    // Hooks run in the order they are registered: the clean-up before the 2.x server stops, its start before the set-up.
    after(async () => {
      await zk.removeRecursive(root);
      await Promise.all([os2.deleteIndex(index), os.deleteIndex(index)]);
    });
    withOptionalServer('opensearch2');
    const layout = new Layout(root, migration);
    let spec = '';
    const verify = verifier(() => spec);
    const docs = [...generateDocs([{ name: 'acme', docs: 800, spanDays: 30, noTimestamp: 2 }, { name: 'globex', docs: 120, spanDays: 200 }], Date.UTC(2025, 3, 1), 21)];
    const liveId = docs[5].id;

    before(async () => {
      const v2 = await os2.version();
      versionsSeen.set('OpenSearch 2', v2);
      expect(v2, 'the opensearch2 server is a 2.x').to.match(/^2\./);
      await os2.createIndex(index, { settings: { number_of_shards: 2, number_of_replicas: 0 }, mappings: MAPPINGS });
      await os.createIndex(index, { settings: { number_of_shards: 1, number_of_replicas: 0 }, mappings: MAPPINGS });
      await http('PUT', `${stack.opensearch2}/${index}/_doc/exact-1?refresh=true`, EXOTIC);
      await os2.index(index, docs.map((d) => ({ _id: d.id, source: d })));
      await os.index(index, [{ _id: liveId, source: { ...docs[5], title: 'LIVE newer content' } }]);
      spec = writeSpec({
        migration,
        zookeeper: { connect: stack.zk, root },
        source: { kind: 'opensearch', url: stack.opensearch2, collection: index },
        target: { kind: 'opensearch', url: stack.opensearch, collection: index },
        slicing: { targetDocsPerSlice: 300 },
        verify: { gracePeriod: '1s' },
        cutover: { readAlias: alias },
      });
    });

    it('plans from 2.x, copies create-only into 3.x with every document exactly as stored', async () => {
      const p = await run(['plan', '--spec', spec]);
      expect(p.code, p.stderr).to.equal(EXIT.OK);
      expect((await planNode(zk, layout))!.estimate).to.equal(docs.length + 1);
      const w = await run(['work', '--spec', spec]);
      expect(w.code, w.stderr).to.equal(EXIT.OK);
      await os.refresh(index);
      expect((await os.get(index, liveId))!.source.title, 'the live write won').to.equal('LIVE newer content');
      const [src, dst] = await Promise.all([exactAll(stack.opensearch2, index), exactAll(stack.opensearch, index)]);
      expect(dst.size).to.equal(docs.length + 1);
      expect([...src].filter(([id, c]) => id !== liveId && dst.get(id) !== c).map(([id]) => id)).to.deep.equal([]);
    });

    it('verifies (the live write differs until the source has it too), then cuts over with the read alias on 3.x', async () => {
      const first = await verify();
      expect(first.code, first.stderr).to.equal(EXIT.DIFFERENCES);
      expect(first.ids('different')).to.deep.equal([liveId]);
      await os2.index(index, [{ _id: liveId, source: { ...docs[5], title: 'LIVE newer content' } }]);
      const clean = await verify('--new');
      expect(clean.code, clean.stderr).to.equal(EXIT.OK);
      const c = await run(['cutover', '--spec', spec, '--to', 'new']);
      expect(c.code, c.stderr).to.equal(EXIT.OK);
      expect(await os.aliasTargets(alias)).to.deep.equal([index]);
      expect(await os2.aliasTargets(alias), 'the source is not written').to.deep.equal([]);
    });

    itCopiesWithLiveWrites('OpenSearch 2 → OpenSearch 3', { kind: 'opensearch', url: stack.opensearch2 }, { kind: 'opensearch', url: stack.opensearch });
  });

  describe('bad input: a kind that names the other distribution', () => {
    const index = uniqueName('bgtest_os_bad');
    const root = `/${uniqueName('bgtest')}`;
    const doc = { id: 'x1', customer: 'c', timestamp: '2024-01-01T00:00:00Z', title: 't' };
    const snapshot = async () => ({ zk: await zkSnapshot(zk), legacy: await esSnapshot(stack.esLegacy), os: await esSnapshot(stack.opensearch) });

    before(async () => {
      await Promise.all([legacy.createIndex(index, { mappings: TEST_MAPPING }), os.createIndex(index, { mappings: TEST_MAPPING })]);
      await Promise.all([legacy.index(index, [{ _id: 'x1', source: doc }]), os.index(index, [{ _id: 'x1', source: doc }])]);
    });
    after(async () => {
      await zk.removeRecursive(root);
      await Promise.all([legacy.deleteIndex(index), os.deleteIndex(index)]);
    });

    async function expectRefused(source: object, target: object, message: RegExp) {
      const before = await snapshot();
      const r = await run(['plan', '--spec', writeSpec({ migration: 'bad', zookeeper: { connect: stack.zk, root }, source, target })]);
      expect(r.code, r.stderr).to.equal(EXIT.USAGE);
      expect(r.stderr).to.match(message);
      expect(r.stderr).to.match(/what to do: Set kind: /);
      expect(r.stderr, 'no stack trace for an operator error').not.to.match(/\n\s+at /);
      expect(await zk.exists(root), 'nothing written to ZooKeeper').to.equal(null);
      expect(await snapshot(), 'ZooKeeper and both clusters exactly as they were').to.deep.equal(before);
    }

    it('kind: opensearch at an Elasticsearch URL (the target)', () =>
      expectRefused({ kind: 'opensearch', url: stack.opensearch, collection: index }, { kind: 'opensearch', url: stack.esLegacy, collection: index },
        /is Elasticsearch 7\.\d+\.\d+, not OpenSearch \(the spec says kind: opensearch\)/));

    it('kind: elasticsearch at an OpenSearch URL (the source)', () =>
      expectRefused({ kind: 'elasticsearch', url: stack.opensearch, collection: index }, { kind: 'elasticsearch', url: stack.esLegacy, collection: `${index}_t` },
        /is OpenSearch \d+\.\d+\.\d+, not Elasticsearch \(the spec says kind: elasticsearch\)/));
  });
});
