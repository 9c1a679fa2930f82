/**
 * The lanes of one worker process (worker.slicesInFlight) share its ZooKeeper session, so ZooKeeper
 * cannot tell them apart: the process itself must keep two lanes off one slice. All lanes start
 * together and scan the same few slices at once, the moment a race between them would show.
 */
import { expect } from 'chai';
import { generateDocs } from '../../src/demo/dataset';
import { SolrAdmin } from '../../src/demo/solrAdmin';
import { Layout } from '../../src/coordination/layout';
import type { ZkSession } from '../../src/coordination/zk';
import { EXIT } from '../../src/errors';
import { run, writeSpec } from '../support/cli';
import { allSlices } from '../support/fleet';
import { connectZk, stack, uniqueName } from '../support/stack';

describe('one worker, many lanes, few slices', function () {
  this.timeout(180_000);
  const legacy = new SolrAdmin(stack.solrLegacy);
  const next = new SolrAdmin(stack.solrNew);
  const collection = uniqueName('bgtest_lanes');
  const root = `/${uniqueName('bgtest')}`;
  const migration = uniqueName('lanes');
  const layout = new Layout(root, migration);
  const docs = [...generateDocs([{ name: 'solo', docs: 900, spanDays: 30, noTimestamp: 3 }], Date.UTC(2025, 0, 1), 5)];
  let zk: ZkSession;

  before(async () => {
    zk = await connectZk();
    await Promise.all([legacy.createCollection(collection, 1), next.createCollection(collection, 1)]);
    await legacy.index(collection, docs, true);
  });

  after(async () => {
    await zk.removeRecursive(root);
    zk.close();
    await Promise.all([legacy.deleteCollection(collection), next.deleteCollection(collection)]);
  });

  it('eight lanes on a few slices: each slice is claimed once and copied once, no lane takes another\'s claim', async () => {
    const spec = writeSpec({
      migration,
      zookeeper: { connect: stack.zk, root },
      source: { kind: 'solr', url: stack.solrLegacy, collection },
      target: { kind: 'solr', url: stack.solrNew, collection },
      // Above the target, so the customer is cut: a few time slices and its no-timestamp slice.
      slicing: { targetDocsPerSlice: 600 },
      batch: { docs: 100 },
      worker: { slicesInFlight: 8 },
    });
    const plan = await run(['plan', '--spec', spec]);
    expect(plan.code, plan.stderr).to.equal(0);
    const planned = await allSlices(zk, layout);
    expect(planned.length, 'a few time slices and the no-timestamp slice').to.be.within(2, 4);
    expect(planned.filter((s) => s.node.bounds.kind === 'no-timestamp').map((s) => s.node.estimate)).to.deep.equal([3]);

    const w = await run(['work', '--spec', spec]);
    expect(w.code, w.stderr).to.equal(EXIT.OK);
    const msgs = w.stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l).msg as string);
    expect(msgs.filter((m) => /orphaned claim|claim lost/.test(m)), 'no lane removed or lost a claim of its own process').to.deep.equal([]);
    for (const s of await allSlices(zk, layout)) {
      expect(s.node.status, s.path).to.equal('done');
      expect(s.node.attempts, `${s.path} claimed once`).to.equal(1);
      expect(s.node.counts.read, `${s.path} read once`).to.equal(s.node.estimate);
      expect(s.node.counts.written, s.path).to.equal(s.node.estimate);
    }
    // No commit of the test's own: the worker that saw the copy finish made it searchable.
    expect(await next.count(collection), 'searchable right after the copy').to.equal(docs.length);
  });
});
