/**
 * Bad input gets a clear error, a non-zero exit, and changes nothing: not ZooKeeper, not the clusters.
 */
import { expect } from 'chai';
import { SolrAdmin } from '../../src/demo/solrAdmin';
import { Layout } from '../../src/coordination/layout';
import type { ZkSession } from '../../src/coordination/zk';
import { EXIT } from '../../src/errors';
import { run, writeSpec } from '../support/cli';
import { connectZk, stack, uniqueName } from '../support/stack';

describe('bad input', function () {
  this.timeout(120_000);
  const legacy = new SolrAdmin(stack.solrLegacy);
  const next = new SolrAdmin(stack.solrNew);
  const collection = uniqueName('bgtest_bad');
  const root = `/${uniqueName('bgtest')}`;
  let zk: ZkSession;
  const base = () => ({
    migration: 'bad',
    zookeeper: { connect: stack.zk, root, connectTimeout: '3s' },
    source: { kind: 'solr', url: stack.solrLegacy, collection },
    target: { kind: 'solr', url: stack.solrNew, collection },
  });

  before(async () => {
    zk = await connectZk();
    await Promise.all([legacy.createCollection(collection, 1), next.createCollection(collection, 1)]);
    await legacy.index(collection, [{ id: 'x1', customer: 'c', timestamp: '2024-01-01T00:00:00Z', title: 't' }], true);
  });
  after(async () => {
    await zk.removeRecursive(root);
    zk.close();
    await Promise.all([legacy.deleteCollection(collection), next.deleteCollection(collection)]);
  });

  async function expectRefused(spec: object, command: string[], message: RegExp) {
    const r = await run([...command, '--spec', writeSpec(spec)]);
    expect(r.code, r.stderr).to.equal(EXIT.USAGE);
    expect(r.stderr).to.match(message);
    expect(r.stderr).to.match(/what to do: /);
    expect(r.stderr, 'no stack trace for an operator error').not.to.match(/\n\s+at /);
    expect(await zk.exists(root), 'nothing written to ZooKeeper').to.equal(null);
    expect(await next.count(collection), 'nothing written to the target').to.equal(0);
  }

  it('a spec with unknown fields and wrong types', () =>
    expectRefused({ ...base(), batchh: 1, slicing: { targetDocsPerSlice: 'lots' } }, ['plan'], /(?=[\s\S]*unknown field\(s\) "batchh")(?=[\s\S]*slicing\.targetDocsPerSlice: Expected number)/));

  it('a spec that is not YAML', async () => {
    const r = await run(['plan', '--spec', writeSpec({}).replace('spec.yaml', 'nope.yaml')]);
    expect(r.code).to.equal(EXIT.USAGE);
    expect(r.stderr).to.match(/Cannot read the spec file/);
  });

  it('an unreachable source cluster', () =>
    expectRefused({ ...base(), source: { ...base().source, url: 'http://127.0.0.1:1/solr' } }, ['plan'], /Solr at http:\/\/127\.0\.0\.1:1\/solr is unreachable/));

  it('a URL that is not Solr', () =>
    expectRefused({ ...base(), target: { ...base().target, url: `${stack.solrNew}/nothing-here` } }, ['plan'], /does not look like a Solr base URL/));

  it('a missing collection', () =>
    expectRefused({ ...base(), target: { ...base().target, collection: 'no_such_collection' } }, ['plan'], /has no collection "no_such_collection"/));

  it('a customer field that does not exist', () =>
    expectRefused({ ...base(), fields: { customer: 'tenant' } }, ['plan'], /has no field "tenant"/));

  it('ZooKeeper down (nothing listening)', () =>
    expectRefused({ ...base(), zookeeper: { connect: '127.0.0.1:1', root, connectTimeout: '2s' } }, ['plan'], /ZooKeeper at 127\.0\.0\.1:1 did not answer/));

  it('work before plan', () => expectRefused(base(), ['work'], /has not been planned/));

  it('a missing required field', () => {
    const { target: _t, ...noTarget } = base();
    return expectRefused(noTarget, ['plan'], /target: required/);
  });
  it('an unknown endpoint kind', () => expectRefused({ ...base(), source: { ...base().source, kind: 'mongodb' } }, ['plan'], /source\.kind: Invalid enum value/));
  it('a URL that is not a URL', () => expectRefused({ ...base(), source: { ...base().source, url: 'solr-legacy:8983' } }, ['plan'], /source\.url: /));
  it('a negative batch size', () => expectRefused({ ...base(), batch: { docs: -5 } }, ['plan'], /batch\.docs: Number must be greater than 0/));
  it('a size that is not a size', () => expectRefused({ ...base(), batch: { bytes: 'huge' } }, ['plan'], /batch\.bytes: "huge" is not a size/));
  it('a duration that is not a duration', () => expectRefused({ ...base(), zookeeper: { ...base().zookeeper, sessionTimeout: 'soon' } }, ['plan'], /zookeeper\.sessionTimeout: "soon" is not a duration/));
  it('an invalid migration name', () => expectRefused({ ...base(), migration: 'a/b' }, ['plan'], /migration: letters, digits/));
  it('customers without discovery and without a list', () => expectRefused({ ...base(), customers: { discover: false } }, ['plan'], /customers: with discover: false, give customers\.list/));
  it('source and target the same collection', () => expectRefused({ ...base(), target: base().source }, ['plan'], /same collection on the same cluster/));
  it('a uniqueKey that is not the collection\'s', () => expectRefused({ ...base(), fields: { uniqueKey: 'title' } }, ['plan'], /uniqueKey of solr .* is "id", but the spec says fields\.uniqueKey: "title"/));
  it('a spec file that is a list, not a mapping', async () => {
    const file = writeSpec({}).replace('spec.yaml', 'list.yaml');
    require('node:fs').writeFileSync(file, '- a\n- b\n');
    const r = await run(['plan', '--spec', file]);
    expect(r.code).to.equal(EXIT.USAGE);
    expect(r.stderr).to.match(/the top level must be a mapping/);
  });
  it('a wrong ZooKeeper credential format', () => expectRefused({ ...base(), zookeeper: { ...base().zookeeper, auth: 'nocolon' } }, ['plan'], /zookeeper\.auth: user:password/));
  it('an unknown command or flag', async () => {
    const r = await run(['plna']);
    expect(r.code).to.equal(EXIT.USAGE);
    const f = await run(['plan', '--spec', writeSpec(base()), '--dry-rum']);
    expect(f.code).to.equal(EXIT.USAGE);
    expect(f.stderr).to.match(/Unknown arguments?: dry-rum/);
  });
  it('cutover to a side that does not exist', async () => {
    const r = await run(['cutover', '--spec', writeSpec(base()), '--to', 'blue']);
    expect(r.code).to.equal(EXIT.USAGE);
    expect(r.stderr).to.match(/Invalid values:[\s\S]*to/);
  });

  describe('with a planned migration', () => {
    const layout = new Layout(root, 'bad');
    before(async () => {
      const r = await run(['plan', '--spec', writeSpec(base())]);
      expect(r.code, r.stderr).to.equal(0);
    });

    it('a spec changed under the migration is refused', async () => {
      const r = await run(['work', '--spec', writeSpec({ ...base(), slicing: { targetDocsPerSlice: 7 } })]);
      expect(r.code).to.equal(EXIT.USAGE);
      expect(r.stderr).to.match(/differs from the one migration "bad" was planned with \(changed: slicing/);
    });

    it('verify before the copy is done is refused', async () => {
      const r = await run(['verify-integrity', '--spec', writeSpec(base())]);
      expect(r.code).to.equal(EXIT.USAGE);
      expect(r.stderr).to.match(/slices are not done/);
    });

    it('release of a slice that does not exist', async () => {
      const r = await run(['release', '--spec', writeSpec(base()), '--slice', 'nobody/99']);
      expect(r.code).to.equal(EXIT.USAGE);
      expect(r.stderr).to.match(/There is no slice nobody\/99/);
    });

    it('a corrupt work node is named, and left as it was', async () => {
      const [c] = await zk.getChildren(layout.customers);
      const [n] = await zk.getChildren(layout.slices(c));
      const path = layout.slice(c, n);
      await zk.setData(path, Buffer.from('{not json'), -1);
      const before = await zk.getData(path);
      const r = await run(['work', '--spec', writeSpec(base())]);
      expect(r.code, r.stderr).to.equal(EXIT.USAGE);
      expect(r.stderr).to.contain(`The ZooKeeper node ${path} is corrupt`);
      const afterwards = await zk.getData(path);
      expect(afterwards.data.toString()).to.equal('{not json');
      expect(afterwards.stat.version).to.equal(before.stat.version);
      expect(await zk.getChildren(layout.claims(c)), 'no claim left behind').to.deep.equal([]);
      expect(await next.count(collection)).to.equal(0);
    });
  });
});
