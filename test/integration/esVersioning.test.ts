/**
 * External versioning (seed 003's external_gte): with copy.versionField, the copy writes each document
 * at the version its field holds, and a live write carrying a higher version wins over the copy.
 */
import { expect } from 'chai';
import { Layout } from '../../src/coordination/layout';
import type { ZkSession } from '../../src/coordination/zk';
import { run, writeSpec } from '../support/cli';
import { EsAdmin, TEST_MAPPING, type EsDocIn } from '../support/esAdmin';
import { allSlices } from '../support/fleet';
import { connectZk, stack, uniqueName } from '../support/stack';

describe('Elasticsearch 7 → 8 with external versioning (copy.versionField)', function () {
  this.timeout(120_000);
  const legacy = new EsAdmin(stack.esLegacy);
  const next = new EsAdmin(stack.esNew);
  const index = uniqueName('bgtest_es_ver');
  const migration = uniqueName('ver');
  const root = `/${uniqueName('bgtest')}`;
  const layout = new Layout(root, migration);
  let zk: ZkSession;

  const doc = (n: number, version: number | undefined, title: string, routing?: string): EsDocIn => {
    const id = `v-${String(n).padStart(4, '0')}`;
    const source = { id, customer: n % 2 ? 'odd' : 'even', timestamp: new Date(Date.UTC(2024, 0, 1) + n * 60_000).toISOString(), title, ...(version !== undefined ? { version } : {}) };
    return { _id: id, source, routing, ...(version !== undefined ? { version } : {}) };
  };

  before(async () => {
    zk = await connectZk();
    await legacy.createIndex(index, { settings: { number_of_shards: 2, number_of_replicas: 0 }, mappings: TEST_MAPPING });
    await next.createIndex(index, { settings: { number_of_shards: 2, number_of_replicas: 0 }, mappings: TEST_MAPPING });
    // The legacy copy: version 10 of every document; one has no version at all.
    const docs = Array.from({ length: 300 }, (_, n) => doc(n, n === 299 ? undefined : 10, `legacy v10 #${n}`, n % 50 === 0 ? `r${n}` : undefined));
    await legacy.index(index, docs.map(({ version: _v, ...d }) => d));
    // Live writes (external versions, as the application dual-writes them) that reached the new cluster first.
    await next.index(index, [
      doc(1, 20, 'LIVE v20: newer than the copy'),
      doc(2, 5, 'LIVE v5: older than the copy'),
      doc(50, 30, 'LIVE v30: newer, routed', 'r50'),
    ]);
  });

  after(async () => {
    await zk.removeRecursive(root);
    zk.close();
    await Promise.all([legacy.deleteIndex(index), next.deleteIndex(index)]);
  });

  it('never replaces a newer live write, replaces an older one, and records the document with no version', async () => {
    const spec = writeSpec({
      migration,
      zookeeper: { connect: stack.zk, root },
      source: { kind: 'elasticsearch', url: stack.esLegacy, collection: index },
      target: { kind: 'elasticsearch', url: stack.esNew, collection: index },
      copy: { versionField: 'version' },
      batch: { docs: 64 },
    });
    const plan = await run(['plan', '--spec', spec]);
    expect(plan.code, plan.stderr).to.equal(0);
    const work = await run(['work', '--spec', spec]);
    expect(work.code, work.stderr).to.equal(0);

    expect((await next.get(index, 'v-0001'))!).to.include({ version: 20 });
    expect((await next.get(index, 'v-0001'))!.source.title).to.equal('LIVE v20: newer than the copy');
    expect((await next.get(index, 'v-0050', 'r50'))!.source.title).to.equal('LIVE v30: newer, routed');
    const older = (await next.get(index, 'v-0002'))!;
    expect(older.source.title).to.equal('legacy v10 #2');
    expect(older.version).to.equal(10);
    const routed = (await next.get(index, 'v-0100', 'r100'))!;
    expect(routed.routing).to.equal('r100');
    expect(routed.version, 'copied at the version its field holds').to.equal(10);
    expect(await next.get(index, 'v-0299'), 'a document with no version is not written').to.equal(null);

    const slices = await allSlices(zk, layout);
    const counts = slices.reduce((a, s) => ({ read: a.read + s.node.counts.read, written: a.written + s.node.counts.written, skipped: a.skipped + s.node.counts.skipped, rejected: a.rejected + s.node.counts.rejected }),
      { read: 0, written: 0, skipped: 0, rejected: 0 });
    expect(counts).to.deep.equal({ read: 300, written: 297, skipped: 2, rejected: 1 });
    const rejections = slices.flatMap((s) => s.node.rejections);
    expect(rejections).to.have.length(1);
    expect(rejections[0].id).to.equal('v-0299');
    expect(rejections[0].reason).to.match(/no usable version in "version"/);
    await next.refresh(index);
    expect(await next.count(index)).to.equal(299);
  });
});
