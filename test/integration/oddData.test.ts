/**
 * Odd data on the real stack (Solr 8 → Solr 9): time spans of any width (year -500 to 9999, ~1000
 * years, all documents at one millisecond) and nested (child) documents, anonymous and labelled.
 */
import { expect } from 'chai';
import { HttpClient } from '../../src/backends/http';
import { Layout } from '../../src/coordination/layout';
import type { ZkSession } from '../../src/coordination/zk';
import { SolrAdmin } from '../../src/demo/solrAdmin';
import { EXIT } from '../../src/errors';
import type { VerifyReport } from '../../src/verifier/verifier';
import { run, writeSpec } from '../support/cli';
import { EsAdmin, TEST_MAPPING, type EsDocIn } from '../support/esAdmin';
import { allSlices, customerIndex } from '../support/fleet';
import { connectZk, stack, uniqueName } from '../support/stack';

const DAY = 86_400_000;
const iso = (year: number, plusMs = 0) => { const d = new Date(0); d.setUTCFullYear(year, 0, 1); return new Date(d.getTime() + plusMs).toISOString(); };
const http = new HttpClient({ timeoutMs: 60_000, json: 'plain' });

/** A migration between two collections, planned, copied and verified by the real CLI. */
function migration(collection: string, root: string, extra: object = {}) {
  const name = uniqueName('odd');
  const spec = writeSpec({
    migration: name,
    zookeeper: { connect: stack.zk, root },
    source: { kind: 'solr', url: stack.solrLegacy, collection },
    target: { kind: 'solr', url: stack.solrNew, collection },
    slicing: { targetDocsPerSlice: 100 },
    batch: { docs: 50 },
    verify: { gracePeriod: '1s' },
    ...extra,
  });
  const verify = async () => {
    const r = await run(['verify-integrity', '--spec', spec, '--json']);
    expect(r.stdout, r.stderr).to.not.equal('');
    return { code: r.code, report: JSON.parse(r.stdout) as VerifyReport, stderr: r.stderr };
  };
  return { name, spec, layout: new Layout(root, name), verify };
}

/** Every root document with its children, as Solr gives a block back (internal fields dropped). */
async function blocks(base: string, collection: string, rootsFq: string): Promise<Map<string, any>> {
  const r = await http.request('POST', `${base}/${collection}/select`, new URLSearchParams({
    q: '*:*', fq: rootsFq, fl: '*,[child limit=-1]', rows: '10000', sort: 'id asc', wt: 'json',
  }).toString(), 'application/x-www-form-urlencoded');
  const strip = (d: any): any => {
    if (Array.isArray(d)) return d.map(strip);
    if (!d || typeof d !== 'object') return d;
    const out: any = {};
    for (const [k, v] of Object.entries(d)) if (k !== '_version_') out[k] = strip(v);
    return out;
  };
  return new Map(r.response.docs.map((d: any) => [d.id, strip(d)]));
}

describe('odd data: any time span, nested documents (Solr 8 → 9)', function () {
  this.timeout(300_000);
  const legacy = new SolrAdmin(stack.solrLegacy);
  const next = new SolrAdmin(stack.solrNew);
  const root = `/${uniqueName('bgtest_odd')}`;
  const collections: string[] = [];
  const configsets: string[] = [];
  let zk: ZkSession;

  const createPair = async (prefix: string, configSet = 'bluegreen') => {
    const c = uniqueName(prefix);
    collections.push(c);
    await Promise.all([legacy.createCollection(c, 2, configSet), next.createCollection(c, 2, configSet)]);
    return c;
  };

  /** A copy of the bluegreen configset without _nest_path_ (a schema of anonymous `_childDocuments_` blocks). */
  const flatNestConfigset = async () => {
    const name = uniqueName('bgtest_anon');
    configsets.push(name);
    for (const base of [stack.solrLegacy, stack.solrNew]) {
      await http.request('GET', `${base}/admin/configs?action=CREATE&name=${name}&baseConfigSet=bluegreen&wt=json`);
    }
    return name;
  };
  const dropNestPath = async (collection: string) => {
    for (const base of [stack.solrLegacy, stack.solrNew]) {
      await http.request('POST', `${base}/${collection}/schema?wt=json`, JSON.stringify({ 'delete-field': { name: '_nest_path_' } }));
    }
  };

  before(async () => {
    zk = await connectZk();
  });

  after(async () => {
    await zk.removeRecursive(root);
    zk.close();
    for (const c of collections) await Promise.all([legacy.deleteCollection(c), next.deleteCollection(c)]);
    for (const name of configsets) {
      for (const base of [stack.solrLegacy, stack.solrNew]) await http.request('GET', `${base}/admin/configs?action=DELETE&name=${name}&wt=json`).catch(() => undefined);
    }
  });

  it('plans, copies and verifies documents from year -500 to 9999, over ~1000 years, and all at one millisecond', async () => {
    const c = await createPair('bgtest_span');
    const docs: object[] = [];
    // ~1000 years, one document every ~3.3 years, plus both ends of what Solr dates hold here.
    for (let i = 0; i < 300; i++) docs.push({ id: `ages-${String(i).padStart(4, '0')}`, customer: 'ages', timestamp: iso(1025 + Math.floor(i * 1000 / 300), i * 3_600_000) });
    docs.push({ id: 'ages-bc', customer: 'ages', timestamp: iso(-500) }, { id: 'ages-bc2', customer: 'ages', timestamp: iso(-500, 1) });
    docs.push({ id: 'ages-far', customer: 'ages', timestamp: iso(9999, 364 * DAY + 12 * 3_600_000) });
    // One customer whose every document carries the same millisecond.
    for (let i = 0; i < 250; i++) docs.push({ id: `now-${String(i).padStart(4, '0')}`, customer: 'instant', timestamp: '2024-02-29T12:00:00.007Z' });
    // And one mixing a burst with a lone document 800 years away.
    for (let i = 0; i < 150; i++) docs.push({ id: `mix-${String(i).padStart(4, '0')}`, customer: 'mixed', timestamp: '2023-06-01T00:00:00Z' });
    docs.push({ id: 'mix-old', customer: 'mixed', timestamp: iso(1200) });
    await legacy.index(c, docs, true);
    const m = migration(c, root);

    const plan = await run(['plan', '--spec', m.spec]);
    expect(plan.code, plan.stderr).to.equal(0);
    expect(plan.stderr).to.not.match(/Can't add gap/);
    const slices = await allSlices(zk, m.layout);
    expect(slices.reduce((a, s) => a + s.node.estimate, 0)).to.equal(docs.length);
    expect(slices.filter((s) => s.node.customers.includes('ages')).length).to.be.greaterThan(2);

    const w = await run(['work', '--spec', m.spec]);
    expect(w.code, w.stderr).to.equal(0);
    await next.commit(c);
    const copied = [...(await allSlices(zk, m.layout))].reduce((a, s) => a + s.node.counts.written, 0);
    expect(copied).to.equal(docs.length, 'every document written exactly once');
    const [src, dst] = await Promise.all([legacy.all(c, 'id,timestamp'), next.all(c, 'id,timestamp')]);
    expect(dst.size).to.equal(docs.length);
    expect([...dst.entries()]).to.deep.equal([...src.entries()]);

    const v = await m.verify();
    expect(v.code, v.stderr).to.equal(EXIT.OK);
    expect(v.report.run.totals).to.deep.include({ missing: 0, extra: 0, different: 0 });
  });

  it('copies labelled nested documents (several levels) block by block, verifies them, and finds a deleted child', async () => {
    const c = await createPair('bgtest_nest');
    const parents: any[] = [];
    for (let i = 0; i < 60; i++) {
      const id = `p-${String(i).padStart(3, '0')}`;
      parents.push({
        id, customer: 'nest', title: `parent ${i}`, timestamp: new Date(Date.UTC(2024, 0, 1) + i * DAY).toISOString(), price: 1.5 + i,
        comments: Array.from({ length: 1 + (i % 3) }, (_, k) => ({
          id: `${id}-c${k}`, title: `comment ${k}`, quantity: k,
          replies: i % 2 ? [{ id: `${id}-c${k}-r0`, title: 'reply', tags: ['a', 'b'] }] : [],
        })),
        ...(i % 4 === 0 ? { author: { id: `${id}-a`, title: 'author', quantity: i } } : {}),
      });
    }
    const flat = Array.from({ length: 20 }, (_, i) => ({ id: `f-${i}`, customer: 'nest', timestamp: '2024-03-01T00:00:00Z', title: 'flat' }));
    await legacy.index(c, [...parents, ...flat], true);
    const m = migration(c, root, { slicing: { targetDocsPerSlice: 25 } });

    const plan = await run(['plan', '--spec', m.spec]);
    expect(plan.code, plan.stderr).to.equal(0);
    // Planned by roots: children neither inflate the estimates nor appear as customers of their own.
    expect([...(await customerIndex(zk, m.layout)).keys()]).to.deep.equal(['nest']);
    const slices = await allSlices(zk, m.layout);
    expect(slices.reduce((a, s) => a + s.node.estimate, 0)).to.equal(parents.length + flat.length);
    expect(slices.length).to.be.greaterThan(3);

    const w = await run(['work', '--spec', m.spec]);
    expect(w.code, w.stderr).to.equal(0);
    await next.commit(c);
    const roots = '(*:* -_nest_path_:*)';
    const [src, dst] = await Promise.all([blocks(stack.solrLegacy, c, roots), blocks(stack.solrNew, c, roots)]);
    expect(dst.size).to.equal(parents.length + flat.length);
    expect([...dst.entries()]).to.deep.equal([...src.entries()]);
    expect(dst.get('p-001').comments[0].replies[0]).to.deep.include({ id: 'p-001-c0-r0', title: 'reply', tags: ['a', 'b'] });
    // The children arrived as children (one block each), not as documents of their own.
    expect(await next.count(c)).to.equal(await legacy.count(c));
    expect(await next.count(c, '_nest_path_:*')).to.equal(await legacy.count(c, '_nest_path_:*'));

    const v = await m.verify();
    expect(v.code, v.stderr).to.equal(EXIT.OK);
    expect(v.report.run.totals).to.deep.include({ missing: 0, extra: 0, different: 0 });

    // One child gone from the target: its parent is different (the child never counts on its own).
    // By query: a delete by id is routed on the child's own id, to a shard that may not hold its block.
    await http.request('POST', `${stack.solrNew}/${c}/update?commit=true&wt=json`, JSON.stringify({ delete: { query: 'id:p-007-c1-r0' } }));
    expect(await next.count(c)).to.equal((await legacy.count(c)) - 1);
    const after = await m.verify();
    expect(after.code, after.stderr).to.equal(EXIT.DIFFERENCES);
    expect(after.report.results.flatMap((r) => r.different)).to.deep.equal(['p-007']);
    expect(after.report.run.totals).to.deep.include({ missing: 0, extra: 0, different: 1 });
  });

  it('copies anonymous _childDocuments_ blocks (schema without _nest_path_) and verifies them', async () => {
    const set = await flatNestConfigset();
    const c = await createPair('bgtest_anon', set);
    await dropNestPath(c);
    const parents = Array.from({ length: 40 }, (_, i) => ({
      id: `a-${String(i).padStart(3, '0')}`, customer: 'anon', timestamp: new Date(Date.UTC(2023, 0, 1) + i * DAY).toISOString(), title: `p${i}`,
      _childDocuments_: Array.from({ length: 1 + (i % 4) }, (_, k) => ({
        id: `a-${i}-k${k}`, title: `kid ${k}`,
        ...(k === 0 ? { _childDocuments_: [{ id: `a-${i}-k0-g`, title: 'grandchild' }] } : {}),
      })),
    }));
    await legacy.index(c, parents, true);
    const m = migration(c, root);
    const plan = await run(['plan', '--spec', m.spec]);
    expect(plan.code, plan.stderr).to.equal(0);
    expect((await allSlices(zk, m.layout)).reduce((a, s) => a + s.node.estimate, 0)).to.equal(parents.length);
    const w = await run(['work', '--spec', m.spec]);
    expect(w.code, w.stderr).to.equal(0);
    await next.commit(c);
    const roots = '{!join from=_root_ to=id}*:*';
    const [src, dst] = await Promise.all([blocks(stack.solrLegacy, c, roots), blocks(stack.solrNew, c, roots)]);
    expect(dst.size).to.equal(parents.length);
    expect([...dst.entries()]).to.deep.equal([...src.entries()]);
    expect(dst.get('a-003')._childDocuments_.map((k: any) => k.id).sort()).to.deep.equal(['a-3-k0', 'a-3-k0-g', 'a-3-k1', 'a-3-k2', 'a-3-k3']);
    expect(await next.count(c)).to.equal(await legacy.count(c));
    const v = await m.verify();
    expect(v.code, v.stderr).to.equal(EXIT.OK);
    expect(v.report.run.totals).to.deep.include({ missing: 0, extra: 0, different: 0 });
  });

  it('refuses at plan time (exit 2, nothing written) a target whose schema would read the children as documents', async () => {
    const set = await flatNestConfigset();
    const c = uniqueName('bgtest_refuse');
    collections.push(c);
    // Source: anonymous blocks (no _nest_path_); target: the bluegreen schema, which has _nest_path_.
    await Promise.all([legacy.createCollection(c, 2, set), next.createCollection(c)]);
    await http.request('POST', `${stack.solrLegacy}/${c}/schema?wt=json`, JSON.stringify({ 'delete-field': { name: '_nest_path_' } }));
    await legacy.index(c, [{ id: 'r1', customer: 'x', timestamp: '2024-01-01T00:00:00Z', _childDocuments_: [{ id: 'r1-k', title: 'k' }] }], true);
    const m = migration(c, root);
    const r = await run(['plan', '--spec', m.spec]);
    expect(r.code, r.stderr).to.equal(EXIT.USAGE);
    expect(r.stderr).to.match(/nested \(child\) document[\s\S]*_nest_path_/);
    expect(Boolean(await zk.exists(m.layout.base)), 'nothing written to ZooKeeper').to.equal(false);
    expect(await next.count(c)).to.equal(0);
  });
});

describe('odd data: any time span (Elasticsearch 7 → 8)', function () {
  this.timeout(300_000);
  const legacy = new EsAdmin(stack.esLegacy);
  const next = new EsAdmin(stack.esNew);
  const index = uniqueName('bgtest_span');
  const root = `/${uniqueName('bgtest_odd')}`;
  let zk: ZkSession;

  before(async () => {
    zk = await connectZk();
    await legacy.createIndex(index, { settings: { number_of_shards: 2, number_of_replicas: 0 }, mappings: TEST_MAPPING });
    await next.createIndex(index, { settings: { number_of_shards: 2, number_of_replicas: 0 }, mappings: TEST_MAPPING });
  });

  after(async () => {
    await zk.removeRecursive(root);
    zk.close();
    await Promise.all([legacy.deleteIndex(index), next.deleteIndex(index)]);
  });

  it('plans, copies and verifies ~1000 years, year 1000 to 9999, and a one-millisecond customer', async () => {
    const docs: EsDocIn[] = [];
    const add = (id: string, customer: string, timestamp: string) => docs.push({ _id: id, source: { id, customer, timestamp } });
    for (let i = 0; i < 300; i++) add(`ages-${String(i).padStart(4, '0')}`, 'ages', iso(1025 + Math.floor(i * 1000 / 300), i * 3_600_000));
    add('ages-first', 'ages', iso(1000));
    add('ages-far', 'ages', iso(9999, 364 * DAY));
    for (let i = 0; i < 250; i++) add(`now-${String(i).padStart(4, '0')}`, 'instant', '2024-02-29T12:00:00.007Z');
    await legacy.index(index, docs);
    const m = migration(index, root, {
      source: { kind: 'elasticsearch', url: stack.esLegacy, collection: index },
      target: { kind: 'elasticsearch', url: stack.esNew, collection: index },
    });
    const plan = await run(['plan', '--spec', m.spec]);
    expect(plan.code, plan.stderr).to.equal(0);
    const slices = await allSlices(zk, m.layout);
    expect(slices.reduce((a, s) => a + s.node.estimate, 0)).to.equal(docs.length);
    const w = await run(['work', '--spec', m.spec]);
    expect(w.code, w.stderr).to.equal(0);
    expect((await allSlices(zk, m.layout)).reduce((a, s) => a + s.node.counts.written, 0)).to.equal(docs.length);
    await next.refresh(index);
    const [src, dst] = await Promise.all([legacy.all(index), next.all(index)]);
    expect(dst.size).to.equal(docs.length);
    for (const [id, d] of src) expect(dst.get(id)?.source, id).to.deep.equal(d.source);
    const v = await m.verify();
    expect(v.code, v.stderr).to.equal(EXIT.OK);
    expect(v.report.run.totals).to.deep.include({ missing: 0, extra: 0, different: 0 });
  });
});
