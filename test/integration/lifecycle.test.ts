/**
 * The stored lifecycle on the real stack (Solr 8 → 9): a plan is finished only when every customer is
 * planned and no planner is still at work; a planner killed part-way leaves the migration `planning`,
 * and the next `plan` finishes it.
 */
import { expect } from 'chai';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateDocs, type CustomerProfile } from '../../src/demo/dataset';
import { SolrAdmin } from '../../src/demo/solrAdmin';
import { Layout } from '../../src/coordination/layout';
import { CreateMode, type ZkSession } from '../../src/coordination/zk';
import type { Lifecycle } from '../../src/lifecycle/machine';
import { run, start, writeSpec } from '../support/cli';
import { allSlices, customerIndex, waitFor } from '../support/fleet';
import { EsAdmin, TEST_MAPPING } from '../support/esAdmin';
import { EXIT } from '../../src/errors';
import { connectZk, stack, uniqueName } from '../support/stack';

const PROFILES: CustomerProfile[] = Array.from({ length: 24 }, (_, i) => ({ name: `c${String(i).padStart(2, '0')}`, docs: 40, spanDays: 200 }));

describe('the lifecycle of a migration (Solr)', function () {
  this.timeout(300_000);
  const legacy = new SolrAdmin(stack.solrLegacy);
  const next = new SolrAdmin(stack.solrNew);
  const collection = uniqueName('bgtest_life');
  const root = `/${uniqueName('bgtest')}`;
  let zk: ZkSession;

  const spec = (migration: string) => writeSpec({
    migration,
    zookeeper: { connect: stack.zk, root },
    source: { kind: 'solr', url: stack.solrLegacy, collection },
    target: { kind: 'solr', url: stack.solrNew, collection },
    slicing: { targetDocsPerSlice: 30 },
  });
  const lifecycle = async (migration: string): Promise<Lifecycle | null> => {
    const got = await zk.getDataOrNull(new Layout(root, migration).lifecycle);
    return got ? JSON.parse(got.data.toString()) : null;
  };
  const plannedCustomers = async (migration: string) => {
    const layout = new Layout(root, migration);
    // The customers of a complete plan (its node is written last, after the customer index).
    return (await zk.exists(layout.plan)) ? (await customerIndex(zk, layout)).size : 0;
  };

  before(async () => {
    zk = await connectZk();
    await Promise.all([legacy.createCollection(collection, 1), next.createCollection(collection, 1)]);
    await legacy.index(collection, [...generateDocs(PROFILES, Date.UTC(2025, 0, 1), 9)], true);
  });

  after(async () => {
    await zk.removeRecursive(root);
    zk.close();
    await Promise.all([legacy.deleteCollection(collection), next.deleteCollection(collection)]);
  });

  it('three planners at once: the plan is finished once, with every customer, and no planner left registered', async () => {
    const migration = uniqueName('life');
    const file = spec(migration);
    // At once for sure, whatever the machine's speed: a barrier of the test's own holds them until all
    // three have registered (they announce themselves, then wait for the barrier like any follower).
    const layout = new Layout(root, migration);
    await zk.mkdirp(layout.base);
    await zk.create(layout.planning, Buffer.from(JSON.stringify({ by: 'the test', since: Date.now() })), CreateMode.EPHEMERAL);
    const planners = [1, 2, 3].map(() => start(['plan', '--spec', file, '--concurrency', '2']));
    try {
      await waitFor('three planners registered', async () => (await zk.childrenOrEmpty(layout.planners)).length === 3, 120_000);
    } finally {
      await zk.remove(layout.planning).catch(() => undefined);
    }
    const results = await Promise.all(planners.map((p) => p.done));
    for (const r of results) expect(r.code, r.stderr).to.equal(0);
    const l = (await lifecycle(migration))!;
    expect(l.state).to.equal('planned');
    expect(l.planned!.customers).to.equal(PROFILES.length);
    expect(l.history.filter((h) => h.event === 'plan-finished').length, 'finished once').to.equal(1);
    expect(l.history.filter((h) => h.event === 'plan-started').length, 'every planner announced itself').to.equal(3);
    expect(await zk.childrenOrEmpty(new Layout(root, migration).planners)).to.deep.equal([]);
  });

  it('a planner killed part-way leaves the migration planning; the next plan finishes it', async () => {
    const migration = uniqueName('life');
    const file = spec(migration);
    const p = start(['plan', '--spec', file, '--concurrency', '1']);
    const layout = new Layout(root, migration);
    // Frozen while it holds the planning barrier, before its plan node (written last), then killed: what a crash leaves.
    await waitFor('the planner to be at work', async () => {
      if (!(await zk.exists(layout.planning))) return false;
      p.child.kill('SIGSTOP');
      if (await zk.exists(layout.plan)) {
        p.child.kill('SIGCONT');
        throw new Error('the planner finished before it could be stopped part-way');
      }
      return true;
    });
    p.child.kill('SIGKILL');
    await p.done;
    // What a leader that died after writing some slices leaves (whatever this one had written): the next one clears it.
    await zk.mkdirp(layout.sliceBucket('0'));
    await zk.mkdirp(layout.queueBucket('0'));
    const leftover = { bucket: '0', name: '000999' };
    await zk.create(layout.slice(leftover), Buffer.from(JSON.stringify({ customers: ['c00'], index: 999, bounds: { kind: 'all' }, estimate: 40, status: 'todo', cursor: null, counts: { read: 0, written: 0, skipped: 0, rejected: 0 }, attempts: 0, failures: 0, lastError: null, rejections: [], owner: null, progressAt: null, startedAt: null, finishedAt: null })));
    await zk.create(layout.queued(leftover));
    expect(await plannedCustomers(migration), 'no plan node: no customer counts as planned').to.equal(0);
    expect((await lifecycle(migration))!.state, 'a half-made plan is not a finished one').to.equal('planning');
    // A worker copies what is planned, but never calls the copy finished (exit 3, not 0).
    const early = await run(['work', '--spec', file]);
    expect(early.code, early.stderr.slice(-600)).to.equal(EXIT.ALL_CLAIMED);
    expect(early.stderr).to.match(/the plan is not \(lifecycle: planning\)/);
    expect((await lifecycle(migration))!.state).to.equal('planning');
    const verifyEarly = await run(['verify-integrity', '--spec', file]);
    expect(verifyEarly.code).to.equal(EXIT.USAGE);
    expect(verifyEarly.stderr).to.match(/its plan is not finished/);

    const again = await run(['plan', '--spec', file]);
    expect(again.code, again.stderr).to.equal(0);
    const l = (await lifecycle(migration))!;
    expect(l.state).to.equal('planned');
    expect(l.planned!.customers).to.equal(PROFILES.length);
    expect(await plannedCustomers(migration)).to.equal(PROFILES.length);
    const slices = await allSlices(zk, layout);
    expect(slices.map((x) => x.node.index), 'the dead leader\'s slices were cleared').to.not.include(999);
    expect(slices.reduce((n, x) => n + x.node.estimate, 0)).to.equal(PROFILES.length * 40);
    expect(await zk.exists(layout.queued(leftover))).to.equal(null);
    const w = await run(['work', '--spec', file]);
    expect(w.code, w.stderr.slice(-600)).to.equal(EXIT.OK);
    expect((await lifecycle(migration))!.state).to.equal('copied');
  });

  it('the operator\'s day as stored states: copied, verified, cut over (work, plan, cancel refused), completed (pruned, flag kept, final)', async () => {
    const migration = uniqueName('life');
    const file = spec(migration);
    const layout = new Layout(root, migration);
    expect((await run(['plan', '--spec', file])).code).to.equal(0);
    expect((await lifecycle(migration))!.state).to.equal('planned');
    const cutEarly = await run(['cutover', '--spec', file, '--to', 'new']);
    expect(cutEarly.code).to.equal(2);
    expect(cutEarly.stderr).to.match(/lifecycle is planned, not verified/);
    const w = await run(['work', '--spec', file]);
    expect(w.code, w.stderr).to.equal(0);
    expect((await lifecycle(migration))!.state).to.equal('copied');
    const v = await run(['verify-integrity', '--spec', file]);
    expect(v.code, v.stderr).to.equal(0);
    const verified = (await lifecycle(migration))!;
    expect(verified.state).to.equal('verified');
    expect(verified.verification!.run).to.match(/-\d{10}$/);
    // `plan` again (a re-run Job): the plan is reported as it is, and the lifecycle stays verified.
    const lifecycleNode = (await zk.getData(layout.lifecycle)).data.toString();
    const again = await run(['plan', '--spec', file, '--json']);
    expect(again.code, again.stderr).to.equal(0);
    expect(JSON.parse(again.stdout), 'the existing plan reported, a row per customer').to.have.length(PROFILES.length);
    expect((await zk.getData(layout.lifecycle)).data.toString(), 'the lifecycle node untouched').to.equal(lifecycleNode);

    const c = await run(['cutover', '--spec', file, '--to', 'new']);
    expect(c.code, c.stderr).to.equal(0);
    expect((await lifecycle(migration))!.state).to.equal('cut-over');
    for (const [cmd, why] of [[['work'], /cut-over/], [['plan'], /cut over/], [['cancel', '--reason', 'x'], /roll back first/]] as const) {
      const r = await run([...cmd, '--spec', file]);
      expect(r.code, `${cmd[0]}: ${r.stderr.slice(-600)}`).to.equal(2);
      expect(r.stderr, cmd[0]).to.match(why);
    }
    expect((await lifecycle(migration))!.state, 'refusals change nothing').to.equal('cut-over');
    // Rollback and forward again: the lifecycle follows the flag.
    expect((await run(['cutover', '--spec', file, '--to', 'legacy'])).code).to.equal(0);
    expect((await lifecycle(migration))!.state).to.equal('verified');
    expect((await run(['cutover', '--spec', file, '--to', 'new'])).code).to.equal(0);

    const done = await run(['complete', '--spec', file]);
    expect(done.code, done.stderr).to.equal(0);
    expect(done.stdout).to.match(/completed: 960 documents read/);
    const l = (await lifecycle(migration))!;
    expect(l.state).to.equal('completed');
    expect(l.history.map((h) => h.to)).to.include.members(['planning', 'planned', 'copying', 'copied', 'verified', 'cut-over', 'completed']);
    expect(await zk.exists(layout.slices), 'work nodes pruned').to.equal(null);
    expect(await zk.exists(layout.queue), 'queue pruned').to.equal(null);
    expect(await zk.exists(layout.plan), 'plan kept').to.not.equal(null);
    expect((await customerIndex(zk, layout)).size, 'customer index kept').to.be.greaterThan(0);
    expect(await zk.getChildren(layout.verify), 'only the run behind the cutover is kept').to.deep.equal([verified.verification!.run]);
    expect(JSON.parse((await zk.getData(layout.cutover)).data.toString()).read, 'the read flag is kept').to.equal('new');
    const back = await run(['cutover', '--spec', file, '--to', 'legacy']);
    expect(back.code).to.equal(2);
    expect(back.stderr).to.match(/the migration is completed/);
    const status = await run(['status', '--spec', file]);
    expect(status.stdout).to.match(/state: COMPLETED/);
  });

  it('verification sees the whole collection: a document planted in the target for a customer never planned fails it, and blocks the cutover', async () => {
    const migration = uniqueName('life');
    const file = spec(migration);
    expect((await run(['plan', '--spec', file])).code).to.equal(0);
    expect((await run(['work', '--spec', file])).code).to.equal(0);
    await next.index(collection, [{ id: `intruder-${migration}`, customer: 'intruder', title: 'planted', timestamp: '2025-01-01T00:00:00Z' }], true);
    try {
      const v = await run(['verify-integrity', '--spec', file, '--json']);
      expect(v.code, v.stderr.slice(-600)).to.equal(5);
      const report = JSON.parse(v.stdout);
      expect(report.results.every((x: { clean: boolean }) => x.clean), 'every slice is clean').to.equal(true);
      expect(report.run.status).to.equal('failed');
      expect(report.run.uncovered).to.deep.equal([{ customer: 'intruder', source: 0, target: 1 }]);
      expect((await lifecycle(migration))!.state).to.equal('copied');
      const c = await run(['cutover', '--spec', file, '--to', 'new']);
      expect(c.code).to.equal(2);
      expect(c.stderr).to.match(/found differences/);
    } finally {
      await next.deleteById(collection, [`intruder-${migration}`]);
      await next.commit(collection);
    }
    const clean = await run(['verify-integrity', '--spec', file, '--new']);
    expect(clean.code, clean.stderr.slice(-600)).to.equal(0);
  });

  it('cancel before a cutover: recorded with its reason, final (plan and work refused, a second cancel changes nothing), the legacy untouched', async () => {
    const migration = uniqueName('life');
    const file = spec(migration);
    expect((await run(['plan', '--spec', file])).code).to.equal(0);
    const before = await legacy.count(collection);
    const noReason = await run(['cancel', '--spec', file, '--reason', ' ']);
    expect(noReason.code).to.equal(2);
    expect((await lifecycle(migration))!.state, 'a refused cancel writes nothing').to.equal('planned');

    // A running --follow worker: the cancel stops it at its next heartbeat (as SIGTERM would).
    const w = start(['work', '--spec', file, '--follow', '--http-port', '0']);
    await waitFor('the worker to copy everything and wait for more', async () => /copy finished/.test(w.output().stderr));
    const c = await run(['cancel', '--spec', file, '--reason', 'wrong target mapping']);
    expect(c.code, c.stderr).to.equal(0);
    const stopped = await w.done;
    expect(stopped.code, stopped.stderr.slice(-600)).to.equal(EXIT.INTERRUPTED);
    expect(stopped.stderr).to.match(/stopping: the migration is cancelled/);
    expect(c.stdout).to.match(/cancelled \(wrong target mapping\)/);
    const l = (await lifecycle(migration))!;
    expect(l.state).to.equal('cancelled');
    expect(l.cancelled).to.include({ reason: 'wrong target mapping' });
    for (const cmd of [['plan'], ['work']]) {
      const r = await run([...cmd, '--spec', file]);
      expect(r.code, `${cmd}: ${r.stderr.slice(-800)}`).to.equal(2);
      expect(r.stderr, r.stderr.slice(-800)).to.match(/the migration is cancelled/);
    }
    const again = await run(['cancel', '--spec', file, '--reason', 'again']);
    expect(again.code, again.stderr).to.equal(0);
    expect((await lifecycle(migration))!.cancelled).to.include({ reason: 'wrong target mapping' });
    expect(await legacy.count(collection)).to.equal(before);
    const status = await run(['status', '--spec', file]);
    expect(status.stdout).to.match(/state: CANCELLED \(wrong target mapping\)/);
  });
});

describe('the lifecycle with workers started before the plan (Elasticsearch, target.prepare tuned for bulk)', function () {
  this.timeout(300_000);
  const es = new EsAdmin(stack.esNew);
  const oldIndex = uniqueName('bgtest_life_old');
  const newIndex = uniqueName('bgtest_life_new');
  const migration = uniqueName('lifees');
  const root = `/${uniqueName('bgtest')}`;
  const layout = new Layout(root, migration);
  const docs = [...generateDocs([{ name: 'acme', docs: 700, spanDays: 30, noTimestamp: 4 }, { name: 'globex', docs: 300, spanDays: 400 }], Date.UTC(2025, 0, 1), 5)];
  let zk: ZkSession;
  let specOf: (extra?: object) => string;

  before(async () => {
    zk = await connectZk();
    await es.createIndex(oldIndex, { settings: { number_of_shards: 1, number_of_replicas: 0 }, mappings: TEST_MAPPING });
    await es.index(oldIndex, docs.map((d) => ({ _id: d.id, source: d })));
  });

  after(async () => {
    await zk.removeRecursive(root);
    zk.close();
    await Promise.all([es.deleteIndex(oldIndex), es.deleteIndex(newIndex)]);
  });

  it('--follow workers wait for the plan, copy everything, and the target is restored only after the whole copy', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bg-life-'));
    const mappingsFile = join(dir, 'mappings.json');
    writeFileSync(mappingsFile, JSON.stringify({ mappings: TEST_MAPPING }));
    specOf = (extra = {}) => writeSpec({
      migration,
      zookeeper: { connect: stack.zk, root },
      source: { kind: 'elasticsearch', url: stack.esNew, collection: oldIndex },
      target: { kind: 'elasticsearch', url: stack.esNew, collection: newIndex, prepare: { mappingsFile, tuneForBulk: true } },
      slicing: { targetDocsPerSlice: 100 },
      batch: { docs: 50 },
      ...extra,
    });
    const file = specOf();
    const workers = [1, 2].map(() => start(['work', '--spec', file, '--follow', '--http-port', '0']));
    try {
      await waitFor('both workers to wait for the plan', async () => workers.every((w) => /not planned yet: waiting/.test(w.output().stderr)));
      const plans = await Promise.all([run(['plan', '--spec', file]), run(['plan', '--spec', file])]);
      for (const p of plans) expect(p.code, p.stderr).to.equal(0);
      const record = async () => JSON.parse((await zk.getData(`${layout.base}/target`)).data.toString());
      // The worker that finished the copy restores the settings, then refreshes and says so.
      await waitFor('the copy to finish, the target restored and refreshed', async () => (await record()).state === 'restored'
        && workers.some((w) => /copy finished: target refreshed/.test(w.output().stderr)), 120_000);
      const slices = await allSlices(zk, layout);
      expect(slices.every((s) => s.node.status === 'done')).to.equal(true);
      const lastSliceDone = Math.max(...slices.map((s) => s.node.finishedAt ?? 0));
      const l = JSON.parse((await zk.getData(layout.lifecycle)).data.toString()) as Lifecycle;
      expect(l.state).to.equal('copied');
      const plannedAt = l.history.find((h) => h.to === 'planned')!.at;
      const restoring = (await record()).steps.find((s: { state: string }) => s.state === 'restoring');
      expect(restoring.at, 'restored after the last slice').to.be.at.least(lastSliceDone);
      expect(restoring.at, 'restored after the plan finished').to.be.at.least(plannedAt);
      expect(await es.count(newIndex), 'every document, searchable right after the copy').to.equal(docs.length);
    } finally {
      for (const w of workers) w.child.kill('SIGTERM');
      for (const w of workers) expect((await w.done).code).to.equal(EXIT.INTERRUPTED);
    }
  });

  it('a target document that real-time get finds but search does not (never refreshed) is missing, not "resolved in flight"', async () => {
    const file = specOf({ verify: { gracePeriod: '500ms', rechecks: 1 } });
    expect((await run(['verify-integrity', '--spec', file, '--new'])).code, 'clean to begin with').to.equal(EXIT.OK);
    const d = docs[17];
    await es.setSettings(newIndex, { refresh_interval: '-1' });
    try {
      await es.deleteDoc(newIndex, d.id);
      await es.refresh(newIndex);
      await es.index(newIndex, [{ _id: d.id, source: d }], false); // there for mget, invisible to search
      expect((await es.get(newIndex, d.id))?.source, 'the real-time get sees it').to.deep.equal(d);
      const v = await run(['verify-integrity', '--spec', file, '--new', '--json']);
      expect(v.code, v.stderr.slice(-600)).to.equal(5);
      expect(JSON.parse(v.stdout).results.flatMap((r: { missing: string[] }) => r.missing)).to.deep.equal([d.id]);
    } finally {
      await es.setSettings(newIndex, { refresh_interval: null });
      await es.refresh(newIndex);
    }
    expect((await run(['verify-integrity', '--spec', file, '--new'])).code, 'searchable again: clean').to.equal(EXIT.OK);
  });
});
