/**
 * A document deleted live after a worker read it is not brought back by the create-only copy (DESIGN
 * "Deletes"; worker/liveDeletes.ts). The condition is made, not hoped for: the worker talks to the real
 * target through a gate (test/support/gate.ts) that holds its first write until the test has seen it
 * arrive — the worker has read the page — and has deleted that page's documents in the source, as
 * the dual writer would (the read side first; the target has none of them yet). Then the write lands.
 * Once with a checkpoint (and a look) every page, once with pages checkpointed together
 * (worker.checkpointEvery: the held page's look then covers the pages written after it too).
 */
import { expect } from 'chai';
import { SolrBackend } from '../../src/backends/solr/solrBackend';
import type { Endpoint } from '../../src/config/spec';
import { SolrAdmin } from '../../src/demo/solrAdmin';
import { Layout } from '../../src/coordination/layout';
import type { ZkSession } from '../../src/coordination/zk';
import { run, start, writeSpec } from '../support/cli';
import { EsAdmin, TEST_MAPPING } from '../support/esAdmin';
import { allSlices, waitFor } from '../support/fleet';
import { Gate } from '../support/gate';
import { connectZk, stack, uniqueName } from '../support/stack';

const DOCS = Array.from({ length: 40 }, (_, i) => ({ id: `d${String(i).padStart(3, '0')}`, customer: 'acme', timestamp: new Date(Date.UTC(2025, 0, 1 + i)).toISOString(), title: `doc ${i}` }));

interface Kind {
  name: string;
  endpoints(c: string, targetUrl: string): { source: object; target: object };
  create(c: string): Promise<void>;
  drop(c: string): Promise<void>;
  /** The target's document writes (what the gate holds). */
  writes: RegExp;
  targetUrl: string;
  deleteBoth(c: string, ids: string[]): Promise<void>;
  targetIds(c: string): Promise<string[]>;
}

const solr = { legacy: new SolrAdmin(stack.solrLegacy), new: new SolrAdmin(stack.solrNew) };
const es = { legacy: new EsAdmin(stack.esLegacy), new: new EsAdmin(stack.esNew) };

const SOLR: Kind = {
  name: 'Solr',
  endpoints: (collection, url) => ({ source: { kind: 'solr', url: stack.solrLegacy, collection }, target: { kind: 'solr', url, collection } }),
  async create(c) {
    await Promise.all([solr.legacy.createCollection(c, 1), solr.new.createCollection(c, 1)]);
    await solr.legacy.index(c, DOCS, true);
  },
  drop: (c) => Promise.all([solr.legacy.deleteCollection(c), solr.new.deleteCollection(c)]).then(() => undefined),
  writes: /\/update\?.*failOnVersionConflicts=false/, // the copy's create-only writes (not work's check that the credentials may write: an empty update)
  targetUrl: stack.solrNew,
  async deleteBoth(c, ids) {
    await solr.legacy.deleteById(c, ids);
    await solr.legacy.commit(c);
  },
  async targetIds(c) {
    await solr.new.commit(c);
    return [...(await solr.new.all(c, 'id')).keys()].sort();
  },
};

const ES: Kind = {
  name: 'Elasticsearch',
  endpoints: (collection, url) => ({ source: { kind: 'elasticsearch', url: stack.esLegacy, collection }, target: { kind: 'elasticsearch', url, collection } }),
  async create(c) {
    const definition = { settings: { number_of_shards: 1, number_of_replicas: 0 }, mappings: TEST_MAPPING };
    await Promise.all([es.legacy.createIndex(c, definition), es.new.createIndex(c, definition)]);
    await es.legacy.index(c, DOCS.map((d) => ({ _id: d.id, source: d })));
  },
  drop: (c) => Promise.all([es.legacy.deleteIndex(c), es.new.deleteIndex(c)]).then(() => undefined),
  writes: /\/_bulk/,
  targetUrl: stack.esNew,
  async deleteBoth(c, ids) {
    for (const id of ids) await es.legacy.deleteDoc(c, id);
  },
  async targetIds(c) {
    await es.new.refresh(c);
    return [...(await es.new.all(c)).keys()].sort();
  },
};

for (const kind of [SOLR, ES]) for (const checkpointEvery of [0, '1s']) {
  describe(`documents deleted live while a worker holds them (${kind.name}, ${checkpointEvery ? 'pages checkpointed together' : 'a checkpoint every page'})`, function () {
    this.timeout(180_000);
    const collection = uniqueName('bgtest_livedel');
    const root = `/${uniqueName('bgtest')}`;
    let zk: ZkSession;
    let gate: Gate;
    const spec = () => writeSpec({
      migration: 'livedel', zookeeper: { connect: stack.zk, root }, ...kind.endpoints(collection, gate.url),
      batch: { docs: 10 }, worker: { slicesInFlight: 1, checkpointEvery }, slicing: { targetDocsPerSlice: 1000 },
    });

    before(async () => {
      zk = await connectZk();
      gate = await Gate.open(kind.targetUrl, kind.writes);
      await kind.create(collection);
    });
    after(async () => {
      await gate.close();
      await zk.removeRecursive(root);
      zk.close();
      await kind.drop(collection);
    });

    it('are taken out of the target again after the write that brought them back; the others arrive', async () => {
      const plan = await run(['plan', '--spec', spec()]);
      expect(plan.code, plan.stderr).to.equal(0);
      gate.hold();
      const w = start(['work', '--spec', spec()], { BLUEGREEN_LOG_LEVEL: 'info' });
      let deleted: string[] = [];
      try {
        // The worker has read its first page (10 documents, maybe the next one ahead): its write waits at the gate.
        await waitFor('the worker\'s first write at the gate', async () => {
          expect(w.child.exitCode, w.output().stderr.slice(-1500)).to.equal(null);
          return gate.arrived > 0;
        }, 120_000);
        const [slice] = await allSlices(zk, new Layout(root, 'livedel'));
        expect(slice.node.cursor, 'nothing checkpointed yet: the first page is the one held').to.equal(null);
        // Deleted live, as the dual writer would: the source (the read side) first; the target has none yet.
        deleted = DOCS.slice(0, 10).map((d) => d.id);
        await kind.deleteBoth(collection, deleted);
        gate.release();
        const r = await w.done;
        expect(r.code, r.stderr.slice(-2000)).to.equal(0);
        const removedLines = r.stderr.split('\n').filter((l) => l.includes('"msg":"documents deleted live after they were read: removed from the target again"'));
        const removed = removedLines.flatMap((l) => JSON.parse(l).ids as string[]);
        expect(removed.sort(), 'the held page\'s deleted documents were taken back').to.deep.equal(deleted);
      } finally {
        w.child.kill('SIGKILL');
      }
      const ids = await kind.targetIds(collection);
      expect(ids.filter((id) => deleted.includes(id)), 'no deleted document is left in the target').to.deep.equal([]);
      expect(ids, 'every other document arrived').to.deep.equal(DOCS.slice(10).map((d) => d.id));
      const [slice] = await allSlices(zk, new Layout(root, 'livedel'));
      expect(slice.node.counts.written, 'written counts what stays').to.equal(DOCS.length - deleted.length);
      expect(slice.node.counts.skipped, 'the live deletes won').to.equal(deleted.length);
    });
  });
}

/**
 * The look itself on Solr (SolrBackend.presentIds): a count settles a look that finds every id, the
 * ids are asked for otherwise. Both ways it must see what the update log holds and no search sees
 * yet: documents added and deleted since the last commit, as a live delete is until Solr commits.
 */
describe('the look at the source for live deletes, Solr: exact before any commit', function () {
  this.timeout(120_000);
  for (const [label, url] of [['Solr 8', stack.solrLegacy], ['Solr 9', stack.solrNew]] as const) {
    it(`${label}: committed, added and deleted since the last commit, never there; every id found, some gone`, async () => {
      const admin = new SolrAdmin(url);
      const c = uniqueName('bgtest_look');
      await admin.createCollection(c, 2);
      try {
        const doc = (id: string) => ({ id, customer: 'acme', timestamp: '2025-01-01T00:00:00Z', title: id });
        const committed = Array.from({ length: 30 }, (_, i) => `a${i}`);
        const added = Array.from({ length: 10 }, (_, i) => `b${i}`);
        await admin.index(c, committed.map(doc), true);
        // Not committed: only the update log (and a real-time get) knows of these yet.
        await admin.index(c, added.map(doc));
        await admin.deleteById(c, ['a0', 'a1', 'a2', 'a3', 'a4', 'b0']);
        const backend = new SolrBackend({ kind: 'solr', url, collection: c, requestTimeout: 60_000 } as unknown as Endpoint, { customer: 'customer', timestamp: 'timestamp', uniqueKey: 'id' }, [], 10_000);
        const there = [...committed.slice(5), ...added.slice(1)];
        const look = async (ids: string[]) => [...(await backend.presentIds(ids.map((id) => ({ id }))))].sort();
        expect(await look(there), 'every id there: all found (the count)').to.deep.equal([...there].sort());
        expect(await look([...committed, ...added, 'never1', 'never2']), 'deleted since the commit and never there: not found').to.deep.equal([...there].sort());
        expect(await look(['a0', 'b0', 'never1']), 'none there').to.deep.equal([]);
        expect(await look(['a5', 'a5', 'b1']), 'an id asked twice counts once').to.deep.equal(['a5', 'b1']);
        expect(await look(['a5', 'a5', 'a0']), 'an id asked twice does not hide a deleted one').to.deep.equal(['a5']);
      } finally {
        await admin.deleteCollection(c);
      }
    });
  }
});
