/**
 * The fleet end to end on the real stack: Solr 8 (legacy) → Solr 9 (new), several planners and
 * workers as real processes, one killed with SIGKILL mid-slice and one stopped with SIGTERM.
 */
import { expect } from 'chai';
import { hostname } from 'node:os';
import { SolrAdmin } from '../../src/demo/solrAdmin';
import { generateDocs, type CustomerProfile } from '../../src/demo/dataset';
import { Layout } from '../../src/coordination/layout';
import type { ZkSession } from '../../src/coordination/zk';
import { EXIT } from '../../src/errors';
import { run, start, writeRetriesLogged, writeSpec } from '../support/cli';
import { allClaims, allSlices, customerIndex, freezeWhen, midSlice, planNode } from '../support/fleet';
import { connectZk, stack, uniqueName } from '../support/stack';

const PROFILES: CustomerProfile[] = [
  { name: 'big', docs: 6000, spanDays: 3 },
  { name: 'medium', docs: 1500, spanDays: 90, noTimestamp: 12 },
  { name: 'small', docs: 300, spanDays: 1100 },
  { name: null, docs: 25, spanDays: 30 },
];
const TOTAL = PROFILES.reduce((s, p) => s + p.docs, 0);
const BATCH = 100;

describe('Solr 8 → Solr 9 migration, end to end', function () {
  this.timeout(300_000);
  const legacy = new SolrAdmin(stack.solrLegacy);
  const next = new SolrAdmin(stack.solrNew);
  const collection = uniqueName('bgtest_e2e');
  const migration = uniqueName('e2e');
  const root = `/${uniqueName('bgtest')}`;
  const layout = new Layout(root, migration);
  let zk: ZkSession;
  let specFile: string;
  const liveIds = ['big-0000010', 'big-0000500', 'medium-0000700', 'small-0000042'];

  before(async () => {
    zk = await connectZk();
    await Promise.all([legacy.createCollection(collection), next.createCollection(collection)]);
    const end = Date.UTC(2025, 5, 1);
    await legacy.index(collection, [...generateDocs(PROFILES, end, 7)], true);
    // Live writes that reached the new cluster before the copy, with newer content: they must win.
    await next.index(collection, liveIds.map((id) => ({ id, title: 'LIVE newer content', customer: id.split('-')[0] })), true);
    specFile = writeSpec({
      migration,
      zookeeper: { connect: stack.zk, root, sessionTimeout: '6s' },
      source: { kind: 'solr', url: stack.solrLegacy, collection },
      target: { kind: 'solr', url: stack.solrNew, collection },
      slicing: { targetDocsPerSlice: 600 },
      batch: { docs: BATCH, bytes: '256KB' },
      // Slow enough that the kills below land mid-slice.
      worker: { slicesInFlight: 2, docsPerSecond: 800 },
    });
  });

  after(async () => {
    await zk.removeRecursive(root);
    zk.close();
    await Promise.all([legacy.deleteCollection(collection), next.deleteCollection(collection)]);
  });

  it('plans from two planners at once, once', async () => {
    const [a, b] = await Promise.all([run(['plan', '--spec', specFile]), run(['plan', '--spec', specFile])]);
    expect(a.code, a.stderr).to.equal(0);
    expect(b.code, b.stderr).to.equal(0);
    const index = await customerIndex(zk, layout);
    const customers = [...index.keys()].sort();
    expect(customers).to.deep.equal(['_none', 'big', 'medium', 'small']);
    const plan = (await planNode(zk, layout))!;
    expect(plan.estimate).to.equal(TOTAL);
    expect(plan.customers).to.equal(4);
    const slices = await allSlices(zk, layout);
    expect(slices.length, 'one work node per planned slice').to.equal(plan.slices);
    expect(slices.reduce((n, s) => n + s.node.estimate, 0), 'every document in exactly one slice').to.equal(TOTAL);
    for (const [cn, e] of index) {
      const docs = PROFILES.find((p) => (p.name ?? '_none') === cn)!.docs;
      expect(e.docs, `documents of ${cn}`).to.equal(docs);
    }
    // The busy customer is cut into many short slices; the small ones share one (packed).
    const perCustomer = (c: string | null) => slices.filter((s) => s.node.customers.includes(c)).length;
    expect(perCustomer('big')).to.be.greaterThan(2);
    expect(perCustomer('small')).to.equal(1);
    const packed = slices.find((s) => s.node.customers.includes('small'))!;
    expect(packed.node.customers, 'small customers packed together').to.include(null);
    expect(packed.node.bounds.kind).to.equal('all');
    const planned = slices.length;
    // "outcome" tells which planner led each customer; between them they planned each exactly once.
    const led = (out: string) => out.split('\n').filter((l) => /\bplanned$/.test(l)).length;
    expect(led(a.stdout) + led(b.stdout)).to.equal(customers.length);

    const again = await run(['plan', '--spec', specFile]);
    expect(again.code, again.stderr).to.equal(0);
    expect((await allSlices(zk, layout)).length).to.equal(planned, 're-planning adds no slices');
  });

  it('copies with three workers, survives SIGKILL and SIGTERM, loses and overwrites nothing', async () => {
    const host = hostname();
    const w1 = start(['work', '--spec', specFile]);
    const w2 = start(['work', '--spec', specFile]);
    const w3 = start(['work', '--spec', specFile]);
    // SIGKILL w1 mid-slice.
    // Each worker is frozen (SIGSTOP) before it is signalled, so the signal lands mid-slice.
    const killedSlices = await freezeWhen('worker 1 to be frozen mid-slice', w1, midSlice(zk, layout, w1, BATCH));
    w1.child.kill('SIGKILL');
    const r1 = await w1.done;
    expect(r1.signal).to.equal('SIGKILL');
    const atKill = new Map(killedSlices.map((s) => [s.path, s.node]));

    // SIGTERM w2 mid-slice: it must checkpoint, release its claims and exit 143.
    await freezeWhen('worker 2 to be frozen mid-slice', w2, midSlice(zk, layout, w2, BATCH));
    w2.child.kill('SIGTERM'); // delivered when it runs again
    w2.child.kill('SIGCONT');
    const r2 = await w2.done;
    expect(r2.code, r2.stderr).to.equal(EXIT.INTERRUPTED);
    // It stopped gracefully, mid-slice: the slice is left at its checkpoint.
    expect(r2.stderr).to.contain('stopping: finishing current batches');
    // None of the claims left is w2's (another worker may already have taken one of its slices).
    const w2Prefix = `${host}-${w2.child.pid}-`;
    for (const c of await allClaims(zk, layout)) expect(c.worker, `claim ${c.path} released by w2`).to.not.match(new RegExp(`^${w2Prefix}`));

    // A fourth worker joins; w1's claims vanish with its session (6 s), then its slices resume.
    const w4 = start(['work', '--spec', specFile]);
    const [r3, r4] = await Promise.all([w3.done, w4.done]);
    // Either may finish while the other still holds the last slice.
    // Exit 3 while the killed worker's claims linger (until its session times out), else 0.
    for (const r of [r3, r4]) expect([EXIT.OK, EXIT.ALL_CLAIMED], r.stderr).to.include(r.code);
    const logs = [r1.stderr, r2.stderr, r3.stderr, r4.stderr];
    let final = await allSlices(zk, layout);
    if (final.some((s) => s.node.status !== 'done')) {
      // w1's claim may still have been alive when both exited: one more worker finishes the job.
      await new Promise((r) => setTimeout(r, 7000));
      const w5 = await run(['work', '--spec', specFile]);
      expect(w5.code, w5.stderr).to.equal(EXIT.OK);
      logs.push(w5.stderr);
      final = await allSlices(zk, layout);
    }
    expect(final.filter((s) => s.node.status !== 'done').map((s) => s.path)).to.deep.equal([]);

    // The killed worker's slices resumed from their checkpoints: at most one page read twice.
    for (const [path, before] of atKill) {
      const after = final.find((s) => s.path === path)!.node;
      expect(after.counts.read, `${path} re-read`).to.be.at.most(after.estimate + BATCH);
      expect(after.counts.read).to.be.at.least(before.counts.read);
      expect(after.attempts).to.be.at.least(2);
      expect(after.counts.written + after.counts.skipped).to.equal(after.counts.read);
    }

    await next.commit(collection);
    const [src, dst] = await Promise.all([legacy.all(collection, 'id,title,timestamp,customer'), next.all(collection, 'id,title,timestamp,customer')]);
    expect(src.size).to.equal(TOTAL);
    expect(dst.size).to.equal(TOTAL, 'every document arrived exactly once');
    const missing = [...src.keys()].filter((id) => !dst.has(id));
    expect(missing).to.deep.equal([]);
    for (const id of liveIds) expect(dst.get(id)!.title, `${id} kept its live content`).to.equal('LIVE newer content');
    for (const [id, d] of src) if (!liveIds.includes(id)) expect(dst.get(id)!.title, id).to.deep.equal(d.title);
    // No-timestamp and no-customer documents are there too.
    const copied = [...dst].filter(([id]) => !liveIds.includes(id)).map(([, d]) => d);
    expect(copied.filter((d) => d.timestamp === undefined).length).to.equal(12);
    expect([...dst.values()].filter((d) => d.customer === undefined).length).to.equal(25);
    // Skips are counted: the live documents (and re-copied pages) were never overwritten.
    const skipped = final.reduce((s, x) => s + x.node.counts.skipped, 0);
    expect(skipped).to.be.at.least(liveIds.length);
    // Pages written but not yet checkpointed when w1 was killed count as skipped on the re-copy: per
    // slice in flight the page whose checkpoint was on its way and the one being written (pipelined
    // lanes); so does a batch sent again after a write that failed but landed (a timeout on a busy
    // machine), each logged as a write backing off.
    const written = final.reduce((s, x) => s + x.node.counts.written, 0);
    expect(written).to.be.at.most(TOTAL - liveIds.length);
    const writeRetries = writeRetriesLogged(logs);
    expect(written).to.be.at.least(TOTAL - liveIds.length - BATCH * (2 * atKill.size + writeRetries));
  });
});
