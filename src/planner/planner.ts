/**
 * `bluegreen plan`: count every customer's data and its time range, cut it into slices of about the
 * same effort, store one persistent work node per slice.
 *
 * Many planners may run at once (seed 000): for each customer the first to create the ephemeral
 * `planning` node leads, the others wait for it to vanish. The `plan` node is written last, after
 * every slice, so a customer is either fully planned or not planned at all; a leader that died half-way
 * leaves slices without a plan, which the next leader clears (no worker touches an unplanned customer).
 */
import { hostname } from 'node:os';
import type { Backend } from '../backends/types';
import { specHash, type Spec } from '../config/spec';
import { Layout, customerFromNodeName, customerNodeName, sliceNodeName } from '../coordination/layout';
import { MigrationStore } from '../coordination/migration';
import type { PlanNode } from '../coordination/workNode';
import { newWorkNode } from '../coordination/workNode';
import { CreateMode, ZkSession, encodeJson, isNodeExists, type MultiOp } from '../coordination/zk';
import { requestRetry, sleep, withBackoff } from '../retry';
import { EXIT, UserError, describeError } from '../errors';
import { log } from '../log';
import { prepareTarget } from '../prepare/targetPrep';
import { processId, shuffle } from '../util';
import { planCustomer, summarize, type PlannedSlice } from './slicing';

export interface CustomerPlan {
  customer: string | null;
  slices: number;
  docs: number;
  min: number;
  median: number;
  max: number;
  /** planned: by this process; existing: planned before; waited: another planner did it meanwhile. */
  outcome: 'planned' | 'existing' | 'waited' | 'dry-run';
}

/** Creates per multi: far below jute.maxbuffer whatever the slice count. */
const CREATES_PER_MULTI = 200;

export class Planner {
  readonly id = `${hostname()}-${process.pid}`;

  constructor(private readonly spec: Spec, private readonly source: Backend, private readonly zk: ZkSession | null) {}

  /** Customers to plan: the spec's list, or discovered by faceting the customer field (no-customer documents included). */
  async customers(): Promise<Array<string | null>> {
    if (!this.spec.customers.discover) return this.spec.customers.list ?? [];
    return (await this.source.customers()).map((c) => c.customer);
  }

  retentionFrom(customer: string | null, now = Date.now()): number | null {
    const r = (customer !== null ? this.spec.retention.perCustomer[customer] : undefined) ?? this.spec.retention.default;
    return r === 'derived' ? null : now - r;
  }

  /** Computes one customer's slices from counts and histograms (never a scan). */
  async computeSlices(customer: string | null): Promise<{ slices: PlannedSlice[]; shape: Awaited<ReturnType<Backend['shape']>> }> {
    // Planning thousands of customers makes thousands of requests: a passing 503 must not end it.
    const retry = requestRetry(this.spec);
    const shape = await withBackoff(() => this.source.shape(customer), retry);
    const s = this.spec.slicing;
    const slices = await planCustomer(shape, this.retentionFrom(customer), (from, to, n) => withBackoff(() => this.source.histogram(customer, from, to, n), retry), {
      targetDocs: s.targetDocsPerSlice, minWidthMs: s.minSliceWidth, fanout: 100, initialBuckets: s.histogramBuckets,
    });
    return { slices, shape };
  }

  async dryRun(): Promise<CustomerPlan[]> {
    const out: CustomerPlan[] = [];
    for (const c of await this.customers()) {
      const { slices } = await this.computeSlices(c);
      out.push(row(c, slices.map((x) => x.estimate), 'dry-run'));
    }
    return out;
  }

  async run(concurrency = 4, onCustomer?: (p: CustomerPlan) => void): Promise<CustomerPlan[]> {
    const zk = this.zk!;
    const store = new MigrationStore(zk, this.spec);
    await store.ensureSpec(this.id);
    // Announced before the lifecycle moves: a planner finishing meanwhile sees this one and leaves the
    // plan open for it (a plan is finished only when no planner is still at work).
    const me = processId();
    await zk.mkdirp(store.layout.planners);
    await zk.create(store.layout.planner(me), encodeJson({ by: this.id, since: Date.now() }), CreateMode.EPHEMERAL);
    try {
      const started = await store.applyLifecycle({ type: 'plan-started' }, this.id);
      const results = await this.planAll(store, concurrency, onCustomer);
      // Every customer this planner saw is planned: the plan is finished, unless another planner is
      // still at work (it finishes it) or a newer planning round began (its own finish counts). Off the
      // list first, then look: of two planners ending together, the later one sees the other gone.
      await zk.remove(store.layout.planner(me)).catch(() => undefined);
      let othersAtWork = false;
      const others = async () => {
        othersAtWork = (await zk.childrenOrEmpty(store.layout.planners)).some((p) => p !== me);
        return othersAtWork ? 'another planner is at work' : null;
      };
      const finished = { type: 'plan-finished', generation: started!.generation, customers: results.length, slices: results.reduce((s, r) => s + r.slices, 0) } as const;
      // Another planner's registration goes when it finishes, or with its session if it died: wait that
      // long at most, so a plan re-run after a crash finishes it; a live one finishes it itself.
      const until = Date.now() + 2 * zk.sessionTimeout + 5000;
      let after = await store.applyLifecycle(finished, this.id, others);
      while (othersAtWork && after?.state === 'planning' && after.generation === finished.generation && Date.now() < until) {
        await sleep(500);
        after = await store.applyLifecycle(finished, this.id, others);
      }
      log.info({ lifecycle: after?.state }, after?.state === 'planning' ? 'customers planned; another planner is still at work and finishes the plan' : 'plan finished');
      return results;
    } finally {
      await zk.remove(store.layout.planner(me)).catch(() => undefined);
    }
  }

  private async planAll(store: MigrationStore, concurrency: number, onCustomer?: (p: CustomerPlan) => void): Promise<CustomerPlan[]> {
    const zk = this.zk!;
    // target.prepare: the index exists and is tuned for bulk loading before any slice can be claimed.
    await prepareTarget(zk, this.spec, this.id);
    await zk.mkdirp(store.layout.customers);
    // Shuffled so that planners started together spread over customers instead of queueing on one.
    const queue = shuffle(await this.customers());
    const results: CustomerPlan[] = [];
    const failed: Array<{ customer: string | null; err: unknown }> = [];
    const next = async (): Promise<void> => {
      for (let c = queue.pop(); c !== undefined; c = queue.pop()) {
        try {
          const r = await this.planWithBarrier(store.layout, c);
          results.push(r);
          onCustomer?.(r);
        } catch (err) {
          // Its plan node was not written (it is written last), so no worker takes it for done; the
          // other customers are still planned, and a re-run plans only what is missing.
          log.error({ customer: c, err: describeError(err) }, 'planning the customer failed; its plan was not written');
          failed.push({ customer: c, err });
        }
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, concurrency) }, next));
    if (failed.length) throw planningFailed(failed, results.length);
    return results.sort((a, b) => String(a.customer).localeCompare(String(b.customer)));
  }

  private async planWithBarrier(layout: Layout, customer: string | null): Promise<CustomerPlan> {
    const zk = this.zk!;
    const cn = customerNodeName(customer);
    await zk.mkdirp(layout.customer(cn));
    let waited = false;
    for (;;) {
      const existing = await this.existingPlan(layout, cn);
      if (existing) return { ...existing, outcome: waited ? 'waited' : 'existing' };
      try {
        await zk.create(layout.planning(cn), encodeJson({ by: this.id, since: Date.now() }), CreateMode.EPHEMERAL);
      } catch (e) {
        if (!isNodeExists(e)) throw e;
        waited = true;
        log.info({ customer }, 'another planner is planning this customer; waiting for it');
        await this.waitForVanish(layout.planning(cn));
        continue;
      }
      // The barrier is ours for as long as this session lives: every write below checks both.
      const barrier = { path: layout.planning(cn), epoch: zk.epoch };
      try {
        // Someone may have finished between our check and our barrier.
        const raced = await this.existingPlan(layout, cn);
        if (raced) return { ...raced, outcome: 'waited' };
        return await this.lead(layout, customer, cn, barrier);
      } finally {
        // Never remove a barrier of another session (ours vanished with an expired one).
        if (zk.epoch === barrier.epoch) await zk.remove(barrier.path).catch(() => undefined);
      }
    }
  }

  private async existingPlan(layout: Layout, cn: string): Promise<Omit<CustomerPlan, 'outcome'> | null> {
    const store = new MigrationStore(this.zk!, this.spec);
    const plan = await store.readPlan(cn);
    if (!plan) return null;
    return { customer: customerFromNodeName(cn), slices: plan.slices, ...plan.summary };
  }

  private async lead(layout: Layout, customer: string | null, cn: string, barrier: { path: string; epoch: number }): Promise<CustomerPlan> {
    const zk = this.zk!;
    /**
     * Each write is a multi with "the barrier exists", after checking our session (so the barrier is
     * ours) is the one that took it: a leader that lost its session stops here instead of mixing its
     * slices with the next leader's.
     */
    const fenced = async (ops: MultiOp[]) => {
      if (zk.epoch !== barrier.epoch) throw new Error(`lost the planning barrier of customer ${cn} (ZooKeeper session expired); planning it again`);
      await zk.multi([{ op: 'check', path: barrier.path, version: 0 }, ...ops]);
    };
    // Leftovers of a leader that died before writing the plan: unplanned, so no worker ever touched them.
    const leftovers = await zk.childrenOrEmpty(layout.slices(cn));
    if (leftovers.length) {
      log.warn({ customer, slices: leftovers.length }, 'clearing slices of an unfinished plan');
      for (let i = 0; i < leftovers.length; i += CREATES_PER_MULTI) {
        await fenced(leftovers.slice(i, i + CREATES_PER_MULTI).map((n) => ({ op: 'remove' as const, path: layout.slice(cn, n), version: -1 })));
      }
    }
    const { slices, shape } = await this.computeSlices(customer);
    await zk.mkdirp(layout.slices(cn));
    await zk.mkdirp(layout.claims(cn));
    const ops: MultiOp[] = slices.map((s, i) => ({
      op: 'create', path: layout.slice(cn, sliceNodeName(i)), data: encodeJson(newWorkNode(customer, i, s.bounds, s.estimate)),
    }));
    for (let i = 0; i < ops.length; i += CREATES_PER_MULTI) await fenced(ops.slice(i, i + CREATES_PER_MULTI));
    const stats = summarize(slices.map((s) => s.estimate));
    const plan: PlanNode = {
      customer, slices: slices.length, estimate: stats.total, minTimestamp: shape.minTs, maxTimestamp: shape.maxTs,
      noTimestamp: shape.noTimestamp, retentionFrom: this.retentionFrom(customer), plannedAt: Date.now(), plannedBy: this.id,
      specHash: specHash(this.spec), summary: { docs: stats.total, min: stats.min, median: stats.median, max: stats.max },
    };
    await fenced([{ op: 'create', path: layout.plan(cn), data: encodeJson(plan) }]);
    log.info({ customer, slices: slices.length, docs: stats.total }, 'customer planned');
    return row(customer, slices.map((s) => s.estimate), 'planned');
  }

  /** Polls (a watch would be lost with a renewed session) until the other leader's barrier is gone. */
  private async waitForVanish(path: string): Promise<void> {
    while (await this.zk!.exists(path)) await sleep(500);
  }
}

/**
 * Customers failed: one error naming each and why. Exit 1 (INTERNAL), or the UserErrors' own code when
 * every customer failed with the same kind (the cluster unreachable, say).
 */
function planningFailed(failed: Array<{ customer: string | null; err: unknown }>, planned: number): UserError {
  const name = (c: string | null) => (c === null ? '(no customer)' : JSON.stringify(c));
  const lines = failed.slice(0, 20).map((f) => `  - ${name(f.customer)}: ${describeError(f.err).split('\n')[0].slice(0, 300)}`);
  if (failed.length > 20) lines.push(`  - … and ${failed.length - 20} more (see the log)`);
  const codes = new Set(failed.map((f) => (f.err instanceof UserError ? f.err.exitCode : EXIT.INTERNAL)));
  const code = codes.size === 1 && planned === 0 ? [...codes][0] : EXIT.INTERNAL;
  return new UserError(
    `Planning failed for ${failed.length} customer(s); their plans were not written, so no worker copies them (${planned} other customer(s) planned):\n${lines.join('\n')}`,
    'Fix the cause, then run `bluegreen plan` again: planned customers are kept, only the missing ones are planned.', code);
}

function row(customer: string | null, estimates: number[], outcome: CustomerPlan['outcome']): CustomerPlan {
  const s = summarize(estimates);
  return { customer, slices: estimates.length, docs: s.total, min: s.min, median: s.median, max: s.max, outcome };
}
