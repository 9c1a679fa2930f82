/**
 * verify-integrity and cutover on Elasticsearch: the same cluster (ES 8), old index → new index, with
 * the read alias moved from one to the other in one atomic request at cutover and back at rollback.
 */
import { expect } from 'chai';
import { generateDocs } from '../../src/demo/dataset';
import type { ZkSession } from '../../src/coordination/zk';
import { EXIT } from '../../src/errors';
import { reportIds, run, verifyJson, writeSpec } from '../support/cli';
import { EsAdmin, TEST_MAPPING } from '../support/esAdmin';
import { connectZk, stack, uniqueName } from '../support/stack';

describe('verify-integrity and cutover on Elasticsearch (same cluster, read alias)', function () {
  this.timeout(180_000);
  const es = new EsAdmin(stack.esNew);
  const oldIndex = uniqueName('bgtest_esv_old');
  const newIndex = uniqueName('bgtest_esv_new');
  const alias = uniqueName('bgtest_esv_read');
  const root = `/${uniqueName('bgtest')}`;
  let zk: ZkSession;
  let spec: string;
  const docs = [...generateDocs([{ name: 'acme', docs: 700, spanDays: 20 }, { name: 'globex', docs: 200, spanDays: 300, noTimestamp: 3 }], Date.UTC(2025, 0, 1), 4)];

  const verify = (...flags: string[]) => verifyJson(spec, ...flags);
  const ids = reportIds;

  before(async () => {
    zk = await connectZk();
    await es.createIndex(oldIndex, { settings: { number_of_shards: 2, number_of_replicas: 0 }, mappings: TEST_MAPPING });
    await es.createIndex(newIndex, { settings: { number_of_shards: 1, number_of_replicas: 0 }, mappings: TEST_MAPPING });
    await es.index(oldIndex, docs.map((d, i) => ({ _id: d.id, source: d, ...(i % 50 === 0 ? { routing: `r${i % 3}` } : {}) })));
    await es.putAlias(oldIndex, alias); // the application reads through the alias
    spec = writeSpec({
      migration: uniqueName('esv'),
      zookeeper: { connect: stack.zk, root },
      source: { kind: 'elasticsearch', url: stack.esNew, collection: oldIndex },
      target: { kind: 'elasticsearch', url: stack.esNew, collection: newIndex },
      slicing: { targetDocsPerSlice: 250 },
      verify: { gracePeriod: '1s' },
      cutover: { readAlias: alias },
    });
    expect((await run(['plan', '--spec', spec])).code).to.equal(0);
    const w = await run(['work', '--spec', spec]);
    expect(w.code, w.stderr).to.equal(0);
    await es.refresh(newIndex);
  });

  after(async () => {
    await zk.removeRecursive(root);
    zk.close();
    await Promise.all([es.deleteIndex(oldIndex), es.deleteIndex(newIndex)]);
  });

  it('verifies clean, then reports deleted, added and altered documents exactly, and repairs them', async () => {
    const clean = await verify();
    expect(clean.code).to.equal(EXIT.OK);
    const routed = docs[50];
    const deleted = [docs[3].id, routed.id];
    await es.deleteDoc(newIndex, docs[3].id);
    await es.deleteDoc(newIndex, routed.id, 'r2');
    const altered = docs[10];
    await es.index(newIndex, [{ _id: altered.id, source: { ...altered, title: 'tampered' } }, { _id: 'zz-extra', source: { ...docs[11], id: 'zz-extra' } }]);

    const found = await verify('--new');
    expect(found.code).to.equal(EXIT.DIFFERENCES);
    expect(ids(found.report, 'missing')).to.deep.equal([...deleted].sort());
    expect(ids(found.report, 'extra')).to.deep.equal(['zz-extra']);
    expect(ids(found.report, 'different')).to.deep.equal([altered.id]);

    const refused = await run(['cutover', '--spec', spec, '--to', 'new']);
    expect(refused.code).to.equal(EXIT.USAGE);
    expect(await es.aliasTargets(alias)).to.deep.equal([oldIndex]);

    const repaired = await verify('--new', '--repair');
    expect(repaired.report.run.totals!.repaired).to.equal(4);
    await es.refresh(newIndex);
    const again = await verify('--only-failed');
    expect(again.code).to.equal(EXIT.OK);
    expect((await es.get(newIndex, routed.id, 'r2'))?.routing, 'restored with its routing').to.equal('r2');
    expect((await es.get(newIndex, altered.id))?.source.title).to.equal(altered.title);
    expect(await es.get(newIndex, 'zz-extra')).to.equal(null);
  });

  it('cutover moves the read alias to the new index in one step; rollback moves it back', async () => {
    const r = await run(['cutover', '--spec', spec, '--to', 'new']);
    expect(r.code, r.stderr).to.equal(0);
    expect(await es.aliasTargets(alias)).to.deep.equal([newIndex]);
    const back = await run(['cutover', '--spec', spec, '--to', 'legacy']);
    expect(back.code, back.stderr).to.equal(0);
    expect(await es.aliasTargets(alias)).to.deep.equal([oldIndex]);
    expect(await es.count(oldIndex), 'the old index is untouched').to.equal(docs.length);
  });
});
