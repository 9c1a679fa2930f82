/**
 * The fleet end to end on the real stack: Elasticsearch 7.17 (legacy) → 8.19 (new), several planners
 * and workers as real processes, one killed with SIGKILL mid-slice and one stopped with SIGTERM.
 * The same scenarios as solrMigration.test.ts, plus what only Elasticsearch has: custom routing.
 */
import { expect } from 'chai';
import { hostname } from 'node:os';
import { Layout } from '../../src/coordination/layout';
import type { ZkSession } from '../../src/coordination/zk';
import { generateDocs, type CustomerProfile } from '../../src/demo/dataset';
import { EXIT } from '../../src/errors';
import { run, start, writeRetriesLogged, writeSpec } from '../support/cli';
import { EsAdmin, TEST_MAPPING, type EsDocIn } from '../support/esAdmin';
import { allClaims, allSlices, customerIndex, freezeWhen, midSlice, planNode } from '../support/fleet';
import { connectZk, stack, uniqueName, versionsSeen } from '../support/stack';

const PROFILES: CustomerProfile[] = [
  { name: 'big', docs: 5000, spanDays: 3 },
  { name: 'medium', docs: 1500, spanDays: 90, noTimestamp: 12 },
  { name: 'small', docs: 300, spanDays: 1100 },
  { name: null, docs: 25, spanDays: 30, noTimestamp: 3 },
];
const BIG_DOC = 'small-0000100';
const TOTAL = PROFILES.reduce((s, p) => s + p.docs, 0);
const BATCH = 100;
const BATCH_BYTES = 256 * 1024;
/** Every 40th document of medium is written with custom routing: it must arrive with it. */
const routingOf = (id: string) => (id.startsWith('medium-') && Number(id.slice(-7)) % 40 === 0 ? `tenant-shard-${Number(id.slice(-7)) % 7}` : undefined);

describe('Elasticsearch 7 → Elasticsearch 8 migration, end to end', function () {
  this.timeout(300_000);
  const legacy = new EsAdmin(stack.esLegacy);
  const next = new EsAdmin(stack.esNew);
  const index = uniqueName('bgtest_es_e2e');
  const migration = uniqueName('e2e');
  const root = `/${uniqueName('bgtest')}`;
  const layout = new Layout(root, migration);
  let zk: ZkSession;
  let specFile: string;
  const liveIds = ['big-0000010', 'big-0000500', 'medium-0000700', 'small-0000042'];
  let routed: string[] = [];

  before(async () => {
    zk = await connectZk();
    versionsSeen.set('Elasticsearch legacy', await legacy.version());
    versionsSeen.set('Elasticsearch new', await next.version());
    await legacy.createIndex(index, { settings: { number_of_shards: 2, number_of_replicas: 0 }, mappings: TEST_MAPPING });
    await next.createIndex(index, { settings: { number_of_shards: 3, number_of_replicas: 0 }, mappings: TEST_MAPPING });
    const docs: EsDocIn[] = [...generateDocs(PROFILES, Date.UTC(2025, 5, 1), 7)].map((d) => {
      // One document close to the byte cap: it must travel (alone) and arrive whole.
      const source = d.id === BIG_DOC ? { ...d, body: 'x'.repeat(BATCH_BYTES - 4096) } : d;
      return { _id: d.id, source, routing: routingOf(d.id) };
    });
    routed = docs.filter((d) => d.routing).map((d) => d._id);
    await legacy.index(index, docs);
    // Live writes that reached the new cluster before the copy, with newer content: they must win.
    await next.index(index, liveIds.map((id) => ({ _id: id, routing: routingOf(id), source: { id, title: 'LIVE newer content', customer: id.split('-')[0] } })));
    specFile = writeSpec({
      migration,
      zookeeper: { connect: stack.zk, root, sessionTimeout: '6s' },
      source: { kind: 'elasticsearch', url: stack.esLegacy, collection: index },
      target: { kind: 'elasticsearch', url: stack.esNew, collection: index },
      slicing: { targetDocsPerSlice: 600 },
      batch: { docs: BATCH, bytes: '256KB' },
      // Slow enough that the kills below land mid-slice.
      worker: { slicesInFlight: 2, docsPerSecond: 800 },
    });
  });

  after(async () => {
    await zk.removeRecursive(root);
    zk.close();
    await Promise.all([legacy.deleteIndex(index), next.deleteIndex(index)]);
  });

  it('plans from two planners at once, once, with counts and histograms', async () => {
    const [a, b] = await Promise.all([run(['plan', '--spec', specFile]), run(['plan', '--spec', specFile])]);
    expect(a.code, a.stderr).to.equal(0);
    expect(b.code, b.stderr).to.equal(0);
    const index = await customerIndex(zk, layout);
    const customers = [...index.keys()].sort();
    expect(customers).to.deep.equal(['_none', 'big', 'medium', 'small']);
    const plan = (await planNode(zk, layout))!;
    // Elasticsearch counts are exact: the estimates add up to every document, no-timestamp ones included.
    expect(plan.estimate).to.equal(TOTAL);
    const slices = await allSlices(zk, layout);
    expect(slices.length).to.equal(plan.slices);
    expect(slices.reduce((n, x) => n + x.node.estimate, 0)).to.equal(TOTAL);
    const perCustomer = (c: string | null) => slices.filter((s) => s.node.customers.includes(c));
    expect(perCustomer('big').length).to.be.greaterThan(perCustomer('small').length);
    // A cut customer's no-timestamp documents have a slice of their own; a packed one's travel in its whole slice.
    expect(perCustomer('medium').find((s) => s.node.bounds.kind === 'no-timestamp')!.node.estimate).to.equal(12);
    expect(perCustomer(null)).to.have.length(1);
    expect(perCustomer(null)[0].node.bounds.kind).to.equal('all');
    expect(perCustomer(null)[0].node.customers).to.deep.equal(['small', null]);
    expect(perCustomer(null)[0].node.estimate).to.equal(325);
    const planned = slices.length;
    const led = (out: string) => out.split('\n').filter((l) => /\bplanned$/.test(l)).length;
    expect(led(a.stdout) + led(b.stdout)).to.equal(customers.length);

    const again = await run(['plan', '--spec', specFile]);
    expect(again.code, again.stderr).to.equal(0);
    expect((await allSlices(zk, layout)).length).to.equal(planned, 're-planning adds no slices');
  });

  it('copies with three workers, survives SIGKILL and SIGTERM, loses and overwrites nothing, keeps routing', async () => {
    const host = hostname();
    const w1 = start(['work', '--spec', specFile]);
    const w2 = start(['work', '--spec', specFile]);
    const w3 = start(['work', '--spec', specFile]);
    // Each worker is frozen (SIGSTOP) before it is signalled, so the signal lands mid-slice.
    const killedSlices = await freezeWhen('worker 1 to be frozen mid-slice', w1, midSlice(zk, layout, w1, BATCH));
    w1.child.kill('SIGKILL');
    const r1 = await w1.done;
    expect(r1.signal).to.equal('SIGKILL');
    const atKill = new Map(killedSlices.map((s) => [s.path, s.node]));
    // The checkpoint is search_after's sort values, not a scroll or point-in-time id.
    for (const s of killedSlices) expect(JSON.parse(s.node.cursor!)).to.be.an('array').with.length(1);

    await freezeWhen('worker 2 to be frozen mid-slice', w2, midSlice(zk, layout, w2, BATCH));
    w2.child.kill('SIGTERM'); // delivered when it runs again
    w2.child.kill('SIGCONT');
    const r2 = await w2.done;
    expect(r2.code, r2.stderr).to.equal(EXIT.INTERRUPTED);
    // It stopped gracefully, mid-slice: the slice is left at its checkpoint.
    expect(r2.stderr).to.contain('stopping: finishing current batches');
    // No claim of worker 2 is left: its slices are free for the others, at their checkpoints.
    for (const c of await allClaims(zk, layout)) expect(c.worker, `claim ${c.path}`).not.to.match(new RegExp(`^${host}-${w2.child.pid}-`));

    const w4 = start(['work', '--spec', specFile]);
    const [r3, r4] = await Promise.all([w3.done, w4.done]);
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

    await next.refresh(index);
    const [src, dst] = await Promise.all([legacy.all(index), next.all(index)]);
    expect(src.size).to.equal(TOTAL);
    expect(dst.size).to.equal(TOTAL, 'every document arrived exactly once');
    expect([...src.keys()].filter((id) => !dst.has(id))).to.deep.equal([]);
    for (const id of liveIds) expect(dst.get(id)!.source.title, `${id} kept its live content`).to.equal('LIVE newer content');
    for (const [id, d] of src) {
      if (liveIds.includes(id)) continue;
      expect(dst.get(id)!.source, id).to.deep.equal(d.source);
      expect(dst.get(id)!.routing, `${id} routing`).to.equal(d.routing);
    }
    // Routed documents are where their routing puts them: a routed get finds them.
    expect(routed.length).to.be.greaterThan(20);
    for (const id of routed.slice(0, 10)) {
      const got = await next.get(index, id, routingOf(id));
      expect(got, id).to.not.equal(null);
      expect(got!.routing).to.equal(routingOf(id));
    }
    expect(dst.get(BIG_DOC)!.source.body).to.have.length(BATCH_BYTES - 4096);
    const copied = [...dst].filter(([id]) => !liveIds.includes(id)).map(([, d]) => d.source);
    expect(copied.filter((d) => d.timestamp === undefined).length).to.equal(15);
    expect([...dst.values()].filter((d) => d.source.customer === undefined).length).to.equal(25);
    const skipped = final.reduce((s, x) => s + x.node.counts.skipped, 0);
    expect(skipped).to.be.at.least(liveIds.length);
    const written = final.reduce((s, x) => s + x.node.counts.written, 0);
    expect(written).to.be.at.most(TOTAL - liveIds.length);
    // What a worker wrote again counts skipped (its own copy won): the pages the killed worker had
    // written but not checkpointed — per slice in flight the page whose checkpoint was on its way and the
    // one being written (pipelined lanes) — and any batch sent again after a write that failed (a
    // timeout on a busy machine can land and still fail), each logged as a write backing off.
    const writeRetries = writeRetriesLogged(logs);
    expect(written).to.be.at.least(TOTAL - liveIds.length - BATCH * (2 * atKill.size + writeRetries));
    expect(final.reduce((s, x) => s + x.node.counts.rejected, 0)).to.equal(0);
  });
});
