/**
 * Pipelined lanes (issue 15): a lane reads page N+1 while it writes page N, but checkpoints strictly
 * in order. A worker that reads ahead is killed (SIGKILL) mid-slice; another finishes the slice from
 * its checkpoint. Every checkpoint ZooKeeper showed meanwhile (watched from the start, as fast as it
 * answers) moved the cursor forward only, each one naming exactly the documents read before it, and
 * every document arrived exactly once, as stored. Once with a checkpoint for every page (the
 * default, worker.checkpointEvery 0), once with pages checkpointed together (1s: TAIL_GROUP).
 */
import { expect } from 'chai';
import { generateDocs } from '../../src/demo/dataset';
import { SolrAdmin } from '../../src/demo/solrAdmin';
import { Layout } from '../../src/coordination/layout';
import type { WorkNode } from '../../src/coordination/workNode';
import type { ZkSession } from '../../src/coordination/zk';
import { EXIT } from '../../src/errors';
import { TAIL_GROUP } from '../../src/worker/batching';
import { run, start, writeSpec } from '../support/cli';
import { allClaims, allSlices, freezeWhen, midSlice, waitFor } from '../support/fleet';
import { connectZk, stack, uniqueName } from '../support/stack';

const TOTAL = 1500;
const BATCH = 50;

describe('pipelined lanes: read ahead, checkpoint in order', function () {
  this.timeout(240_000);
  const legacy = new SolrAdmin(stack.solrLegacy);
  const next = new SolrAdmin(stack.solrNew);
  const collection = uniqueName('bgtest_pipeline');
  const root = `/${uniqueName('bgtest')}`;
  const docs = [...generateDocs([{ name: 'solo', docs: TOTAL, spanDays: 30 }], Date.UTC(2025, 0, 1), 11)];
  let zk: ZkSession;

  before(async () => {
    zk = await connectZk();
    await legacy.createCollection(collection, 1);
    await legacy.index(collection, docs, true);
  });

  after(async () => {
    await zk.removeRecursive(root);
    zk.close();
    await legacy.deleteCollection(collection);
  });

  /** The first id after a Solr cursorMark (null: none), asked of the source: where a checkpoint points. */
  async function firstAfter(cursor: string): Promise<string | null> {
    const url = `${stack.solrLegacy}/${collection}/select?q=*:*&sort=id+asc&rows=1&fl=id&wt=json&cursorMark=${encodeURIComponent(cursor)}`;
    const res = (await (await fetch(url)).json()) as { response: { docs: Array<{ id: string }> } };
    return res.response.docs[0]?.id ?? null;
  }

  for (const grouped of [false, true]) it(`a worker killed while it reads ahead: checkpoints only move forward, every document arrives once (${grouped ? 'pages checkpointed together' : 'a checkpoint every page'})`, async () => {
    const migration = uniqueName('pipeline');
    const layout = new Layout(root, migration);
    // Each run its own target collection.
    const dst = uniqueName('bgtest_pipeline_dst');
    await next.createCollection(dst, 1);
    try {
      const spec = writeSpec({
        migration,
        zookeeper: { connect: stack.zk, root, sessionTimeout: '6s' },
        source: { kind: 'solr', url: stack.solrLegacy, collection },
        target: { kind: 'solr', url: stack.solrNew, collection: dst },
        // One slice (one customer, under the target), small pages: each lane has room to read ahead.
        slicing: { targetDocsPerSlice: 5000 },
        batch: { docs: BATCH },
        // Slow enough that the kill lands mid-slice (after several checkpoints of a second's pages, grouped).
        worker: { slicesInFlight: 2, docsPerSecond: grouped ? 200 : 400, checkpointEvery: grouped ? '1s' : 0 },
      });
      const plan = await run(['plan', '--spec', spec]);
      expect(plan.code, plan.stderr).to.equal(0);
      const [slice] = await allSlices(zk, layout);
      expect((await allSlices(zk, layout)).length, 'one slice').to.equal(1);
      expect(slice.node.estimate).to.equal(TOTAL);

      // Every version of the work node ZooKeeper shows, from before the first worker starts.
      const seen = new Map<number, WorkNode>();
      let watching = true;
      const watcher = (async () => {
        while (watching) {
          const got = await zk.getDataOrNull(slice.path);
          if (got) seen.set(got.stat.version, JSON.parse(got.data.toString()));
          await new Promise((r) => setTimeout(r, 5));
        }
      })();

      const w1 = start(['work', '--spec', spec], { BLUEGREEN_LOG_LEVEL: 'debug' });
      const checkpointsOfW1 = () => [...seen.values()].filter((n) => n.cursor !== null && n.attempts === 1).length;
      const held = midSlice(zk, layout, w1, BATCH, 3);
      await freezeWhen('worker 1 to be frozen mid-slice, after 3 checkpoints', w1, async () => (checkpointsOfW1() >= 3 ? held() : null));
      w1.child.kill('SIGKILL');
      const r1 = await w1.done;
      expect(r1.signal).to.equal('SIGKILL');
      const readAhead = r1.stderr.split('\n').filter((l) => l.includes('"page read ahead"')).length;
      expect(readAhead, 'worker 1 read pages ahead (the premise of this test)').to.be.at.least(2);

      // Its claim goes with its session; then a second worker finishes the slice from the checkpoint.
      await waitFor('the killed worker\'s claim to expire', async () => (await allClaims(zk, layout)).length === 0, 30_000);
      const w2 = await run(['work', '--spec', spec]);
      expect(w2.code, w2.stderr).to.equal(EXIT.OK);
      watching = false;
      await watcher;
      const final = (await allSlices(zk, layout))[0].node;
      expect(final.status).to.equal('done');
      expect(final.attempts).to.equal(2);

      // The checkpoints, in the order ZooKeeper took them (its versions).
      const ids = docs.map((d) => d.id).sort();
      const checkpoints = [...seen.entries()].sort(([a], [b]) => a - b).map(([, n]) => n).filter((n) => n.cursor !== null);
      const byW1 = checkpoints.filter((n) => n.attempts === 1);
      expect(byW1.length, 'several checkpoints of worker 1 observed').to.be.at.least(3);
      // What one checkpoint took in, between two versions ZooKeeper showed one after the other: one
      // page at most, or (grouped) several pages at once.
      const steps = [...seen.entries()].filter(([v, n]) => n.attempts === 1 && seen.get(v - 1)?.attempts === 1).map(([v, n]) => n.counts.read - seen.get(v - 1)!.counts.read);
      if (grouped) expect(Math.max(...steps), 'a checkpoint of several pages').to.be.above(BATCH);
      else expect(Math.max(...steps), 'a checkpoint every page').to.be.at.most(BATCH);
      let lastId = '';
      let lastRead = 0;
      for (const n of checkpoints) {
        const after = n.status === 'done' ? null : await firstAfter(n.cursor!);
        const before = after === null ? ids.length : ids.indexOf(after);
        expect(before, `cursor ${n.cursor} points at a document of the source`).to.be.at.least(0);
        // Forward only: the next document to read never goes back, nor the documents counted.
        expect((after ?? '\uffff') >= lastId, `checkpoint at ${n.counts.read} read points at ${after}, after one at ${lastId}`).to.equal(true);
        expect(n.counts.read).to.be.at.least(lastRead);
        // Worker 1's checkpoints name exactly the documents read before them: a page checkpointed ahead
        // of the one before it would not.
        if (n.attempts === 1) expect(n.counts.read, `worker 1's checkpoint at ${after}`).to.equal(before);
        lastId = after ?? '\uffff';
        lastRead = n.counts.read;
      }
      // The resumed slice read at most the page in flight again (written, or not, before the kill).
      expect(final.counts.read).to.be.within(TOTAL, TOTAL + BATCH);
      expect(final.counts.written + final.counts.skipped).to.equal(final.counts.read);
      // Each document was written once: what the target held already on the re-read counts as skipped —
      // the page in flight, and grouped the pages written but not yet checkpointed (a group waiting, one in its tail).
      expect(final.counts.written).to.be.within(TOTAL - (grouped ? 2 * TAIL_GROUP.pages + 1 : 1) * BATCH, TOTAL);

      await next.commit(dst);
      const fl = 'id,customer,timestamp,title,body,category,tags,price';
      const [src, got] = await Promise.all([legacy.all(collection, fl), next.all(dst, fl)]);
      expect(src.size).to.equal(TOTAL);
      expect(got.size, 'every document arrived exactly once').to.equal(TOTAL);
      for (const [id, d] of src) expect(got.get(id), id).to.deep.equal(d);
    } finally {
      await next.deleteCollection(dst);
    }
  });
});
