/**
 * External versioning (seed 003): with copy.versionField, the copy writes each document at the
 * version its field holds (`version_type: external`): it replaces only a strictly older target
 * version; a live write carrying the same version or a higher one wins over the copy, and over repair.
 */
import { expect } from 'chai';
import { Layout } from '../../src/coordination/layout';
import type { ZkSession } from '../../src/coordination/zk';
import { run, writeSpec } from '../support/cli';
import type { VerifyReport } from '../../src/verifier/verifier';
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
  let spec: string;

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
      doc(3, 10, 'LIVE v10: the same version as the copy, other content'),
      doc(50, 30, 'LIVE v30: newer, routed', 'r50'),
    ]);
  });

  after(async () => {
    await zk.removeRecursive(root);
    zk.close();
    await Promise.all([legacy.deleteIndex(index), next.deleteIndex(index)]);
  });

  it('never replaces a newer or an equal live write, replaces an older one, and records the document with no version', async () => {
    spec = writeSpec({
      migration,
      zookeeper: { connect: stack.zk, root },
      source: { kind: 'elasticsearch', url: stack.esLegacy, collection: index },
      target: { kind: 'elasticsearch', url: stack.esNew, collection: index },
      copy: { versionField: 'version' },
      batch: { docs: 64 },
      verify: { gracePeriod: '1s' },
    });
    const plan = await run(['plan', '--spec', spec]);
    expect(plan.code, plan.stderr).to.equal(0);
    const work = await run(['work', '--spec', spec]);
    expect(work.code, work.stderr).to.equal(0);

    expect((await next.get(index, 'v-0001'))!).to.include({ version: 20 });
    expect((await next.get(index, 'v-0001'))!.source.title).to.equal('LIVE v20: newer than the copy');
    expect((await next.get(index, 'v-0050', 'r50'))!.source.title).to.equal('LIVE v30: newer, routed');
    const equal = (await next.get(index, 'v-0003'))!;
    expect(equal.source.title, 'an equal version is a live write that won').to.equal('LIVE v10: the same version as the copy, other content');
    expect(equal.version).to.equal(10);
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
    expect(counts).to.deep.equal({ read: 300, written: 296, skipped: 3, rejected: 1 });
    const rejections = slices.flatMap((s) => s.node.rejections);
    expect(rejections).to.have.length(1);
    expect(rejections[0].id).to.equal('v-0299');
    expect(rejections[0].reason).to.match(/no usable version in "version"/);
    await next.refresh(index);
    expect(await next.count(index)).to.equal(299);
  });

  it('repair writes at the source version too: an older target version is replaced, an equal or newer one is kept', async () => {
    // The source moves on after the copy: v-0004 to version 12 (newer than the target's 10), and
    // v-0005 changes content but keeps version 10 (the target's 10 is then an equal version).
    await legacy.index(index, [
      { _id: 'v-0004', source: { ...doc(4, 12, 'legacy v12 #4').source } },
      { _id: 'v-0005', source: { ...doc(5, 10, 'legacy v10 #5, edited').source } },
    ]);
    const r = await run(['verify-integrity', '--spec', spec, '--json', '--new', '--repair']);
    expect(r.stdout, r.stderr).to.not.equal('');
    const report: VerifyReport = JSON.parse(r.stdout);
    const ids = (kind: 'missing' | 'different') => report.results.flatMap((x) => x[kind]).sort();
    expect(ids('different')).to.deep.equal(['v-0001', 'v-0003', 'v-0004', 'v-0005', 'v-0050']);
    expect(ids('missing')).to.deep.equal(['v-0299']);
    const repaired = report.results.reduce((a, x) => ({
      created: a.created + (x.repaired?.created ?? 0), replaced: a.replaced + (x.repaired?.replaced ?? 0),
      deleted: a.deleted + (x.repaired?.deleted ?? 0), conflicts: a.conflicts + (x.repaired?.conflicts ?? 0),
    }), { created: 0, replaced: 0, deleted: 0, conflicts: 0 });
    expect(repaired, 'only v-0004 is replaced; the rest are live writes that won (or, v-0299, have no version)')
      .to.deep.equal({ created: 0, replaced: 1, deleted: 0, conflicts: 5 });

    const replaced = (await next.get(index, 'v-0004'))!;
    expect(replaced.source.title).to.equal('legacy v12 #4');
    expect(replaced.version, 'written at the source version').to.equal(12);
    const equal = (await next.get(index, 'v-0005'))!;
    expect(equal.source.title, 'an equal target version is never replaced').to.equal('legacy v10 #5');
    expect(equal.version).to.equal(10);
    expect((await next.get(index, 'v-0003'))!.source.title).to.equal('LIVE v10: the same version as the copy, other content');
    const newer = (await next.get(index, 'v-0001'))!;
    expect(newer.source.title).to.equal('LIVE v20: newer than the copy');
    expect(newer.version).to.equal(20);
    expect((await next.get(index, 'v-0050', 'r50'))!).to.include({ version: 30 });
    expect(await next.get(index, 'v-0299')).to.equal(null);
  });
});
