/**
 * The stored lifecycle on the real stack (Solr 8 → 9): a plan is finished only when every customer is
 * planned and no planner is still at work; a planner killed part-way leaves the migration `planning`,
 * and the next `plan` finishes it.
 */
import { expect } from 'chai';
import { generateDocs, type CustomerProfile } from '../../src/demo/dataset';
import { SolrAdmin } from '../../src/demo/solrAdmin';
import { Layout } from '../../src/coordination/layout';
import type { ZkSession } from '../../src/coordination/zk';
import type { Lifecycle } from '../../src/lifecycle/machine';
import { run, start, writeSpec } from '../support/cli';
import { waitFor } from '../support/fleet';
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
    let n = 0;
    for (const c of await zk.childrenOrEmpty(layout.customers)) if (await zk.exists(layout.plan(c))) n++;
    return n;
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
    const results = await Promise.all([1, 2, 3].map(() => run(['plan', '--spec', file, '--concurrency', '2'])));
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
    // Frozen once some customers are planned and others not, then killed: what a crash leaves.
    await waitFor('the planner to plan a few customers', async () => {
      if ((await plannedCustomers(migration)) < 2) return false;
      p.child.kill('SIGSTOP');
      const n = await plannedCustomers(migration);
      if (n >= PROFILES.length) {
        p.child.kill('SIGCONT');
        throw new Error('the planner finished before it could be stopped part-way');
      }
      return true;
    });
    p.child.kill('SIGKILL');
    await p.done;
    expect((await lifecycle(migration))!.state, 'a half-made plan is not a finished one').to.equal('planning');

    const again = await run(['plan', '--spec', file]);
    expect(again.code, again.stderr).to.equal(0);
    const l = (await lifecycle(migration))!;
    expect(l.state).to.equal('planned');
    expect(l.planned!.customers).to.equal(PROFILES.length);
    expect(await plannedCustomers(migration)).to.equal(PROFILES.length);
  });

  it('cancel before a cutover: recorded with its reason, final (plan and work refused, a second cancel changes nothing), the legacy untouched', async () => {
    const migration = uniqueName('life');
    const file = spec(migration);
    expect((await run(['plan', '--spec', file])).code).to.equal(0);
    const before = await legacy.count(collection);
    const noReason = await run(['cancel', '--spec', file, '--reason', ' ']);
    expect(noReason.code).to.equal(2);
    expect((await lifecycle(migration))!.state, 'a refused cancel writes nothing').to.equal('planned');

    const c = await run(['cancel', '--spec', file, '--reason', 'wrong target mapping']);
    expect(c.code, c.stderr).to.equal(0);
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
