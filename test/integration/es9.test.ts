/**
 * Elasticsearch 9 through the Elasticsearch backend (the v9 client, `es9`, picked by `GET /`), on a
 * real 9.x (optional server: this file starts it, scripts/stack up es9, and stops it after):
 * Elasticsearch 8 → 9 end to end (plan, create-only copy beside live writes, exact documents, number
 * text included, verify --repair) with target.prepare creating and tuning the 9.x index; and
 * Elasticsearch 7.17 → 9, the copy a 9.x cluster needs (it cannot read a 7.x index); each of them, and
 * Solr 8 → 9 (mapping translated from the Solr schema), also with live writes through DualWriter while
 * the copy runs (test/support/liveWrites.ts).
 */
import { expect } from 'chai';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
import { connectZk, stack, uniqueName, versionsSeen, withOptionalServer } from '../support/stack';

const TS = '2025-06-01T10:00:00.000Z';
const none = new Set<string>();

async function http(method: string, url: string, body?: string): Promise<string> {
  const res = await fetch(url, { method, headers: { 'content-type': 'application/json' }, body });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${url}: HTTP ${res.status} ${text.slice(0, 500)}`);
  return text;
}

function numberTokens(text: string): string[] {
  return [...text.matchAll(/"(?:[^"\\]|\\.)*"|(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)/g)].flatMap((m) => (m[1] === undefined ? [] : [m[1]]));
}

/** Every document of an index as stored: id → canonical content of its `_source` text (number text kept). */
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
    return { code: r.code, report, ids: (k: 'missing' | 'extra' | 'different') => report.results.flatMap((x) => x[k]).sort(), stderr: r.stderr };
  };
}

const MAPPINGS = { ...TEST_MAPPING, properties: { ...TEST_MAPPING.properties, raw: { type: 'object', enabled: false }, ratio: { type: 'double' } } };
const EXOTIC = `{"id":"exact-1","customer":"acme","timestamp":"${TS}","title":"caf\\u00e9 \\"q\\" \\ud83d\\ude00","price":1.0,"quantity":9223372036854775807,"ratio":1E+2,`
  + '"raw":{"a":1.0,"b":1E+2,"c":-0.0,"d":1e-400,"e":3.14159265358979323846264338327950288,"g":1e400,"h":-0,"i":9007199254740993,"k":[1.0,[2.50,{"l":1e21}]]}}';
const PROFILES: CustomerProfile[] = [
  { name: 'acme', docs: 1000, spanDays: 20, noTimestamp: 4 },
  { name: 'globex', docs: 250, spanDays: 400 },
  { name: null, docs: 10, spanDays: 30 },
];
const TOTAL = PROFILES.reduce((s, p) => s + p.docs, 0) + 1;

describe('Elasticsearch 9 (optional server, started for this file)', function () {
  this.timeout(300_000);
  withOptionalServer('es9');
  const es9 = new EsAdmin(stack.es9);
  let zk: ZkSession;

  before(async () => {
    zk = await connectZk();
    versionsSeen.set('Elasticsearch 9', await es9.version());
  });
  after(() => zk?.close());

  for (const [from, url] of [['8', stack.esNew], ['7.17', stack.esLegacy]] as const) {
    describe(`Elasticsearch ${from} → 9: plan, work beside live writes, exact documents, verify --repair`, () => {
      const source = new EsAdmin(url);
      const index = uniqueName(`bgtest_es${from.replace('.', '')}to9`);
      const migration = uniqueName('to9');
      const root = `/${uniqueName('bgtest')}`;
      const layout = new Layout(root, migration);
      const generated = [...generateDocs(PROFILES, Date.UTC(2025, 5, 1), 13)];
      const liveIds = ['acme-0000020', 'globex-0000007'];
      const live = (id: string) => ({ _id: id, source: { ...generated.find((d) => d.id === id)!, title: 'LIVE newer content' } });
      /** From 8 the 9.x index is created by target.prepare (tuned for the bulk, restored after); from 7 by hand. */
      const prepared = from === '8';
      let spec = '';
      const verify = verifier(() => spec);

      before(async () => {
        await source.createIndex(index, { settings: { number_of_shards: 2, number_of_replicas: 0 }, mappings: MAPPINGS });
        await http('PUT', `${url}/${index}/_doc/exact-1?refresh=true`, EXOTIC);
        await source.index(index, generated.map((d) => ({ _id: d.id, source: d })));
        let prepare = {};
        if (prepared) {
          await es9.deleteIndex(index);
          const dir = mkdtempSync(join(tmpdir(), 'bg-es9-'));
          writeFileSync(join(dir, 'mappings.json'), JSON.stringify({ mappings: MAPPINGS }));
          writeFileSync(join(dir, 'settings.json'), JSON.stringify({ settings: { number_of_shards: 1, number_of_replicas: 0 } }));
          prepare = { prepare: { mappingsFile: join(dir, 'mappings.json'), settingsFile: join(dir, 'settings.json'), tuneForBulk: true } };
        } else {
          await es9.createIndex(index, { settings: { number_of_shards: 1, number_of_replicas: 0 }, mappings: MAPPINGS });
        }
        spec = writeSpec({
          migration,
          zookeeper: { connect: stack.zk, root },
          source: { kind: 'elasticsearch', url, collection: index },
          target: { kind: 'elasticsearch', url: stack.es9, collection: index, ...prepare },
          slicing: { targetDocsPerSlice: 400 },
          batch: { docs: 100 },
          verify: { gracePeriod: '1s' },
        });
      });
      after(async () => {
        await zk.removeRecursive(root);
        await Promise.all([source.deleteIndex(index), es9.deleteIndex(index)]);
      });

      it('plans every document (and, from 8, target.prepare creates the 9.x index tuned for the bulk)', async () => {
        const r = await run(['plan', '--spec', spec]);
        expect(r.code, r.stderr).to.equal(EXIT.OK);
        expect((await planNode(zk, layout))!.estimate).to.equal(TOTAL);
        expect((await allSlices(zk, layout)).reduce((n, s) => n + s.node.estimate, 0)).to.equal(TOTAL);
        expect(await es9.exists(index)).to.equal(true);
        if (prepared) {
          expect((await es9.mapping(index)).properties.raw).to.deep.equal({ type: 'object', enabled: false });
          expect((await es9.bulkSettings(index)).refresh_interval, 'tuned for the bulk').to.equal('-1');
        }
        // Live writes that reached 9.x before the copy: they must win.
        await es9.index(index, liveIds.map(live));
      });

      it('copies create-only into 9.x, every document exactly as stored', async () => {
        const w = await run(['work', '--spec', spec]);
        expect(w.code, w.stderr).to.equal(EXIT.OK);
        await es9.refresh(index);
        expect(await es9.count(index)).to.equal(TOTAL);
        for (const id of liveIds) expect((await es9.get(index, id))!.source.title, `${id} kept its live content`).to.equal('LIVE newer content');
        const [src, dst] = await Promise.all([exactAll(url, index), exactAll(stack.es9, index)]);
        expect([...src].filter(([id, c]) => !liveIds.includes(id) && dst.get(id) !== c).map(([id]) => id)).to.deep.equal([]);
        const [a, b] = await Promise.all([http('GET', `${url}/${index}/_source/exact-1`), http('GET', `${stack.es9}/${index}/_source/exact-1`)]);
        expect(numberTokens(b)).to.deep.equal(numberTokens(a));
        for (const text of ['"b":1E+2', '"c":-0.0', '"d":1e-400', '"g":1e400', '"quantity":9223372036854775807']) expect(b).to.contain(text);
        if (prepared) expect((await es9.bulkSettings(index)).refresh_interval, 'settings restored after the copy').to.equal(null);
      });

      it('verifies (the live writes differ), repairs a tampered document, and is clean once the source has the live writes', async () => {
        await http('PUT', `${stack.es9}/${index}/_doc/exact-1?refresh=true`, EXOTIC.replace('"a":1.0', '"a":1'));
        const found = await verify();
        expect(found.code, found.stderr).to.equal(EXIT.DIFFERENCES);
        expect(found.ids('different')).to.deep.equal([...liveIds, 'exact-1'].sort());
        await source.index(index, liveIds.map(live));
        const repaired = await verify('--new', '--repair');
        expect(repaired.report.run.totals!.repaired).to.equal(1);
        await es9.refresh(index);
        const clean = await verify('--new');
        expect(clean.code, clean.stderr).to.equal(EXIT.OK);
        expect(numberTokens(await http('GET', `${stack.es9}/${index}/_source/exact-1`))).to.deep.equal(numberTokens(EXOTIC));
      });
    });

    itCopiesWithLiveWrites(`Elasticsearch ${from} → 9`, { kind: 'elasticsearch', url }, { kind: 'elasticsearch', url: stack.es9 });
  }

  describe('Solr 8 → Elasticsearch 9: the target index created by target.prepare with the mapping translated from the Solr schema', () => {
    itCopiesWithLiveWrites('Solr 8 → Elasticsearch 9', { kind: 'solr', url: stack.solrLegacy }, { kind: 'elasticsearch', url: stack.es9 });
  });

  describe('Elasticsearch 9 → 9 (same cluster, a new index): 9.x as the source', () => {
    const oldIndex = uniqueName('bgtest_es9_old');
    const newIndex = uniqueName('bgtest_es9_new');
    const root = `/${uniqueName('bgtest')}`;
    let spec = '';
    const verify = verifier(() => spec);
    before(async () => {
      await es9.createIndex(oldIndex, { settings: { number_of_shards: 2, number_of_replicas: 0 }, mappings: MAPPINGS });
      await es9.createIndex(newIndex, { settings: { number_of_shards: 1, number_of_replicas: 0 }, mappings: MAPPINGS });
      await http('PUT', `${stack.es9}/${oldIndex}/_doc/exact-1?refresh=true`, EXOTIC);
      await es9.index(oldIndex, [...generateDocs(PROFILES, Date.UTC(2025, 5, 1), 17)].map((d) => ({ _id: d.id, source: d })));
      spec = writeSpec({
        migration: uniqueName('es9self'),
        zookeeper: { connect: stack.zk, root },
        source: { kind: 'elasticsearch', url: stack.es9, collection: oldIndex },
        target: { kind: 'elasticsearch', url: stack.es9, collection: newIndex },
        slicing: { targetDocsPerSlice: 400 },
        verify: { gracePeriod: '1s' },
      });
    });
    after(async () => {
      await zk.removeRecursive(root);
      await Promise.all([es9.deleteIndex(oldIndex), es9.deleteIndex(newIndex)]);
    });

    it('plans from 9.x, copies every document exactly, verifies clean', async () => {
      expect((await run(['plan', '--spec', spec])).code).to.equal(EXIT.OK);
      const w = await run(['work', '--spec', spec]);
      expect(w.code, w.stderr).to.equal(EXIT.OK);
      await es9.refresh(newIndex);
      const [src, dst] = await Promise.all([exactAll(stack.es9, oldIndex), exactAll(stack.es9, newIndex)]);
      expect(dst.size).to.equal(TOTAL);
      expect([...src].filter(([id, c]) => dst.get(id) !== c).map(([id]) => id)).to.deep.equal([]);
      const v = await verify();
      expect(v.code, v.stderr).to.equal(EXIT.OK);
    });
  });
});
