/**
 * A source named by an alias of several collections or indices (as time-partitioned clusters often
 * are). Solr: a source named by such an alias.
 * A search through the alias reads every collection behind it, but a real-time get reads only the
 * first: before SolrBackend asked each collection in turn, the live-delete look took every document
 * of the second collection for deleted and took it out of the target again ("skipped", half the
 * documents gone), and verification passed with them missing. Elasticsearch: an mget through an
 * alias of several indices answers every item with an error, which the look counts present, so it
 * never saw a live delete; each id is now asked of every index behind the alias.
 */
import { expect } from 'chai';
import { ElasticsearchBackend } from '../../src/backends/elasticsearch/esBackend';
import { SolrBackend } from '../../src/backends/solr/solrBackend';
import type { Endpoint } from '../../src/config/spec';
import type { ZkSession } from '../../src/coordination/zk';
import { generateDocs } from '../../src/demo/dataset';
import { SolrAdmin } from '../../src/demo/solrAdmin';
import { EXIT } from '../../src/errors';
import { run, verifyJson, writeSpec } from '../support/cli';
import { EsAdmin, TEST_MAPPING } from '../support/esAdmin';
import { connectZk, stack, uniqueName } from '../support/stack';

describe('a Solr source that is an alias of two collections', function () {
  this.timeout(300_000);
  const legacy = new SolrAdmin(stack.solrLegacy);
  const next = new SolrAdmin(stack.solrNew);
  const first = uniqueName('bgtest_alias_a');
  const second = uniqueName('bgtest_alias_b');
  const alias = uniqueName('bgtest_alias');
  const target = uniqueName('bgtest_alias_dst');
  const root = `/${uniqueName('bgtest')}`;
  const docs = [...generateDocs([{ name: 'acme', docs: 300, spanDays: 30 }, { name: 'globex', docs: 100, spanDays: 30 }], Date.UTC(2025, 5, 1), 11)];
  // Every other document into the second collection: both customers and every slice span both.
  const inFirst = docs.filter((_, i) => i % 2 === 0);
  const inSecond = docs.filter((_, i) => i % 2 === 1);
  let zk: ZkSession;
  let spec: string;

  before(async () => {
    zk = await connectZk();
    await Promise.all([legacy.createCollection(first, 1), legacy.createCollection(second, 2), next.createCollection(target, 2)]);
    await legacy.index(first, inFirst, true);
    await legacy.index(second, inSecond, true);
    const r = await fetch(`${stack.solrLegacy}/admin/collections?action=CREATEALIAS&name=${alias}&collections=${first},${second}&wt=json`);
    expect(r.ok, await r.text()).to.equal(true);
    expect(await legacy.count(alias), 'a search through the alias reads both').to.equal(docs.length);
    spec = writeSpec({
      migration: uniqueName('alias'),
      zookeeper: { connect: stack.zk, root },
      source: { kind: 'solr', url: stack.solrLegacy, collection: alias },
      target: { kind: 'solr', url: stack.solrNew, collection: target },
      slicing: { targetDocsPerSlice: 120 },
      batch: { docs: 40 },
      verify: { gracePeriod: '1s' },
    });
  });

  after(async () => {
    await zk.removeRecursive(root);
    zk.close();
    await legacy.deleteAlias(alias);
    await Promise.all([legacy.deleteCollection(first), legacy.deleteCollection(second), next.deleteCollection(target)]);
  });

  it('the look for live deletes finds the documents of every collection behind it, before any commit too', async () => {
    const backend = new SolrBackend({ kind: 'solr', url: stack.solrLegacy, collection: alias, requestTimeout: 60_000 } as unknown as Endpoint, { customer: 'customer', timestamp: 'timestamp', uniqueKey: 'id' }, [], 10_000);
    const ids = docs.map((d) => d.id);
    const look = async (asked: string[]) => [...(await backend.presentIds(asked.map((id) => ({ id }))))].sort();
    expect(await look(ids), 'every document of both collections is there').to.deep.equal([...ids].sort());
    // Not committed: only the second collection's update log knows of the delete (and of the add).
    const gone = inSecond[0].id;
    await legacy.deleteById(second, [gone]);
    await legacy.index(second, [{ ...inSecond[0], id: 'added-late' }]);
    expect(await look([...ids, 'added-late', 'never-there']), 'the one deleted is gone, the one added is there').to.deep.equal([...ids.filter((id) => id !== gone), 'added-late'].sort());
    // Put back as it was for the copy below.
    await legacy.deleteById(second, ['added-late']);
    await legacy.index(second, [inSecond[0]], true);
    const got = await backend.getByIds([inFirst[0].id, inSecond[1].id]);
    expect([...got.keys()].sort(), 'read back by id from either collection').to.deep.equal([inFirst[0].id, inSecond[1].id].sort());
  });

  it('an alias that gains a collection after it was read (as a time-routed alias does): the look finds its documents', async () => {
    const single = uniqueName('bgtest_alias_one');
    const third = uniqueName('bgtest_alias_c');
    const point = async (name: string, collections: string[]) => {
      const r = await fetch(`${stack.solrLegacy}/admin/collections?action=CREATEALIAS&name=${name}&collections=${collections.join(',')}&wt=json`);
      expect(r.ok, await r.text()).to.equal(true);
    };
    await legacy.createCollection(third, 1);
    try {
      await legacy.index(third, [{ ...inFirst[0], id: 'in-third' }]);
      const open = (name: string) => new SolrBackend({ kind: 'solr', url: stack.solrLegacy, collection: name, requestTimeout: 60_000 } as unknown as Endpoint, { customer: 'customer', timestamp: 'timestamp', uniqueKey: 'id' }, [], 10_000);
      const look = async (b: SolrBackend, asked: string[]) => [...(await b.presentIds(asked.map((id) => ({ id }))))].sort();
      // Two collections, read; then a third added behind the backend's back.
      const grown = open(alias);
      expect(await look(grown, [inSecond[2].id])).to.deep.equal([inSecond[2].id]);
      await point(alias, [first, second, third]);
      expect(await look(grown, [inSecond[2].id, 'in-third']), 'the added collection is asked').to.deep.equal(['in-third', inSecond[2].id].sort());
      // One collection, read as such; then a second added.
      await point(single, [first]);
      const one = open(single);
      expect(await look(one, [inFirst[1].id])).to.deep.equal([inFirst[1].id]);
      await point(single, [first, third]);
      expect(await look(one, [inFirst[1].id, 'in-third', 'never-there']), 'an alias of one that became two').to.deep.equal(['in-third', inFirst[1].id].sort());
    } finally {
      await point(alias, [first, second]);
      await legacy.deleteAlias(single);
      await legacy.deleteCollection(third);
    }
  });

  it('copies every document of both collections, and verification misses none (nor passes with one missing)', async () => {
    expect((await run(['plan', '--spec', spec])).code).to.equal(0);
    const w = await run(['work', '--spec', spec, '--http-port', '0']);
    expect(w.code, w.stderr.slice(-2000)).to.equal(EXIT.OK);
    await next.commit(target);
    const copied = await next.all(target);
    expect(copied.size, 'every document copied').to.equal(docs.length);
    for (const d of inSecond) expect(copied.has(d.id), `${d.id} (second collection) copied`).to.equal(true);
    const clean = await verifyJson(spec);
    expect(clean.code, clean.stderr.slice(-2000)).to.equal(EXIT.OK);
    expect(clean.report.run.status).to.equal('passed');
    expect(clean.report.run.totals).to.include({ missing: 0, extra: 0, different: 0 });
    // One document of the second collection taken out of the target: verification must say so.
    const lost = inSecond[5].id;
    await fetch(`${stack.solrNew}/${target}/update?commit=true&wt=json`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ delete: { id: lost } }) });
    const failed = await verifyJson(spec);
    expect(failed.report.run.status, failed.stderr.slice(-2000)).to.equal('failed');
    expect(failed.report.results.flatMap((x) => x.missing)).to.deep.equal([lost]);
  });
});

describe('an Elasticsearch source that is an alias of two indices: the look for live deletes', function () {
  this.timeout(120_000);
  const legacy = new EsAdmin(stack.esLegacy);
  const first = uniqueName('bgtest_esalias_a');
  const second = uniqueName('bgtest_esalias_b');
  const third = uniqueName('bgtest_esalias_c');
  const alias = uniqueName('bgtest_esalias');
  const single = uniqueName('bgtest_esalias_one');
  const addAlias = async (name: string, ...indices: string[]) => {
    const r = await fetch(`${stack.esLegacy}/_aliases`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ actions: indices.map((index) => ({ add: { index, alias: name } })) }) });
    expect(r.ok, await r.text()).to.equal(true);
  };
  const open = (name: string) => new ElasticsearchBackend({ kind: 'elasticsearch', url: stack.esLegacy, collection: name, requestTimeout: 60_000 } as unknown as Endpoint, { customer: 'customer', timestamp: 'timestamp', uniqueKey: 'id' }, { role: 'source' });
  const lookWith = (backend: ElasticsearchBackend) => async (asked: string[]) => [...(await backend.presentIds(asked.map((id) => ({ id }))))].sort();
  const docs = [...generateDocs([{ name: 'acme', docs: 60, spanDays: 30 }], Date.UTC(2025, 5, 1), 12)];

  before(async () => {
    for (const i of [first, second, third]) await legacy.createIndex(i, { settings: { number_of_shards: 1, number_of_replicas: 0 }, mappings: TEST_MAPPING });
    await legacy.index(first, docs.filter((_, i) => i % 2 === 0).map((d) => ({ _id: d.id, source: d })));
    await legacy.index(second, docs.filter((_, i) => i % 2 === 1).map((d) => ({ _id: d.id, source: d })));
    await legacy.index(third, [{ _id: 'in-third', source: { ...docs[0], id: 'in-third' } }]);
    await addAlias(alias, first, second);
  });

  after(async () => {
    await Promise.all([legacy.deleteIndex(first), legacy.deleteIndex(second), legacy.deleteIndex(third)]);
  });

  it('finds the documents of both indices, and not one deleted a moment ago (before any refresh)', async () => {
    const backend = open(alias);
    try {
      const ids = docs.map((d) => d.id);
      const look = lookWith(backend);
      expect(await look([...ids, 'never-there']), 'every document of both indices, and no other').to.deep.equal([...ids].sort());
      // Deleted without a refresh: a search would still find it, a real-time look must not.
      const gone = docs[1].id;
      const d = await fetch(`${stack.esLegacy}/${second}/_doc/${encodeURIComponent(gone)}`, { method: 'DELETE' });
      expect(d.ok, await d.text()).to.equal(true);
      expect(await look(ids), 'the one deleted is gone').to.deep.equal(ids.filter((id) => id !== gone).sort());
    } finally {
      await backend.close();
    }
  });

  it('an alias that gains an index after it was read (as a rollover does): the look finds its documents', async () => {
    const grown = open(alias);
    const one = open(single);
    try {
      const kept = docs[2].id;
      expect(await lookWith(grown)([kept]), 'two indices, read').to.deep.equal([kept]);
      await addAlias(alias, third);
      expect(await lookWith(grown)([kept, 'in-third', 'never-there']), 'the added index is asked').to.deep.equal(['in-third', kept].sort());
      await addAlias(single, first);
      expect(await lookWith(one)([kept, 'never-there']), 'one index, read as such').to.deep.equal([kept]);
      await addAlias(single, third);
      expect(await lookWith(one)([kept, 'in-third', 'never-there']), 'an alias of one that became two').to.deep.equal(['in-third', kept].sort());
    } finally {
      await Promise.all([grown.close(), one.close()]);
    }
  });
});
