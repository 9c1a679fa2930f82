/**
 * verify-integrity, cutover, the read router and status, on the real stack (Solr 8 → Solr 9).
 */
import { expect } from 'chai';
import { hostname } from 'node:os';
import { ReadRouter } from '../../src/cutover/readRouter';
import type { CutoverState } from '../../src/cutover/cutover';
import { generateDocs, type CustomerProfile } from '../../src/demo/dataset';
import { SolrAdmin } from '../../src/demo/solrAdmin';
import { Layout } from '../../src/coordination/layout';
import type { WorkNode } from '../../src/coordination/workNode';
import { CreateMode, encodeJson, type ZkSession } from '../../src/coordination/zk';
import { EXIT } from '../../src/errors';
import type { VerifyReport } from '../../src/verifier/verifier';
import type { MigrationStatus } from '../../src/status/status';
import { run, start, writeSpec } from '../support/cli';
import { allSlices, waitFor } from '../support/fleet';
import { connectZk, stack, uniqueName } from '../support/stack';

const PROFILES: CustomerProfile[] = [
  { name: 'alpha', docs: 1200, spanDays: 10 },
  { name: 'beta', docs: 400, spanDays: 400, noTimestamp: 5 },
  { name: null, docs: 10, spanDays: 5 },
];
const TOTAL = PROFILES.reduce((s, p) => s + p.docs, 0);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('verify-integrity, cutover, read router, status (Solr)', function () {
  this.timeout(300_000);
  const legacy = new SolrAdmin(stack.solrLegacy);
  const next = new SolrAdmin(stack.solrNew);
  const collection = uniqueName('bgtest_verify');
  const alias = uniqueName('bgtest_read');
  const migration = uniqueName('verify');
  const root = `/${uniqueName('bgtest')}`;
  let zk: ZkSession;
  let specFile: string;
  let router: ReadRouter;
  const docs = [...generateDocs(PROFILES, Date.UTC(2025, 2, 1), 11)];

  const verify = async (...flags: string[]) => {
    const r = await run(['verify-integrity', '--spec', specFile, '--json', ...flags]);
    expect(r.stdout, r.stderr).to.not.equal('');
    return { code: r.code, report: JSON.parse(r.stdout) as VerifyReport, stderr: r.stderr };
  };
  const ids = (report: VerifyReport, kind: 'missing' | 'extra' | 'different') => report.results.flatMap((x) => x[kind]).sort();

  before(async () => {
    zk = await connectZk();
    await Promise.all([legacy.createCollection(collection), next.createCollection(collection)]);
    await legacy.index(collection, docs, true);
    specFile = writeSpec({
      migration,
      zookeeper: { connect: stack.zk, root },
      source: { kind: 'solr', url: stack.solrLegacy, collection },
      target: { kind: 'solr', url: stack.solrNew, collection },
      slicing: { targetDocsPerSlice: 300 },
      batch: { docs: 200 },
      verify: { gracePeriod: '2s' },
      cutover: { readAlias: alias },
    });
    expect((await run(['plan', '--spec', specFile])).code).to.equal(0);
    const w = await run(['work', '--spec', specFile]);
    expect(w.code, w.stderr).to.equal(0);
    await next.commit(collection);
    router = await ReadRouter.start(zk, migration, root);
  });

  after(async () => {
    router?.close();
    await zk.removeRecursive(root);
    zk.close();
    await Promise.all([next.deleteAlias(alias), legacy.deleteAlias(alias)]);
    await Promise.all([legacy.deleteCollection(collection), next.deleteCollection(collection)]);
  });

  it('refuses cutover before any verification', async () => {
    const r = await run(['cutover', '--spec', specFile, '--to', 'new']);
    expect(r.code).to.equal(EXIT.USAGE);
    expect(r.stderr).to.match(/Cutover to new refused[\s\S]*no verification has run/);
    expect(router.readSide()).to.equal('legacy');
    expect(await zk.exists(new Layout(root, migration).cutover), 'refusal writes nothing').to.equal(null);
  });

  it('verifies a clean migration clean, even with live writes and deletes landing on both clusters meanwhile', async () => {
    // The application's dual write: source first, the target a moment later (less than the grace period).
    let stop = false;
    const touched: string[] = [];
    const live = (async () => {
      for (let i = 0; !stop; i++) {
        const d = docs[(i * 37) % docs.length];
        if (i % 3 === 2) {
          await legacy.deleteById(collection, [d.id]);
          await sleep(300);
          await next.deleteById(collection, [d.id]);
        } else {
          const upd = i % 3 === 0 ? { ...d, title: `live update ${i}` } : { ...d, id: `live-${i}`, title: `live insert ${i}` };
          await legacy.index(collection, [upd]);
          await sleep(300);
          await next.index(collection, [upd]);
        }
        touched.push(d.id);
        await sleep(100);
      }
    })();
    // The condition first: the application has made several dual writes since the copy (the clusters
    // have moved on from what the workers copied), and it keeps writing while the verification runs.
    await waitFor('the application to make 4 dual writes', async () => touched.length >= 4);
    const { code, report, stderr } = await verify().finally(() => (stop = true));
    await live;
    expect(code, `${stderr}\n${JSON.stringify(report.run.totals)}`).to.equal(EXIT.OK);
    expect(report.run.status).to.equal('passed');
    // Only slices with differences keep a result: none here; every slice counted clean.
    expect(report.run.totals!.slices).to.be.greaterThan(3);
    expect(report.run.totals!.clean).to.equal(report.run.totals!.slices);
    expect(report.results).to.deep.equal([]);
  });

  it('orders verification runs as ZooKeeper created them, not by a clock: a later failed run from a machine whose clock is behind blocks the cutover', async () => {
    const layout = new Layout(root, migration);
    const failed = { id: '19700101T000000Z-', startedAt: 1, finishedAt: 2, startedBy: 'a worker with a wrong clock', scope: 'all', repair: false, status: 'failed' };
    const path = await zk.create(`${layout.verify}/19700101T000000Z-`, encodeJson(failed), CreateMode.PERSISTENT_SEQUENTIAL);
    try {
      const r = await run(['cutover', '--spec', specFile, '--to', 'new']);
      expect(r.code, r.stderr).to.equal(EXIT.USAGE);
      // The run judged is the one ZooKeeper created last (it has no results: it checked nothing).
      expect(r.stderr, r.stderr).to.match(/latest verification \(19700101T000000Z-\d{10}\)/);
      expect(router.readSide()).to.equal('legacy');
    } finally {
      await zk.remove(path);
    }
  });

  it('reports deleted, added and altered target documents exactly, and --repair fixes them', async () => {
    await sleep(1500); // let the live writes of the previous test become visible everywhere
    const alpha = docs.filter((d) => d.customer === 'alpha' && d.timestamp && !d.id.endsWith('0'));
    const deleted = [alpha[5].id, alpha[50].id, docs.find((d) => d.customer === 'beta' && !d.timestamp)!.id];
    const extra = [{ ...alpha[7], id: 'zz-extra-1' }, { ...alpha[8], id: 'zz-extra-2' }];
    const altered = [alpha[100], alpha[200]].map((d) => ({ ...d, title: 'tampered' }));
    await next.deleteById(collection, deleted);
    await next.index(collection, [...extra, ...altered], true);

    const found = await verify('--new');
    expect(found.code, found.stderr).to.equal(EXIT.DIFFERENCES);
    expect(found.report.run.status).to.equal('failed');
    expect(ids(found.report, 'missing')).to.deep.equal([...deleted].sort());
    expect(ids(found.report, 'extra')).to.deep.equal(['zz-extra-1', 'zz-extra-2']);
    expect(ids(found.report, 'different')).to.deep.equal(altered.map((d) => d.id).sort());
    expect(found.report.run.totals).to.deep.include({ missing: 3, extra: 2, different: 2 });

    const refused = await run(['cutover', '--spec', specFile, '--to', 'new']);
    expect(refused.code).to.equal(EXIT.USAGE);
    expect(refused.stderr).to.match(/found differences/);

    const repaired = await verify('--new', '--repair');
    expect(repaired.report.run.totals!.repaired).to.equal(7);
    await next.commit(collection);
    const again = await verify('--only-failed');
    expect(again.code, again.stderr).to.equal(EXIT.OK);
    expect(again.report.run.carried!.clean, 'clean slices carried over').to.be.greaterThan(0);
    expect(again.report.run.totals!.clean).to.equal(again.report.run.totals!.slices);
    const dst = await next.all(collection, 'id,title');
    for (const id of deleted) expect(dst.has(id), `${id} restored`).to.equal(true);
    for (const d of extra) expect(dst.has(d.id), `${d.id} removed`).to.equal(false);
    for (const d of altered) expect(dst.get(d.id)!.title).to.not.equal('tampered');
  });

  it('cuts over (moving the read alias), the read router sees it, per customer too, and rolls back', async () => {
    const changes: CutoverState[] = [];
    router.on('change', (s: CutoverState) => changes.push(s));
    const r = await run(['cutover', '--spec', specFile, '--to', 'new']);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.match(/reads now go to new \(verification \d{8}T/);
    for (let i = 0; i < 50 && router.readSide() !== 'new'; i++) await sleep(100);
    expect(router.readSide('alpha')).to.equal('new');
    expect(changes.length).to.be.at.least(1);
    expect((await next.aliases())[alias]).to.equal(collection);

    expect((await run(['cutover', '--spec', specFile, '--to', 'legacy'])).code).to.equal(0);
    for (let i = 0; i < 50 && router.readSide() !== 'legacy'; i++) await sleep(100);
    expect(router.readSide('alpha')).to.equal('legacy');
    expect((await legacy.aliases())[alias], 'rollback points the alias at the legacy collection').to.equal(collection);
    expect(await legacy.count(collection), 'the legacy data is untouched').to.be.greaterThan(TOTAL - 50);

    expect((await run(['cutover', '--spec', specFile, '--to', 'new', '--customer', 'beta'])).code).to.equal(0);
    for (let i = 0; i < 50 && router.readSide('beta') !== 'new'; i++) await sleep(100);
    expect(router.readSide('beta')).to.equal('new');
    expect(router.readSide('alpha')).to.equal('legacy');
    expect(router.readSide(null)).to.equal('legacy');
    const state: CutoverState = JSON.parse((await zk.getData(new Layout(root, migration).cutover)).data.toString());
    expect(state.history.map((h) => `${h.to}:${h.customer ?? '*'}`)).to.deep.equal(['new:*', 'legacy:*', 'new:beta']);
    expect(state.pending).to.equal(undefined);
  });

  it('status shows a slice held by a SIGSTOPped worker as stuck; release hands it on; the woken worker is fenced', async () => {
    const m2 = uniqueName('stuck');
    const spec2 = writeSpec({
      migration: m2,
      zookeeper: { connect: stack.zk, root, sessionTimeout: '40s' },
      source: { kind: 'solr', url: stack.solrLegacy, collection },
      target: { kind: 'solr', url: stack.solrNew, collection: uniqueName('unused') },
      slicing: { targetDocsPerSlice: 300 },
      batch: { docs: 20 },
      worker: { slicesInFlight: 1, docsPerSecond: 100 },
      status: { stuckAfter: '1s' },
    });
    // Target: a fresh collection so the copy is real work.
    const target2 = (JSON.parse(JSON.stringify(require('js-yaml').load(require('node:fs').readFileSync(spec2, 'utf8'))))).target.collection;
    await next.createCollection(target2, 1);
    try {
      expect((await run(['plan', '--spec', spec2])).code).to.equal(0);
      const stuck = start(['work', '--spec', spec2]);
      const layout = new Layout(root, m2);
      const held = async () => {
        for (const { address, node: w } of await allSlices(zk, layout)) {
          if (w.owner?.startsWith(`${hostname()}-${stuck.child.pid}-`) && w.status === 'todo' && w.counts.read >= 40) return { a: address, w };
        }
        return null;
      };
      let h = await held();
      for (let i = 0; !h && i < 300; i++) {
        await sleep(100);
        h = await held();
      }
      expect(h, 'worker holds a slice with progress').to.not.equal(null);
      stuck.child.kill('SIGSTOP');
      await sleep(2500);
      const st = await run(['status', '--spec', spec2, '--json']);
      expect(st.code).to.equal(EXIT.SLICES_FAILED);
      const status: MigrationStatus = JSON.parse(st.stdout);
      const ref = String(h!.w.index);
      expect(status.stuck.map((s) => String(s.slice))).to.include(ref);
      expect(status.workers.length).to.equal(1);
      const human = await run(['status', '--spec', spec2]);
      expect(human.stdout).to.match(/STUCK: 1 claimed slice/);

      const rel = await run(['release', '--spec', spec2, '--slice', ref]);
      expect(rel.code, rel.stderr).to.equal(0);
      expect(await zk.exists(layout.claim(h!.a))).to.equal(null);
      const atRelease: WorkNode = JSON.parse((await zk.getData(layout.slice(h!.a))).data.toString());

      const rescuer = await run(['work', '--spec', spec2]);
      expect(rescuer.code, rescuer.stderr).to.equal(EXIT.OK);
      const finished: WorkNode = JSON.parse((await zk.getData(layout.slice(h!.a))).data.toString());
      expect(finished.status).to.equal('done');
      expect(finished.counts.read).to.be.at.least(atRelease.counts.read);

      stuck.child.kill('SIGCONT');
      const woke = await stuck.done;
      expect(woke.stderr).to.match(/dropped the slice: claim lost|stopping/);
      const afterWake: WorkNode = JSON.parse((await zk.getData(layout.slice(h!.a))).data.toString());
      expect(afterWake).to.deep.equal(finished, 'the woken worker changed nothing: no cursor moved back');
      await next.commit(target2);
      expect(await next.count(target2)).to.equal(await legacy.count(collection));
    } finally {
      await next.deleteCollection(target2);
    }
  });

  it('refuses to verify (and to cut over) a half-made plan: slices without the plan node never pass', async () => {
    // What a planner that died after writing slices, before its plan node (written last), leaves behind.
    const layout = new Layout(root, migration);
    const plan = await zk.getData(layout.plan);
    await zk.remove(layout.plan);
    try {
      const runsBefore = (await zk.getChildren(layout.verify)).sort();
      const r = await run(['verify-integrity', '--spec', specFile]);
      expect(r.code, r.stderr).to.equal(EXIT.USAGE);
      expect(r.stderr).to.match(/has no finished plan[\s\S]*bluegreen plan/);
      expect((await zk.getChildren(layout.verify)).sort(), 'no verification run was started').to.deep.equal(runsBefore);
      const c = await run(['cutover', '--spec', specFile, '--to', 'new']);
      expect(c.code).to.equal(EXIT.USAGE);
      expect(c.stderr).to.match(/no finished plan/);
    } finally {
      await zk.create(layout.plan, plan.data);
    }
  });

  /** Rewrites a JSON node in place (what a run of days ago would have left). */
  const rewrite = async (path: string, f: (v: any) => any) => {
    const got = await zk.getData(path);
    await zk.setData(path, encodeJson(f(JSON.parse(got.data.toString()))), got.stat.version);
  };
  const readFlag = async (): Promise<CutoverState> => JSON.parse((await zk.getData(new Layout(root, migration).cutover)).data.toString());

  it('judges a verification by its oldest check: an --only-failed run after an old clean run does not make it fresh', async () => {
    const layout = new Layout(root, migration);
    const DAY = 86_400_000;
    const base = await verify('--new');
    expect(base.code, base.stderr).to.equal(EXIT.OK);
    // That run, made ten days old: its own times and each slice's check times, as ZooKeeper would hold them.
    const then = Date.now() - 10 * DAY;
    const runPath = `${layout.verify}/${base.report.run.id}`;
    await rewrite(runPath, (r) => ({ ...r, startedAt: then, finishedAt: then + 60_000, oldestCheckAt: then + 1000 }));
    let rewritten = 0;
    for (const b of await zk.getChildren(`${runPath}/tally`)) {
      await rewrite(`${runPath}/tally/${b}`, (t) => ({ ...t, oldestCheckAt: then + 1000 }));
      rewritten++;
    }
    expect(rewritten).to.be.greaterThan(0);

    // --only-failed re-checks nothing (every slice was clean): it passes at once, carrying every slice over.
    const again = await verify('--only-failed');
    expect(again.code, again.stderr).to.equal(EXIT.OK);
    expect(again.report.run.startedAt, 'the run itself is new').to.be.greaterThan(Date.now() - DAY);
    expect(again.report.run.scope).to.deep.equal({ failedOf: base.report.run.id });
    expect(again.report.run.carried).to.deep.include({ clean: base.report.run.totals!.slices, oldestCheckAt: then + 1000, startedAt: then });
    expect(again.report.run.oldestCheckAt).to.equal(then + 1000);
    const flagBefore = await readFlag();

    // The copy finished after those checks: refused as such, naming a carried slice.
    const early = await run(['cutover', '--spec', specFile, '--to', 'new']);
    expect(early.code, early.stderr).to.equal(EXIT.USAGE);
    expect(early.stderr).to.match(new RegExp(`verification behind the latest run \\(${again.report.run.id}\\) started before the copy finished \\(a slice finished at \\S+\\)`));

    // The copy finished before them (eleven days ago): now only their age stands in the way.
    for (const b of await zk.getChildren(layout.summaries)) await rewrite(layout.summary(b), (sm) => ({ ...sm, lastFinishedAt: then - DAY }));
    const old = await run(['cutover', '--spec', specFile, '--to', 'new']);
    expect(old.code, old.stderr).to.equal(EXIT.USAGE);
    expect(old.stderr).to.match(new RegExp(`verification behind the latest run \\(${again.report.run.id}\\) is too old: its oldest check is 10d\\d\\dh old, more than cutover\\.maxVerificationAge \\(1d00h\\)`));
    expect(old.stderr).to.match(/verify-integrity --new/);
    expect(await readFlag(), 'a refusal writes nothing').to.deep.equal(flagBefore);
    expect(router.readSide()).to.equal('legacy');
    expect((await legacy.aliases())[alias]).to.equal(collection);

    // A full verification checks every slice again: that one allows the cutover.
    const fresh = await verify('--new');
    expect(fresh.code, fresh.stderr).to.equal(EXIT.OK);
    const ok = await run(['cutover', '--spec', specFile, '--to', 'new']);
    expect(ok.code, ok.stderr).to.equal(EXIT.OK);
    expect(ok.stdout).to.include(`verification ${fresh.report.run.id}`);
    const back = await run(['cutover', '--spec', specFile, '--to', 'legacy']);
    expect(back.code, back.stderr).to.equal(EXIT.OK);
  });

  it('a rollback abandons a pending cutover to new: reads go straight to legacy, the alias never points at the new collection', async () => {
    const path = new Layout(root, migration).cutover;
    const got = await zk.getData(path);
    const state: CutoverState = JSON.parse(got.data.toString());
    expect(state.read).to.equal('legacy');
    expect(state.pending).to.equal(undefined);
    // The aliases as a rollback leaves them, minus the new cluster's: any move towards new would show there.
    await next.deleteAlias(alias);
    expect((await next.aliases())[alias], 'no alias on the new cluster before').to.equal(undefined);
    expect((await legacy.aliases())[alias]).to.equal(collection);
    // What a `cutover --to new` interrupted before its alias step leaves: the transition recorded as pending.
    const pending = { to: 'new' as const, customer: null, by: 'an interrupted cutover', at: Date.now(), verification: null };
    await zk.setData(path, encodeJson({ ...state, pending }), got.stat.version);

    const r = await run(['cutover', '--spec', specFile, '--to', 'legacy']);
    expect(r.code, r.stderr).to.equal(EXIT.OK);
    expect(r.stdout).to.match(/reads now go to legacy/);
    expect((await next.aliases())[alias], 'the alias never pointed at the new collection').to.equal(undefined);
    expect((await legacy.aliases())[alias]).to.equal(collection);
    const after = await readFlag();
    expect(after.read).to.equal('legacy');
    expect(after.customers).to.deep.equal({});
    expect(after.pending).to.equal(undefined);
    expect(after.history.slice(0, state.history.length)).to.deep.equal(state.history);
    const added = after.history.slice(state.history.length);
    expect(added.map((h) => `${h.to}:${h.customer ?? '*'}:${h.abandoned ? 'abandoned' : 'done'}`)).to.deep.equal(['new:*:abandoned', 'legacy:*:done']);
    expect(added[0]).to.deep.include({ by: pending.by, at: pending.at });
    expect(router.readSide()).to.equal('legacy');
  });
});
