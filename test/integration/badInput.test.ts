/**
 * Bad input gets a clear error, a non-zero exit, and changes nothing: not ZooKeeper, not the clusters.
 */
import { expect } from 'chai';
import { SolrAdmin } from '../../src/demo/solrAdmin';
import { Layout } from '../../src/coordination/layout';
import { MigrationStore } from '../../src/coordination/migration';
import { validateSpec } from '../../src/config/spec';
import { ZkSession } from '../../src/coordination/zk';
import { EXIT } from '../../src/errors';
import { HttpClient } from '../../src/backends/http';
import { run, start, writeSpec } from '../support/cli';
import { allClaims, allSlices } from '../support/fleet';
import { solrSnapshot, zkSnapshot } from '../support/snapshot';
import { connectZk, stack, uniqueName } from '../support/stack';

/** ZooKeeper (every node, byte for byte, with its stat) and both Solr clusters, to compare before/after. */
async function snapshot(zk: ZkSession, lockParents: string[] = []) {
  return { zk: await zkSnapshot(zk, '/', lockParents), legacy: await solrSnapshot(stack.solrLegacy), next: await solrSnapshot(stack.solrNew) };
}

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

  async function expectRefused(spec: object, command: string[], message: RegExp, env: NodeJS.ProcessEnv = {}) {
    const before = await snapshot(zk);
    const r = await run([...command, '--spec', writeSpec(spec)], env);
    expect(r.code, r.stderr).to.equal(EXIT.USAGE);
    expect(r.stderr).to.match(message);
    expect(r.stderr).to.match(/what to do: /);
    expect(r.stderr, 'no stack trace for an operator error').not.to.match(/\n\s+at /);
    expect(await zk.exists(root), 'nothing written to ZooKeeper').to.equal(null);
    expect(await next.count(collection), 'nothing written to the target').to.equal(0);
    expect(await snapshot(zk), 'ZooKeeper and both clusters exactly as they were').to.deep.equal(before);
    return r;
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
  it('a negative batch size', () => expectRefused({ ...base(), batch: { docs: -5 } }, ['plan'], /batch\.docs: -5 is out of range: allowed an integer from 1 to 100000/));
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


  describe('source and target the same collection, however spelled', () => {
    const alias = uniqueName('bgtest_bad_alias');
    before(() => new HttpClient({ timeoutMs: 60_000, json: 'plain' }).request('GET', `${stack.solrLegacy}/admin/collections?action=CREATEALIAS&name=${alias}&collections=${collection}&wt=json`));
    after(() => legacy.deleteAlias(alias));
    const hostPort = stack.solrLegacy.replace(/^http:\/\/[^:/]+/, '');
    for (const [what, url] of [
      ['a trailing slash', `${stack.solrLegacy}/`],
      ['localhost for 127.0.0.1', `http://localhost${hostPort}`],
      ['an upper-case host name and a doubled slash', `http://LOCALHOST${hostPort.replace('/solr', '//solr//')}`],
      ['the URL as a list', [stack.solrNew, stack.solrLegacy]],
    ] as Array<[string, string | string[]]>) {
      it(what, () => expectRefused({ ...base(), target: { ...base().source, url } }, ['plan'], /same collection on the same cluster/));
    }
    it('an alias of the source collection on the source cluster (asked of Solr: its zkHost and aliases)', () =>
      expectRefused({ ...base(), target: { ...base().source, collection: alias } }, ['plan'],
        new RegExp(`The target is the source: target\\.collection "${alias}" \\(${collection}\\)[\\s\\S]*one cluster, ZooKeeper 127\\.0\\.0\\.1:\\d+/solr-legacy`)));
    it('work and verify-integrity refuse it too', async () => {
      await expectRefused({ ...base(), target: { ...base().source, collection: alias } }, ['work'], /The target is the source/);
      await expectRefused({ ...base(), target: { ...base().source, collection: alias } }, ['verify-integrity'], /The target is the source/);
    });
  });

  describe('ZooKeeper connect strings', () => {
    for (const bad of ['::::', 'zk-1:2181,,zk-2:2181', 'zk:99999', '[not-v6]:2181', 'host:21x81', ':2181', 'a b:2181', '127.0.0.1:2181/chroot/']) {
      it(`"${bad}" in the spec`, () => expectRefused({ ...base(), zookeeper: { ...base().zookeeper, connect: bad } }, ['plan'], /zookeeper\.connect: .* is not a ZooKeeper connect string/));
    }
    it('"::::" from BLUEGREEN_ZK_CONNECT is named as such', () =>
      expectRefused(base(), ['plan'], /zookeeper\.connect \(from BLUEGREEN_ZK_CONNECT\): "::::" is not a ZooKeeper connect string/, { BLUEGREEN_ZK_CONNECT: '::::' }));
    it('"::::" from --zk is named as such, for every command', async () => {
      for (const cmd of ['plan', 'work', 'status', 'cutover --to new', 'release --slice c/0', 'verify-integrity']) {
        await expectRefused(base(), [...cmd.split(' '), '--zk', '::::'], /zookeeper\.connect \(from --zk\): "::::" is not a ZooKeeper connect string/);
      }
    });
  });

  describe('numbers, durations and sizes have ranges', () => {
    const cases: Array<[string, object, RegExp]> = [
      ['zookeeper.sessionTimeout: 0', { zookeeper: { ...base().zookeeper, sessionTimeout: 0 } }, /zookeeper\.sessionTimeout: 0 ms is out of range: allowed 2s to 10m/],
      ['zookeeper.sessionTimeout: 10ms', { zookeeper: { ...base().zookeeper, sessionTimeout: '10ms' } }, /zookeeper\.sessionTimeout: "10ms" \(10 ms\) is out of range/],
      ['batch.bytes: "0KB"', { batch: { bytes: '0KB' } }, /batch\.bytes: "0KB" \(0 bytes\) is out of range: allowed 1KB to 100MB/],
      ['batch.bytes: 0', { batch: { bytes: 0 } }, /batch\.bytes: 0 bytes is out of range/],
      ['batch.bytes: "5TB"', { batch: { bytes: '5TB' } }, /batch\.bytes: "5TB" is not a size/],
      ['slicing.targetDocsPerSlice: 1.5', { slicing: { targetDocsPerSlice: 1.5 } }, /slicing\.targetDocsPerSlice: 1\.5 is out of range: allowed an integer from 1 to 100000000/],
      ['worker.docsPerSecond: .inf', { worker: { docsPerSecond: Infinity } }, /worker\.docsPerSecond: Infinity is out of range: allowed a number from 0 to 10000000/],
      ['worker.slicesInFlight: 0', { worker: { slicesInFlight: 0 } }, /worker\.slicesInFlight: 0 is out of range: allowed an integer from 1 to 64/],
      ['worker.maxAttempts: -1', { worker: { maxAttempts: -1 } }, /worker\.maxAttempts: -1 is out of range/],
      ['retention.default: "0d"', { retention: { default: '0d' } }, /retention\.default: "0d" \(0 ms\) is out of range/],
      ['source.requestTimeout: 0', { source: { ...base().source, requestTimeout: 0 } }, /source\.requestTimeout: 0 ms is out of range: allowed 1s to 1h/],
      ['status.stuckAfter: -5s', { status: { stuckAfter: '-5s' } }, /status\.stuckAfter: "-5s" is not a duration/],
    ];
    for (const [what, patch, message] of cases) it(what, () => expectRefused({ ...base(), ...patch }, ['plan'], message));
    it('worker.docsPerSecond: .nan (YAML)', async () => {
      const file = writeSpec(base());
      require('node:fs').appendFileSync(file, 'worker:\n  docsPerSecond: .nan\n');
      const before = await snapshot(zk);
      const r = await run(['plan', '--spec', file]);
      expect(r.code, r.stderr).to.equal(EXIT.USAGE);
      expect(r.stderr).to.match(/worker\.docsPerSecond: Expected number, received nan \(NaN\); allowed: a number from 0 to 10000000/);
      expect(await snapshot(zk)).to.deep.equal(before);
    });
    for (const [args, message] of [
      [['plan', '--concurrency', 'abc'], /--concurrency is "abc": allowed a whole number from 1 to 64/],
      [['plan', '--concurrency', '0'], /--concurrency is 0: allowed a whole number from 1 to 64/],
      [['plan', '--concurrency', '2.5'], /--concurrency is 2\.5/],
      [['plan', '--concurrency'], /Not enough arguments following: concurrency/],
      [['verify-integrity', '--concurrency', 'NaN'], /--concurrency is "NaN"/],
      [['status', '--watch', '--interval', '-1'], /--interval is -1: allowed a number from 0\.5 to 3600/],
      [['work', '--http-port', '70000'], /--http-port is 70000: allowed a whole number from 0 to 65535/],
    ] as Array<[string[], RegExp]>) {
      it(args.join(' '), () => expectRefused(base(), args, message));
    }
    it('BLUEGREEN_HTTP_PORT=abc is named', () => expectRefused(base(), ['work'], /BLUEGREEN_HTTP_PORT \(or --http-port\) is "abc"/, { BLUEGREEN_HTTP_PORT: 'abc' }));
  });

  it('status of a migration never planned says so, and what to run', () =>
    expectRefused(base(), ['status'], /Migration "bad" has never been planned[\s\S]*what to do: Run `bluegreen plan/));

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
      expect(r.stderr).to.match(/There is no slice 99 \(the plan has slices 0 to \d+\)/);
    });

    /** Sets a node to `content`, runs the command, expects exit 2 naming the node, and everything as it was; then restores the node. */
    async function expectCorrupt(path: string, content: string, args: string[], message: RegExp) {
      const original = await zk.getData(path);
      await zk.setData(path, Buffer.from(content), -1);
      // A worker takes the ephemeral `checking` lock while it checks the plan's work nodes, and removes it
      // when the check fails: the migration node's child counters move, nothing else.
      const lockParents = args[0] === 'work' ? [layout.base] : [];
      try {
        const before = await snapshot(zk, lockParents);
        const r = await run([...args, '--spec', writeSpec(base())]);
        expect(r.code, r.stderr).to.equal(EXIT.USAGE);
        expect(r.stderr).to.contain(`The ZooKeeper node ${path} is corrupt`);
        expect(r.stderr).to.match(message);
        expect(r.stderr).to.match(/what to do: Inspect it \(zkCli\.sh get /);
        expect(r.stderr, 'no stack trace').not.to.match(/\n\s+at /);
        expect(await snapshot(zk, lockParents), 'nothing written: no registration, no claim, no check recorded, the node as it was').to.deep.equal(before);
        expect(await zk.exists(layout.checking), 'no check lock left').to.equal(null);
        expect(await next.count(collection)).to.equal(0);
      } finally {
        await zk.setData(path, original.data, -1);
      }
    }

    const firstSlice = async () => (await allSlices(zk, layout))[0];

    const corruptWorkNodes: Array<[string, RegExp]> = [
      ['{not json', /does not hold JSON/],
      ['', /it is empty/],
      ['null', /it holds null, not an object/],
      ['[]', /it holds a list/],
      ['{"status":"weird"}', /status is "weird"/],
      ['"todo"', /it holds a string/],
    ];
    for (const [content, message] of corruptWorkNodes) {
      it(`a work node holding ${JSON.stringify(content)}: work and release refuse it, and nothing changes`, async () => {
        const { path, node } = await firstSlice();
        const ref = String(node.index);
        await expectCorrupt(path, content, ['work'], message);
        await expectCorrupt(path, content, ['release', '--slice', ref], message);
        await expectCorrupt(path, content, ['release', '--slice', ref, '--retry'], message);
      });
    }

    it('a work node of the right shape but at the wrong place (index of another slice)', async () => {
      const { path } = await firstSlice();
      const node = JSON.parse((await zk.getData(path)).data.toString());
      await expectCorrupt(path, JSON.stringify({ ...node, index: node.index + 7 }), ['work'], /it says index \d+, but it is slice/);
    });

    it('a corrupt bucket summary (work, status, cutover) or customer index (status, a customer\'s cutover) is refused, and nothing changes', async () => {
      const [bucket] = await zk.getChildren(layout.summaries);
      await expectCorrupt(layout.summary(bucket), '{"done":"x"}', ['work'], /done is "x"/);
      await expectCorrupt(layout.summary(bucket), '{"done":"x"}', ['status'], /done is "x"/);
      await expectCorrupt(layout.summary(bucket), '{"done":"x"}', ['cutover', '--to', 'new'], /done is "x"/);
      const [ib] = await zk.getChildren(layout.customers);
      await expectCorrupt(layout.customerIndex(ib), '{"customers":{"c":{"first":-1}}}', ['status'], /customers\.c\.first is -1/);
      const [cn] = Object.keys(JSON.parse((await zk.getData(layout.customerIndex(ib))).data.toString()).customers);
      await expectCorrupt(layout.customerIndex(ib), '[]', ['cutover', '--to', 'new', '--customer', decodeURIComponent(cn)], /it holds a list/);
    });

    it('a work node with a count that is not a number', async () => {
      const { path } = await firstSlice();
      const node = JSON.parse((await zk.getData(path)).data.toString());
      await expectCorrupt(path, JSON.stringify({ ...node, counts: { ...node.counts, read: 'many' } }), ['work'], /counts\.read is "many"/);
    });

    it('a corrupt plan node stops work and plan before anything is written', async () => {
      await expectCorrupt(layout.plan, '{"slices":-1}', ['work'], /slices is -1/);
      await expectCorrupt(layout.plan, '[1,2]', ['plan'], /it holds a list/);
      await expectCorrupt(layout.plan, '[1,2]', ['status'], /it holds a list/);
    });

    it('a corrupt spec node', () => expectCorrupt(layout.spec, '{"hash":7}', ['status'], /hash is 7/));

    it('a corrupt cutover node', async () => {
      await zk.create(layout.cutover, Buffer.from('{"read":"sideways"}'));
      try {
        await expectCorrupt(layout.cutover, '{"read":"sideways"}', ['cutover', '--to', 'legacy'], /read is "sideways"/);
        await expectCorrupt(layout.cutover, '{"read":"sideways"}', ['work'], /read is "sideways"/);
      } finally {
        await zk.remove(layout.cutover);
      }
    });

    it('a claim node that is not a claim: work refuses before claiming anything', async () => {
      const { address } = await firstSlice();
      await zk.create(layout.claim(address), Buffer.from('{"worker":""}'));
      try {
        await expectCorrupt(layout.claim(address), '{"worker":""}', ['work'], /worker is ""/);
      } finally {
        await zk.remove(layout.claim(address));
      }
    });
  });

  describe('a migration with nothing planned (an empty source)', () => {
    const empty = uniqueName('bgtest_bad_empty');
    const spec = () => ({ ...base(), migration: 'empty', source: { ...base().source, collection: empty }, target: { ...base().target, collection: empty } });
    before(async () => {
      await Promise.all([legacy.createCollection(empty, 1), next.createCollection(empty, 1)]);
      const r = await run(['plan', '--spec', writeSpec(spec())]);
      expect(r.code, r.stderr).to.equal(0);
    });
    after(() => Promise.all([legacy.deleteCollection(empty), next.deleteCollection(empty)]));

    it('cutover says nothing was planned, not "differences", and changes nothing', async () => {
      const before = await snapshot(zk);
      const r = await run(['cutover', '--spec', writeSpec(spec()), '--to', 'new']);
      expect(r.code, r.stderr).to.equal(EXIT.USAGE);
      expect(r.stderr).to.match(/Cutover to new refused:\n\s+- nothing was planned: the migration has no slices/);
      expect(r.stderr).not.to.match(/differences/);
      expect(r.stderr).to.match(/what to do: Plan the migration/);
      expect(await snapshot(zk)).to.deep.equal(before);
    });
  });

  describe('release with the wrong ZooKeeper credentials', () => {
    const AUTH = 'owner:bad-input-7';
    const authRoot = `/${uniqueName('bgtest_auth')}`;
    const spec = () => ({ ...base(), migration: 'authed', zookeeper: { ...base().zookeeper, root: authRoot } });
    let owner: ZkSession;
    before(async () => {
      owner = await ZkSession.connect({ connect: stack.zk, sessionTimeout: 10_000, connectTimeout: 10_000, auth: AUTH });
      const r = await run(['plan', '--spec', writeSpec(spec())], { BLUEGREEN_ZK_AUTH: AUTH });
      expect(r.code, r.stderr).to.equal(0);
    });
    after(async () => {
      await owner.removeRecursive(authRoot);
      owner.close();
    });

    it('says NO_AUTH and names BLUEGREEN_ZK_AUTH, not "changed while it was being released"', async () => {
      const before = await snapshot(zk);
      const r = await run(['release', '--spec', writeSpec(spec()), '--slice', 'c/0'], { BLUEGREEN_ZK_AUTH: 'owner:wrong' });
      expect(r.code, r.stderr).to.equal(EXIT.USAGE);
      expect(r.stderr).to.match(/NO_AUTH[\s\S]*wrong or missing BLUEGREEN_ZK_AUTH/);
      expect(r.stderr).not.to.match(/changed while it was being released/);
      expect(await snapshot(zk)).to.deep.equal(before);
    });
  });

  describe('a work node hand-edited after the fleet checked the plan', () => {
    const spec = () => ({ ...base(), migration: 'checkedlater' });
    const layout = new Layout(root, 'checkedlater');
    before(async () => {
      const r = await run(['plan', '--spec', writeSpec(spec())]);
      expect(r.code, r.stderr).to.equal(0);
    });

    it('is met in the claim path: the worker refuses it before touching that slice, and says what to do', async () => {
      // The fleet's first worker checks every work node once per plan and records it; the record is made
      // here by the same code, so the next worker skips the whole-tree check.
      const store = new MigrationStore(zk, validateSpec(spec()));
      expect((await store.validateOnce('first-worker')).checkedBy).to.equal('first-worker');
      const checked = JSON.parse((await zk.getData(layout.checked)).data.toString());
      expect(checked).to.include({ by: 'first-worker', slices: 1 });
      expect(await zk.exists(layout.checking), 'the lock is gone').to.equal(null);
      const [{ path }] = await allSlices(zk, layout);
      await zk.setData(path, Buffer.from('{"status":"weird"}'), -1);
      const r = await run(['work', '--spec', writeSpec(spec()), '--http-port', '0']);
      expect(r.code, r.stderr).to.equal(EXIT.USAGE);
      expect(r.stderr).to.contain(`The ZooKeeper node ${path} is corrupt`);
      expect(r.stderr).to.match(/status is "weird"/);
      expect(r.stderr).to.match(/what to do: Inspect it/);
      expect(r.stderr).to.match(/the plan's work nodes were checked by another worker/);
      expect((await zk.getData(path)).data.toString(), 'the node as it was').to.equal('{"status":"weird"}');
      expect(await allClaims(zk, layout), 'no claim').to.deep.equal([]);
      expect(await zk.childrenOrEmpty(layout.workers), 'no registration left').to.deep.equal([]);
      expect(await next.count(collection), 'nothing copied').to.equal(0);
    });
  });

  describe('workers that start together', () => {
    const spec = () => ({ ...base(), migration: 'checkedonce' });
    const layout = new Layout(root, 'checkedonce');
    before(async () => {
      const r = await run(['plan', '--spec', writeSpec(spec())]);
      expect(r.code, r.stderr).to.equal(0);
    });

    it('check the plan\'s work nodes once between them: a worker that read no record just before another wrote it does not check again', async () => {
      // The interleaving seen in manyCustomers, staged on the real ZooKeeper: the second worker's first
      // look at the record happened before the first worker wrote it; it takes the lock after the first
      // let go of it. Under the lock it reads the record again, and checks only the small nodes.
      const sessions = await Promise.all([connectZk(), connectZk()]);
      try {
        const [first, second] = sessions.map((s) => new MigrationStore(s, validateSpec(spec())));
        const readChecked = (second as any).readChecked.bind(second);
        let looks = 0;
        (second as any).readChecked = async () => (looks++ === 0 ? null : readChecked());
        expect((await first.validateOnce('w1')).checkedBy).to.equal('w1');
        const late = await second.validateOnce('w2');
        expect(looks, 'the record was read again under the lock').to.equal(2);
        expect(late, 'the second worker did not check every node again').to.deep.equal({ slices: 1, checkedBy: 'w1' });
        expect(JSON.parse((await zk.getData(layout.checked)).data.toString())).to.include({ by: 'w1' });
        expect(await zk.exists(layout.checking), 'the lock is gone').to.equal(null);
      } finally {
        for (const s of sessions) s.close();
      }
    });
  });

  describe('a node that turns corrupt while a worker runs', () => {
    const spec = () => ({ ...base(), migration: 'later' });
    const layout = new Layout(root, 'later');
    before(async () => {
      const r = await run(['plan', '--spec', writeSpec(spec())]);
      expect(r.code, r.stderr).to.equal(0);
    });

    it('stops every lane, and says what the worker had changed', async () => {
      const w = start(['work', '--spec', writeSpec(spec()), '--follow', '--http-port', '0']);
      try {
        // The condition: every slice done (the worker is then polling for new work).
        const deadline = Date.now() + 60_000;
        for (;;) {
          const nodes = (await allSlices(zk, layout)).map((x) => x.node);
          if (nodes.length && nodes.every((x) => x.status === 'done')) break;
          expect(w.child.exitCode, w.output().stderr).to.equal(null);
          if (Date.now() > deadline) throw new Error('the slices were not done in time');
          await new Promise((r) => setTimeout(r, 200));
        }
        await zk.setData(layout.plan, Buffer.from('{"slices":"x"}'), -1);
        const r = await w.done;
        expect(r.code, r.stderr).to.equal(EXIT.USAGE);
        expect(r.stderr).to.contain(`The ZooKeeper node ${layout.plan} is corrupt`);
        expect(r.stderr).to.match(/this worker had copied 1 document\(s\) into the target/);
        expect(r.stderr).not.to.match(/bluegreen changed nothing/);
        expect(await zk.childrenOrEmpty(layout.workers), 'its registration is gone').to.deep.equal([]);
        expect(await allClaims(zk, layout), 'no claim left behind').to.deep.equal([]);
        expect((await zk.getData(layout.plan)).data.toString()).to.equal('{"slices":"x"}');
      } finally {
        w.child.kill('SIGKILL');
      }
    });
  });
});
