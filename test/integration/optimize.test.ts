/**
 * target.optimize (issue 15, seed 004): after the copy, the target's segments are merged so the deleted
 * documents that live updates and re-copied pages leave behind are gone — once, by one worker, recorded
 * in ZooKeeper. On real servers: Solr 8 → 9 and Elasticsearch 7 → 8.
 */
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { openBackend } from '../../src/backends';
import { loadSpec } from '../../src/config/spec';
import { generateDocs } from '../../src/demo/dataset';
import { SolrAdmin } from '../../src/demo/solrAdmin';
import { Layout } from '../../src/coordination/layout';
import type { ZkSession } from '../../src/coordination/zk';
import { EXIT } from '../../src/errors';
import { run, writeSpec } from '../support/cli';
import { EsAdmin, TEST_MAPPING } from '../support/esAdmin';
import { connectZk, stack, uniqueName } from '../support/stack';

describe('target.optimize: the target merged after the copy, once', function () {
  this.timeout(300_000);
  const root = `/${uniqueName('bgtest')}`;
  let zk: ZkSession;
  before(async () => {
    zk = await connectZk();
  });
  after(async () => {
    await zk.removeRecursive(root);
    zk.close();
  });

  const docs = [...generateDocs([{ name: 'a', docs: 600, spanDays: 20 }, { name: 'b', docs: 300, spanDays: 200 }], Date.UTC(2025, 0, 1), 9)];
  // Documents that reached the target before the copy (the first 300), of which 120 were updated by the
  // application twice: each update leaves a deleted document behind in a segment that keeps live ones.
  const early = docs.slice(0, 300);
  const live = docs.slice(0, 120);

  it('Solr: the copy skips the live writes, then one worker merges each shard to one segment, deletes gone, and records it; a second run leaves it', async () => {
    const legacy = new SolrAdmin(stack.solrLegacy);
    const next = new SolrAdmin(stack.solrNew);
    const collection = uniqueName('bgtest_opt');
    await Promise.all([legacy.createCollection(collection, 2), next.createCollection(collection, 2)]);
    // Documents of ~10 KB: the segment the early ones make is above Lucene's floor size, so Solr does not
    // merge it away at the next commit, and the updates' deletes stay in it until an optimization.
    // (Random text: repeated words would compress to nothing.)
    const bodies = new Map(docs.map((d) => [d.id, randomBytes(7500).toString('base64')]));
    const big = <T extends { id: string }>(d: T) => ({ ...d, body: bodies.get(d.id)! });
    try {
      await legacy.index(collection, docs.map(big), true);
      await next.index(collection, early.map(big), true);
      for (const round of [1, 2]) await next.index(collection, live.map((d) => ({ ...big(d), title: `live ${round}` })), true);
      const migration = uniqueName('opt');
      const spec = writeSpec({
        migration, zookeeper: { connect: stack.zk, root },
        source: { kind: 'solr', url: stack.solrLegacy, collection },
        target: { kind: 'solr', url: stack.solrNew, collection, optimize: 'force-merge' },
        slicing: { targetDocsPerSlice: 300 }, batch: { docs: 100 },
      });
      const s = loadSpec(spec);
      const target = openBackend(s.target, s);
      // Several segments per shard to merge (the early documents' and each update round's): looked at, not
      // assumed — Solr merges small segments as it commits.
      expect((await target.segmentStats!())!.segments).to.be.at.least(2);
      expect((await run(['plan', '--spec', spec])).code).to.equal(0);
      const w = await run(['work', '--spec', spec]);
      expect(w.code, w.stderr.slice(-1500)).to.equal(EXIT.OK);
      expect(w.stderr).to.match(/"msg":"target optimized"/);
      const layout = new Layout(root, migration);
      const record = JSON.parse((await zk.getData(layout.optimized)).data.toString());
      // Copying merged some of those deletes away already (Solr merges as it commits); the rest went here.
      expect(record).to.deep.include({ mode: 'force-merge', deletedAfter: 0, segmentsAfter: 2 });
      expect(record.segmentsBefore).to.be.a('number');
      expect((await target.segmentStats!())!.deleted).to.equal(0);
      expect(await zk.exists(layout.optimizing), 'the lock goes with the step').to.equal(null);
      // Nothing lost or overwritten by the merge: every document there, the live ones with their content.
      const all = await next.all(collection, 'id,title');
      expect(all.size).to.equal(docs.length);
      for (const d of live) expect(all.get(d.id)!.title).to.equal('live 2');
      // A later run of a finished copy does not merge again.
      const again = await run(['work', '--spec', spec]);
      expect(again.code).to.equal(EXIT.OK);
      expect(again.stderr).not.to.match(/optimizing the target/);
    } finally {
      await Promise.all([legacy.deleteCollection(collection), next.deleteCollection(collection)]);
    }
  });

  it('Elasticsearch: force-merge to one segment; the record says so (soft-deleted documents stay for their retention lease)', async () => {
    const legacy = new EsAdmin(stack.esLegacy);
    const next = new EsAdmin(stack.esNew);
    const index = uniqueName('bgtest_opt');
    const settings = { number_of_shards: 1, number_of_replicas: 0 };
    await legacy.createIndex(index, { settings, mappings: TEST_MAPPING });
    await next.createIndex(index, { settings, mappings: TEST_MAPPING });
    try {
      await legacy.index(index, docs.map((d) => ({ _id: d.id, source: d })));
      await next.index(index, early.map((d) => ({ _id: d.id, source: d })));
      for (const round of [1, 2]) await next.index(index, live.map((d) => ({ _id: d.id, source: { ...d, title: `live ${round}` } })));
      const migration = uniqueName('opt');
      const spec = writeSpec({
        migration, zookeeper: { connect: stack.zk, root },
        source: { kind: 'elasticsearch', url: stack.esLegacy, collection: index },
        target: { kind: 'elasticsearch', url: stack.esNew, collection: index, optimize: 'force-merge' },
        slicing: { targetDocsPerSlice: 300 }, batch: { docs: 100 },
      });
      const s = loadSpec(spec);
      const target = openBackend(s.target, s);
      const stats = (await target.segmentStats!())!;
      expect(stats.segments, 'several segments to merge').to.be.greaterThan(1);
      expect((await run(['plan', '--spec', spec])).code).to.equal(0);
      const w = await run(['work', '--spec', spec]);
      expect(w.code, w.stderr.slice(-1500)).to.equal(EXIT.OK);
      const record = JSON.parse((await zk.getData(new Layout(root, migration).optimized)).data.toString());
      expect(record).to.deep.include({ mode: 'force-merge', segmentsAfter: 1 });
      expect(record.segmentsBefore).to.be.greaterThan(1);
      expect(await next.count(index)).to.equal(docs.length);
      await target.close();
    } finally {
      await Promise.all([legacy.deleteIndex(index), next.deleteIndex(index)]);
    }
  });
});
