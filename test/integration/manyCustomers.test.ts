/**
 * Thousands of tenants on the real stack (issue 14): 2,000 customers, most tiny, a few big, Solr 8 →
 * Solr 9. Small customers are packed into effort-sized slices; three planners make one plan; a worker
 * killed in a packed slice resumes from its checkpoint; every document is copied once and verified;
 * a difference inside a packed slice is reported with its own customer's ids; a customer of that
 * slice whose documents are equal can be cut over on its own.
 */
import { expect } from 'chai';
import { SolrAdmin } from '../../src/demo/solrAdmin';
import { generateDocs, type CustomerProfile } from '../../src/demo/dataset';
import { CLAIM_SUFFIX, Layout, customerNodeName } from '../../src/coordination/layout';
import type { ZkSession } from '../../src/coordination/zk';
import { EXIT } from '../../src/errors';
import type { VerifyReport } from '../../src/verifier/verifier';
import type { MigrationStatus } from '../../src/status/status';
import { spawn } from 'node:child_process';
import { BIN, run, start, writeSpec } from '../support/cli';
import { allSlices, customerIndex, freezeWhen, midSlice, planNode } from '../support/fleet';
import { connectZk, stack, uniqueName } from '../support/stack';

const TARGET = 400;
const BATCH = 40;
/**
 * 2,000 customers: three big ones cut by time, the rest 1 to 12 documents each (a few without a
 * timestamp), with long names (as tenant ids can be): a packed slice's work node is then tens of KB,
 * and a plan's writes must still fit ZooKeeper's request limit (jute.maxbuffer, 1 MB).
 */
const LONG = 'x'.repeat(600);
const PROFILES: CustomerProfile[] = [
  { name: 'huge-a', docs: 1500, spanDays: 30 },
  { name: 'huge-b', docs: 1200, spanDays: 200, noTimestamp: 7 },
  { name: 'huge-c', docs: 900, spanDays: 5 },
  ...Array.from({ length: 1996 }, (_, i) => ({ name: `tenant-${String(i).padStart(4, '0')}-${LONG}`, docs: 1 + ((i * 7) % 12), spanDays: 400, noTimestamp: i % 50 === 0 ? 1 : 0 })),
  { name: null, docs: 30, spanDays: 10 },
];
const TOTAL = PROFILES.reduce((s, p) => s + p.docs, 0);

describe('thousands of customers: packed slices, one plan, a queue (Solr 8 → 9)', function () {
  this.timeout(600_000);
  const legacy = new SolrAdmin(stack.solrLegacy);
  const next = new SolrAdmin(stack.solrNew);
  const collection = uniqueName('bgtest_many');
  const migration = uniqueName('many');
  const root = `/${uniqueName('bgtest')}`;
  const layout = new Layout(root, migration);
  let zk: ZkSession;
  let specFile: string;

  before(async () => {
    zk = await connectZk();
    await Promise.all([legacy.createCollection(collection), next.createCollection(collection)]);
    const docs = [...generateDocs(PROFILES, Date.UTC(2025, 5, 1), 11)];
    for (let i = 0; i < docs.length; i += 5000) await legacy.index(collection, docs.slice(i, i + 5000));
    await legacy.commit(collection);
    specFile = writeSpec({
      migration,
      zookeeper: { connect: stack.zk, root, sessionTimeout: '6s' },
      source: { kind: 'solr', url: stack.solrLegacy, collection },
      target: { kind: 'solr', url: stack.solrNew, collection },
      slicing: { targetDocsPerSlice: TARGET },
      batch: { docs: BATCH },
      verify: { gracePeriod: '1s' },
      // Slow enough that the kill below lands mid-slice.
      worker: { slicesInFlight: 2, docsPerSecond: 1500 },
    });
  });

  after(async () => {
    await zk.removeRecursive(root);
    zk.close();
    await Promise.all([legacy.deleteCollection(collection), next.deleteCollection(collection)]);
  });

  it('three planners at once make one plan: every customer in exactly one place, slices effort-sized, none empty', async () => {
    expect(await legacy.count(collection)).to.equal(TOTAL);
    const outs = await Promise.all([1, 2, 3].map(() => run(['plan', '--spec', specFile, '--json'])));
    for (const o of outs) expect(o.code, o.stderr.slice(-1500)).to.equal(0);
    // One planner led (outcome "planned"), the others waited for it and report the same plan.
    const rows = outs.map((o) => JSON.parse(o.stdout) as Array<{ customer: string | null; outcome: string; docs: number }>);
    expect(rows.map((r) => r.length)).to.deep.equal([PROFILES.length, PROFILES.length, PROFILES.length]);
    expect(rows.filter((r) => r.every((x) => x.outcome === 'planned'))).to.have.length(1);

    const plan = (await planNode(zk, layout))!;
    expect(plan.customers).to.equal(PROFILES.length);
    expect(plan.estimate).to.equal(TOTAL);
    const slices = await allSlices(zk, layout);
    expect(slices).to.have.length(plan.slices);
    expect(slices.reduce((n, s) => n + s.node.estimate, 0), 'every document in exactly one slice').to.equal(TOTAL);
    expect(slices.filter((s) => s.node.estimate === 0), 'no empty slice to claim').to.deep.equal([]);
    // Effort-sized: about TOTAL / TARGET slices, not one (or two) per tenant.
    expect(slices.length).to.be.below(Math.ceil(TOTAL / TARGET) * 2 + 10);
    const packed = slices.filter((s) => s.node.customers.length > 1);
    expect(packed.length).to.be.greaterThan(10);
    for (const s of packed) {
      expect(s.node.bounds.kind).to.equal('all');
      expect(s.node.estimate).to.be.at.most(TARGET);
    }
    // Each customer is held by exactly the slices the index names, and by no other.
    const index = await customerIndex(zk, layout);
    expect(index.size).to.equal(PROFILES.length);
    for (const p of PROFILES) {
      const e = index.get(customerNodeName(p.name))!;
      const holding = slices.filter((s) => s.node.customers.includes(p.name)).map((s) => s.node.index);
      expect(holding, `slices of ${p.name}`).to.deep.equal(Array.from({ length: e.count }, (_, i) => e.first + i));
      expect(e.docs).to.equal(p.docs);
    }
    // Big customers are cut by time; their no-timestamp documents have a slice only where they exist.
    const of = (c: string) => slices.filter((s) => s.node.customers.includes(c));
    expect(of('huge-a').length).to.be.at.least(3);
    expect(of('huge-a').some((s) => s.node.bounds.kind === 'no-timestamp')).to.equal(false);
    expect(of('huge-b').filter((s) => s.node.bounds.kind === 'no-timestamp').map((s) => s.node.estimate)).to.deep.equal([7]);
    // No listing grows with the customers: the widest node of the tree is far below 2,000 children.
    let widest = 0;
    const walk = async (path: string): Promise<void> => {
      const children = await zk.childrenOrEmpty(path);
      widest = Math.max(widest, children.length);
      for (const c of children) await walk(`${path}/${c}`);
    };
    await walk(layout.base);
    expect(widest).to.be.below(200);
  });

  it('a worker killed in a packed slice: the slice resumes from its checkpoint; every document arrives exactly once', async () => {
    const w1 = start(['work', '--spec', specFile]);
    const w2 = start(['work', '--spec', specFile]);
    const inPacked = midSlice(zk, layout, w1, BATCH);
    const victims = await freezeWhen('worker 1 to be frozen in a packed slice', w1, async () => {
      const held = await inPacked();
      const packed = held?.filter((s) => s.node.customers.length > 1);
      return packed?.length ? packed : null;
    }, 120_000);
    const atKill = new Map(victims.map((v) => [v.node.index, v.node]));
    w1.child.kill('SIGKILL');
    await w1.done;
    const r2 = await w2.done;
    expect([EXIT.OK, EXIT.ALL_CLAIMED], r2.stderr.slice(-1500)).to.include(r2.code);
    // Two workers started together read the plan's work nodes once between them (validateOnce).
    const logs = [w1.output().stderr, r2.stderr];
    const said = (msg: string) => logs.filter((l) => l.includes(`"msg":"${msg}"`)).length;
    expect(said('checked every unfinished work node of the plan'), 'one worker checked the work nodes').to.equal(1);
    expect(said('the plan\'s work nodes were checked by another worker'), 'the other one relied on its record').to.equal(1);
    // What coordination cost, counted by purpose: a claim is a listing, a read and a multi at least; a
    // checkpoint one multi, the finishing one also reads its bucket summary.
    const finished = JSON.parse(r2.stderr.split('\n').find((l) => l.includes('"msg":"worker finished"'))!);
    const z = finished.zookeeper;
    expect(z.claims, 'worker 2 claimed slices').to.be.greaterThan(0);
    expect(z.claim, 'claim requests').to.be.at.least(3 * z.claims);
    expect(z.checkpoints, 'checkpoints').to.be.at.least(z.claims);
    expect(z.checkpoint, 'checkpoint requests: one multi each, plus a summary read per finished slice').to.be.at.least(z.checkpoints).and.at.most(z.checkpoints + 3 * z.claims);
    expect(z.check ?? 0, 'start-up check').to.be.greaterThan(0);
    // The killed worker's claims go with its session (6 s); then one more worker finishes.
    let slices = await allSlices(zk, layout);
    if (slices.some((s) => s.node.status !== 'done')) {
      await new Promise((r) => setTimeout(r, 7000));
      const w3 = await run(['work', '--spec', specFile]);
      expect(w3.code, w3.stderr.slice(-1500)).to.equal(EXIT.OK);
      slices = await allSlices(zk, layout);
    }
    expect(slices.filter((s) => s.node.status !== 'done').map((s) => s.node.index)).to.deep.equal([]);
    for (const [index, before] of atKill) {
      const after = slices.find((s) => s.node.index === index)!.node;
      expect(after.attempts, `slice ${index} taken again`).to.be.at.least(2);
      expect(after.counts.read, `slice ${index} resumed from its checkpoint, at most a page read twice`).to.be.at.most(after.estimate + BATCH);
      expect(after.counts.read).to.be.at.least(before.counts.read);
    }
    // The queue is empty (finished slices leave it), and the summaries count every slice.
    for (const b of await zk.childrenOrEmpty(layout.queue)) {
      expect((await zk.childrenOrEmpty(layout.queueBucket(b))).filter((n) => !n.endsWith(CLAIM_SUFFIX)), `queue bucket ${b}`).to.deep.equal([]);
    }
    // A long answer into a pipe its reader drains late (a slow `| jq`) arrives whole: the CLI waits for
    // stdout before it exits.
    const slow = spawn(process.execPath, [BIN, 'status', '--spec', specFile, '--json', '--all'], { stdio: ['ignore', 'pipe', 'ignore'] });
    slow.stdout!.pause();
    await new Promise((r) => setTimeout(r, 1500));
    let text = '';
    slow.stdout!.on('data', (d) => (text += d));
    slow.stdout!.resume();
    await new Promise((r) => slow.on('close', r));
    expect(text.length, 'more than a pipe buffer').to.be.greaterThan(256 * 1024);
    const st: MigrationStatus = JSON.parse(text);
    expect(st.customers).to.have.length(PROFILES.length);
    expect(st.totals.slices.done).to.equal(slices.length);
    expect(st.totals.read).to.equal(slices.reduce((n, s) => n + s.node.counts.read, 0));
    expect(st.customerCount).to.equal(PROFILES.length);

    await next.commit(collection);
    const [src, dst] = await Promise.all([legacy.all(collection, 'id'), next.all(collection, 'id')]);
    expect(dst.size).to.equal(TOTAL);
    expect([...src.keys()].filter((id) => !dst.has(id))).to.deep.equal([]);
  });

  it('verifies every slice clean, keeping no result for clean slices', async () => {
    const v = await run(['verify-integrity', '--spec', specFile, '--json']);
    expect(v.code, v.stderr.slice(-1500)).to.equal(EXIT.OK);
    const report: VerifyReport = JSON.parse(v.stdout);
    expect(report.run.totals!.slices).to.equal((await planNode(zk, layout))!.slices);
    expect(report.run.totals!.clean).to.equal(report.run.totals!.slices);
    expect(report.results).to.deep.equal([]);
    expect(await zk.childrenOrEmpty(`${layout.verify}/${report.run.id}/results`)).to.deep.equal([]);
  });

  it('a difference in a packed slice is reported with its own customer\'s ids; a clean neighbour is cut over alone, the broken one is not', async () => {
    const slices = await allSlices(zk, layout);
    const packed = slices.find((s) => s.node.customers.length > 3 && s.node.customers.every((c) => c !== null))!;
    // Two customers of that slice with several documents each: one broken in the target, one left alone.
    const withDocs = packed.node.customers.filter((c) => PROFILES.find((p) => p.name === c)!.docs >= 3) as string[];
    const [broken, clean] = withDocs;
    const ids = [...(await next.all(collection, 'id,customer'))].filter(([, d]) => d.customer === broken).map(([id]) => id).sort();
    await next.deleteById(collection, [ids[0]]);
    await next.index(collection, [{ id: ids[1], customer: broken, title: 'tampered' }], true);
    await next.commit(collection);

    const v = await run(['verify-integrity', '--spec', specFile, '--new', '--json']);
    expect(v.code, v.stderr.slice(-1500)).to.equal(EXIT.DIFFERENCES);
    const report: VerifyReport = JSON.parse(v.stdout);
    expect(report.results.map((r) => r.index)).to.deep.equal([packed.node.index]);
    const r = report.results[0];
    expect(r.missing).to.deep.equal([ids[0]]);
    expect(r.different).to.deep.equal([ids[1]]);
    expect(Object.keys(r.byCustomer!), 'only the broken customer is named').to.deep.equal([customerNodeName(broken)]);
    expect(r.byCustomer![customerNodeName(broken)]).to.deep.include({ missing: 1, extra: 0, different: 1 });
    expect([...r.byCustomer![customerNodeName(broken)].ids].sort()).to.deep.equal([ids[0], ids[1]].sort());
    const human = await run(['verify-integrity', '--spec', specFile, '--only-failed']);
    expect(human.stdout).to.contain(`customer ${broken}: missing 1, extra 0, different 1`);

    const refused = await run(['cutover', '--spec', specFile, '--to', 'new', '--customer', broken]);
    expect(refused.code, refused.stderr).to.equal(EXIT.USAGE);
    expect(refused.stderr).to.match(new RegExp(`found differences for ${broken}`));
    const ok = await run(['cutover', '--spec', specFile, '--to', 'new', '--customer', clean]);
    expect(ok.code, ok.stderr.slice(-1500)).to.equal(EXIT.OK);
    const state = JSON.parse((await zk.getData(layout.cutover)).data.toString());
    expect(state.customers).to.deep.equal({ [customerNodeName(clean)]: 'new' });
    expect(state.read).to.equal('legacy');

    // Repair fixes the broken customer's two documents; a re-check of the failed slices passes.
    const repaired = await run(['verify-integrity', '--spec', specFile, '--new', '--repair', '--json']);
    expect((JSON.parse(repaired.stdout) as VerifyReport).run.totals!.repaired).to.equal(2);
    await next.commit(collection);
    const again = await run(['verify-integrity', '--spec', specFile, '--only-failed', '--json']);
    expect(again.code, again.stderr.slice(-1500)).to.equal(EXIT.OK);
    const rerun: VerifyReport = JSON.parse(again.stdout);
    expect(rerun.run.slices).to.deep.equal([packed.node.index]);
    expect(rerun.run.totals!.clean).to.equal(rerun.run.totals!.slices);
  });
});
