/**
 * ZooKeeper digest ACLs: with credentials, other ZooKeeper users can read the migration but cannot
 * move a cursor or flip the read flag; credentials never show in ZooKeeper, output or logs.
 */
import { expect } from 'chai';
import { SolrAdmin } from '../../src/demo/solrAdmin';
import { Layout } from '../../src/coordination/layout';
import { ZkSession, ZK_CODES, zkCode, type MultiError } from '../../src/coordination/zk';
import { EXIT } from '../../src/errors';
import { run, writeSpec } from '../support/cli';
import { connectZk, stack, uniqueName } from '../support/stack';

describe('security: ZooKeeper ACLs and secrets', function () {
  this.timeout(120_000);
  const legacy = new SolrAdmin(stack.solrLegacy);
  const next = new SolrAdmin(stack.solrNew);
  const collection = uniqueName('bgtest_sec');
  const root = `/${uniqueName('bgtest')}`;
  const AUTH = 'migrator:zk-Secret-42';
  let anon: ZkSession;
  let owner: ZkSession;
  let spec: string;

  before(async () => {
    anon = await connectZk();
    owner = await ZkSession.connect({ connect: stack.zk, sessionTimeout: 10_000, connectTimeout: 10_000, auth: AUTH });
    await Promise.all([legacy.createCollection(collection, 1), next.createCollection(collection, 1)]);
    await legacy.index(collection, [{ id: 'a', customer: 'c', timestamp: '2024-01-01T00:00:00Z', title: 't' }], true);
    spec = writeSpec({
      migration: 'sec',
      zookeeper: { connect: stack.zk, root },
      source: { kind: 'solr', url: stack.solrLegacy, collection },
      target: { kind: 'solr', url: stack.solrNew, collection },
    });
  });
  after(async () => {
    await owner.removeRecursive(root);
    owner.close();
    anon.close();
    await Promise.all([legacy.deleteCollection(collection), next.deleteCollection(collection)]);
  });

  it('protects the tree: readable by all, writable only with the migration\'s credentials', async () => {
    const plan = await run(['plan', '--spec', spec], { BLUEGREEN_ZK_AUTH: AUTH });
    expect(plan.code, plan.stderr).to.equal(0);
    const layout = new Layout(root, 'sec');
    const [b] = await anon.getChildren(layout.slices);
    const [n] = await anon.getChildren(layout.sliceBucket(b));
    const path = layout.slice({ bucket: b, name: n });
    const before = await anon.getData(path);
    const err = await anon.setData(path, Buffer.from('{"status":"done"}'), -1).then(() => null, (e) => e);
    expect(zkCode(err)).to.equal(ZK_CODES.NO_AUTH);
    const multiErr = await anon.multi([{ op: 'create', path: layout.claim({ bucket: b, name: n }), data: Buffer.from('x'), mode: 1 }]).then(() => null, (e: MultiError) => e);
    expect(multiErr && multiErr.code).to.equal(ZK_CODES.NO_AUTH);
    expect((await anon.getData(path)).stat.version).to.equal(before.stat.version);

    const flip = await run(['cutover', '--spec', spec, '--to', 'legacy']);
    expect(flip.code).to.equal(EXIT.USAGE);
    expect(flip.stderr).to.match(/belong to another identity[\s\S]*BLUEGREEN_ZK_AUTH/);
    const wrong = await run(['work', '--spec', spec], { BLUEGREEN_ZK_AUTH: 'migrator:wrong' });
    expect(wrong.code).to.equal(EXIT.USAGE);
    expect(await anon.exists(layout.cutover)).to.equal(null);

    const work = await run(['work', '--spec', spec], { BLUEGREEN_ZK_AUTH: AUTH });
    expect(work.code, work.stderr).to.equal(EXIT.OK);
    const specNode = (await anon.getData(layout.spec)).data.toString();
    expect(specNode).to.not.contain('zk-Secret-42');
    for (const out of [plan.stdout, plan.stderr, work.stdout, work.stderr, wrong.stderr]) expect(out).to.not.contain('zk-Secret-42');
  });
});
