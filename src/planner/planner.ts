/**
 * `bluegreen plan`: one aggregate pass over the source gives every customer's count and time range;
 * small customers are packed together into slices of about `targetDocsPerSlice` documents, big ones
 * are cut by time from histograms (only they need any); every slice gets a work node and a queue
 * entry, every customer an entry in the customer index, and the plan node is written last.
 *
 * Many planners may run at once (seed 000): the first to create the ephemeral `planning` barrier plans
 * the whole migration (a few aggregate requests and histograms of big customers: seconds, not one
 * query per customer), the others wait for it to vanish and report the plan it wrote. Every write is
 * fenced by the barrier; a leader that died half-way leaves nodes without a plan node, which the next
 * leader clears (no worker touches a migration before its plan node exists).
 */
import { hostname } from 'node:os';
import type { Backend, CustomerShapeRow } from '../backends/types';
import { specHash, type Spec } from '../config/spec';
import { bucketCount, customerBucket, customerFromNodeName, customerNodeName, sliceBucket, sliceNodeName } from '../coordination/layout';
import { MigrationStore } from '../coordination/migration';
import { emptySummary, newWorkNode, type CustomerEntry, type CustomerIndexNode, type PlanNode, type SliceBounds } from '../coordination/workNode';
import { CreateMode, ZkSession, encodeJson, isNodeExists, type MultiOp } from '../coordination/zk';
import { requestRetry, sleep, withBackoff } from '../retry';
import { log } from '../log';
import { TOP_CUSTOMERS } from '../metrics';
import { prepareTarget } from '../prepare/targetPrep';
import { processId } from '../util';
import { packCustomers, planCustomer, summarize } from './slicing';

export interface CustomerPlan {
  customer: string | null;
  /** Slices holding the customer's documents (a packed slice counts once for each of its customers). */
  slices: number;
  docs: number;
  min: number;
  median: number;
  max: number;
  /** Other customers sharing its (one) slice; 0 = slices of its own. */
  packedWith: number;
  /** planned: by this process; existing: planned before; waited: another planner did it meanwhile. */
  outcome: 'planned' | 'existing' | 'waited' | 'dry-run';
}

/** One slice as planned: its customers, which of their documents, about how many. */
export interface PlannedWork {
  customers: Array<string | null>;
  bounds: SliceBounds;
  estimate: number;
}

export interface ComputedPlan {
  slices: PlannedWork[];
  customers: Map<string, CustomerEntry & { customer: string | null }>;
}

/**
 * A multi is one ZooKeeper request, refused whole (the server drops the connection) beyond its
 * jute.maxbuffer (1 MB by default): at most 200 ops and about 512 KB of paths and data each.
 */
const OPS_PER_MULTI = 200;
const BYTES_PER_MULTI = 512 * 1024;

/** Ops cut into multis that each fit a ZooKeeper request (an op larger than the cap goes alone). */
export function multiBatches(ops: MultiOp[]): MultiOp[][] {
  const out: MultiOp[][] = [];
  let batch: MultiOp[] = [];
  let bytes = 0;
  for (const o of ops) {
    const size = Buffer.byteLength(o.path) + ('data' in o && o.data ? o.data.length : 0) + 64;
    if (batch.length && (batch.length >= OPS_PER_MULTI || bytes + size > BYTES_PER_MULTI)) {
      out.push(batch);
      batch = [];
      bytes = 0;
    }
    batch.push(o);
    bytes += size;
  }
  if (batch.length) out.push(batch);
  return out;
}
/** A packed slice's customers: at most this many, and their names at most this many bytes (node size). */
const MAX_PACKED_CUSTOMERS = 1000;
const MAX_PACKED_NAME_BYTES = 64 * 1024;
/** Slices per bucket and customers per index bucket, about. */
const SLICES_PER_BUCKET = 64;
const CUSTOMERS_PER_BUCKET = 256;

export class Planner {
  readonly id = `${hostname()}-${process.pid}`;

  constructor(private readonly spec: Spec, private readonly source: Backend, private readonly zk: ZkSession | null) {}

  retentionFrom(customer: string | null, now = Date.now()): number | null {
    const r = (customer !== null ? this.spec.retention.perCustomer[customer] : undefined) ?? this.spec.retention.default;
    return r === 'derived' ? null : now - r;
  }

  /**
   * Every customer to plan with its shape, from one paged aggregation: discovered (every customer with
   * documents, no-customer documents included), or the spec's list (a listed customer without
   * documents is planned with none, so status and cutover know it).
   */
  async shapes(): Promise<CustomerShapeRow[]> {
    const retry = requestRetry(this.spec);
    const only = this.spec.customers.discover ? undefined : (this.spec.customers.list ?? []);
    const rows = await withBackoff(() => this.source.customerShapes(only), retry);
    if (!only) return rows;
    const seen = new Set(rows.map((r) => customerNodeName(r.customer)));
    const empty = only.filter((c) => !seen.has(customerNodeName(c))).map((customer) => ({ customer, total: 0, noTimestamp: 0, minTs: null, maxTs: null }));
    return [...rows, ...empty];
  }

  /**
   * The slices: small customers (at most targetDocsPerSlice documents) packed in customer order, each
   * whole (`all`); big ones cut by time (histograms, a few at a time), with a no-timestamp slice only
   * where such documents exist. Every document of a planned customer is in exactly one slice.
   */
  async compute(shapes: CustomerShapeRow[], concurrency = 4): Promise<ComputedPlan> {
    const s = this.spec.slicing;
    const retry = requestRetry(this.spec);
    const sorted = [...shapes].sort((a, b) => cmpCustomer(a.customer, b.customer));
    const small = sorted.filter((c) => c.total <= s.targetDocsPerSlice);
    const big = sorted.filter((c) => c.total > s.targetDocsPerSlice);
    const slices: PlannedWork[] = [];
    const customers: ComputedPlan['customers'] = new Map();
    const entry = (c: CustomerShapeRow, first: number, count: number) => customers.set(customerNodeName(c.customer), {
      customer: c.customer, first, count, docs: c.total, noTimestamp: c.noTimestamp, minTimestamp: c.minTs, maxTimestamp: c.maxTs,
      retentionFrom: this.retentionFrom(c.customer),
    });
    for (const c of small) if (c.total === 0) entry(c, slices.length, 0); // listed but empty: known to the plan, in no slice
    for (const group of packCustomers(small, { targetDocs: s.targetDocsPerSlice, maxCustomers: MAX_PACKED_CUSTOMERS, maxNameBytes: MAX_PACKED_NAME_BYTES })) {
      for (const c of group) entry(c, slices.length, 1);
      slices.push({ customers: group.map((c) => c.customer), bounds: { kind: 'all' }, estimate: group.reduce((n, c) => n + c.total, 0) });
    }
    // Big customers: histograms a few at a time; numbered after, each customer's slices together.
    const cut = new Array<PlannedWork[]>(big.length);
    let next = 0;
    await Promise.all(Array.from({ length: Math.min(Math.max(1, concurrency), big.length) }, async () => {
      while (next < big.length) {
        const i = next++;
        const c = big[i];
        const planned = await planCustomer(c, this.retentionFrom(c.customer), (from, to, n) => withBackoff(() => this.source.histogram(c.customer, from, to, n), retry), {
          targetDocs: s.targetDocsPerSlice, minWidthMs: s.minSliceWidth, fanout: 100, initialBuckets: s.histogramBuckets,
        });
        const withTs = c.total - c.noTimestamp;
        cut[i] = withTs <= 0
          ? [{ customers: [c.customer], bounds: { kind: 'all' }, estimate: c.total }]
          : planned.filter((p) => p.bounds.kind === 'range' || p.estimate > 0).map((p) => ({ customers: [c.customer], bounds: p.bounds, estimate: p.estimate }));
      }
    }));
    big.forEach((c, i) => {
      entry(c, slices.length, cut[i].length);
      slices.push(...cut[i]);
    });
    return { slices, customers };
  }

  async dryRun(): Promise<CustomerPlan[]> {
    const plan = await this.compute(await this.shapes());
    return rows(plan, 'dry-run');
  }

  async run(concurrency = 4, onCustomer?: (p: CustomerPlan) => void): Promise<CustomerPlan[]> {
    const zk = this.zk!;
    const store = new MigrationStore(zk, this.spec);
    await store.ensureSpec(this.id);
    // A finished plan is final for its generation: `plan` run again (a re-run Job, an operator checking)
    // reports it and moves nothing; the lifecycle does not go back to planned from copying or verified.
    // Only a plan node without a finished planning round (its planner died after writing it) is finished here.
    const [plan, lc] = [await store.readPlan(), await store.readLifecycle()];
    if (plan && lc && ['planned', 'copying', 'copied', 'verified'].includes(lc.lifecycle.state)) {
      const rows = await this.existing(store, 'existing');
      log.info({ lifecycle: lc.lifecycle.state, slices: plan.slices, customers: plan.customers }, 'already planned: the plan is reported as it is, nothing changes');
      return rows;
    }
    // Announced before the lifecycle moves: a planner finishing meanwhile sees this one and leaves the
    // plan open for it (a plan is finished only when no planner is still at work).
    const me = processId();
    await zk.mkdirp(store.layout.planners);
    await zk.create(store.layout.planner(me), encodeJson({ by: this.id, since: Date.now() }), CreateMode.EPHEMERAL);
    try {
      const started = await store.applyLifecycle({ type: 'plan-started' }, this.id);
      const results = await this.planWithBarrier(store, started!.generation, concurrency);
      results.forEach((r) => onCustomer?.(r));
      // The plan is written, unless another planner is still at work (it finishes it) or a newer
      // planning round began (its own finish counts). Off the list first, then look: of two planners
      // ending together, the later one sees the other gone.
      await zk.remove(store.layout.planner(me)).catch(() => undefined);
      let othersAtWork = false;
      const others = async () => {
        othersAtWork = (await zk.childrenOrEmpty(store.layout.planners)).some((p) => p !== me);
        return othersAtWork ? 'another planner is at work' : null;
      };
      const plan = await store.readPlan();
      const finished = { type: 'plan-finished', generation: started!.generation, customers: plan?.customers ?? 0, slices: plan?.slices ?? 0 } as const;
      // Another planner's registration goes when it finishes, or with its session if it died: wait that
      // long at most, so a plan re-run after a crash finishes it; a live one finishes it itself.
      const until = Date.now() + 2 * zk.sessionTimeout + 5000;
      let after = await store.applyLifecycle(finished, this.id, others);
      while (othersAtWork && after?.state === 'planning' && after.generation === finished.generation && Date.now() < until) {
        await sleep(500);
        after = await store.applyLifecycle(finished, this.id, others);
      }
      log.info({ lifecycle: after?.state }, after?.state === 'planning' ? 'plan written; another planner is still at work and finishes the plan' : 'plan finished');
      return results;
    } finally {
      await zk.remove(store.layout.planner(me)).catch(() => undefined);
    }
  }

  /** Leads the plan (the first to take the barrier), or waits for the leader and reports its plan. */
  private async planWithBarrier(store: MigrationStore, generation: number, concurrency: number): Promise<CustomerPlan[]> {
    const zk = this.zk!;
    let waited = false;
    for (;;) {
      if (await store.readPlan()) return this.existing(store, waited ? 'waited' : 'existing');
      try {
        await zk.create(store.layout.planning, encodeJson({ by: this.id, since: Date.now() }), CreateMode.EPHEMERAL);
      } catch (e) {
        if (!isNodeExists(e)) throw e;
        if (!waited) log.info('another planner is planning this migration; waiting for it');
        waited = true;
        await this.waitForVanish(store.layout.planning);
        continue;
      }
      // The barrier is ours for as long as this session lives: every write below checks both.
      const barrier = { path: store.layout.planning, epoch: zk.epoch };
      try {
        // Someone may have finished between our check and our barrier.
        if (await store.readPlan()) return this.existing(store, 'waited');
        return await this.lead(store, barrier, generation, concurrency);
      } finally {
        // Never remove a barrier of another session (ours vanished with an expired one).
        if (zk.epoch === barrier.epoch) await zk.remove(barrier.path).catch(() => undefined);
      }
    }
  }

  /** The plan another planner (or an earlier run) wrote, as rows. */
  private async existing(store: MigrationStore, outcome: CustomerPlan['outcome']): Promise<CustomerPlan[]> {
    const index = await store.customerIndex();
    const out: CustomerPlan[] = [];
    for (const [cn, e] of index) {
      out.push({ customer: customerFromNodeName(cn), slices: e.count, docs: e.docs, min: e.count ? e.docs : 0, median: e.count ? e.docs : 0, max: e.count ? e.docs : 0, packedWith: 0, outcome });
    }
    return out.sort((a, b) => cmpCustomer(a.customer, b.customer));
  }

  private async lead(store: MigrationStore, barrier: { path: string; epoch: number }, generation: number, concurrency: number): Promise<CustomerPlan[]> {
    const zk = this.zk!;
    const layout = store.layout;
    /**
     * Each write is a multi with "the barrier exists", after checking our session (so the barrier is
     * ours) is the one that took it: a leader that lost its session stops here instead of mixing its
     * slices with the next leader's.
     */
    const fenced = async (ops: MultiOp[]) => {
      for (const batch of multiBatches(ops)) {
        if (zk.epoch !== barrier.epoch) throw new Error('lost the planning barrier (ZooKeeper session expired); plan again');
        await zk.multi([{ op: 'check', path: barrier.path, version: 0 }, ...batch]);
      }
    };
    // Leftovers of a leader that died before writing the plan node: no worker ever touched them.
    for (const dir of [layout.slices, layout.queue, layout.summaries, layout.customers]) {
      if ((await zk.childrenOrEmpty(dir)).length) {
        log.warn({ path: dir }, 'clearing the nodes of an unfinished plan');
        await this.clear(dir, fenced);
      }
    }
    // target.prepare: the index exists and is tuned for bulk loading before any slice can be claimed.
    await prepareTarget(zk, this.spec, this.id);
    const shapes = await this.shapes();
    const plan = await this.compute(shapes, concurrency);
    const buckets = bucketCount(plan.slices.length, SLICES_PER_BUCKET);
    const customerBuckets = bucketCount(plan.customers.size, CUSTOMERS_PER_BUCKET);
    for (const dir of [layout.slices, layout.queue, layout.summaries, layout.customers]) await zk.mkdirp(dir);
    const used = new Set(plan.slices.map((_, i) => sliceBucket(i, buckets)));
    await fenced([...used].flatMap((b) => [
      { op: 'create' as const, path: layout.sliceBucket(b) },
      { op: 'create' as const, path: layout.queueBucket(b) },
      { op: 'create' as const, path: layout.summary(b), data: encodeJson(emptySummary()) },
    ]));
    await fenced(plan.slices.flatMap((w, i) => {
      const a = { bucket: sliceBucket(i, buckets), name: sliceNodeName(i) };
      return [
        { op: 'create' as const, path: layout.slice(a), data: encodeJson(newWorkNode(w.customers, i, w.bounds, w.estimate)) },
        { op: 'create' as const, path: layout.queued(a) },
      ];
    }));
    const index = new Map<string, CustomerIndexNode>();
    for (const [cn, e] of plan.customers) {
      const b = customerBucket(e.customer, customerBuckets);
      const node = index.get(b) ?? { customers: {} };
      const { customer: _customer, ...rest } = e;
      node.customers[cn] = rest;
      index.set(b, node);
    }
    await fenced([...index].map(([b, node]) => ({ op: 'create' as const, path: layout.customerIndex(b), data: encodeJson(node) })));
    const stats = summarize(plan.slices.map((w) => w.estimate));
    const top = [...plan.customers.values()].sort((a, b) => b.docs - a.docs).slice(0, TOP_CUSTOMERS).map((e) => e.customer);
    const node: PlanNode = {
      generation, customers: plan.customers.size, slices: plan.slices.length, buckets, customerBuckets, estimate: stats.total,
      plannedAt: Date.now(), plannedBy: this.id, specHash: specHash(this.spec),
      summary: { docs: stats.total, min: stats.min, median: stats.median, max: stats.max }, top,
    };
    await fenced([{ op: 'create', path: layout.plan, data: encodeJson(node) }]);
    // Idle --follow workers watch the queue node: new work.
    await zk.setData(layout.queue, Buffer.from(String(Date.now())), -1).catch(() => undefined);
    log.info({ customers: plan.customers.size, slices: plan.slices.length, docs: stats.total, buckets }, 'plan written');
    return rows(plan, 'planned');
  }

  /** Removes everything under `dir` (children first), fenced by the barrier. */
  private async clear(dir: string, fenced: (ops: MultiOp[]) => Promise<void>): Promise<void> {
    const zk = this.zk!;
    for (const b of await zk.childrenOrEmpty(dir)) {
      const children = await zk.childrenOrEmpty(`${dir}/${b}`);
      await fenced([...children.map((n) => ({ op: 'remove' as const, path: `${dir}/${b}/${n}`, version: -1 })), { op: 'remove' as const, path: `${dir}/${b}`, version: -1 }]);
    }
  }

  /** Polls (a watch would be lost with a renewed session) until the other leader's barrier is gone. */
  private async waitForVanish(path: string): Promise<void> {
    while (await this.zk!.exists(path)) await sleep(500);
  }
}

/** Customer order: by value, the no-customer documents last. */
function cmpCustomer(a: string | null, b: string | null): number {
  if (a === b) return 0;
  if (a === null) return 1;
  if (b === null) return -1;
  return a < b ? -1 : 1;
}

/** One row per customer: its slices (shared ones once), documents, and how many it shares a slice with. */
function rows(plan: ComputedPlan, outcome: CustomerPlan['outcome']): CustomerPlan[] {
  const out: CustomerPlan[] = [];
  for (const e of plan.customers.values()) {
    const own = plan.slices.slice(e.first, e.first + e.count);
    const packed = own.length === 1 && own[0].customers.length > 1;
    const st = summarize(packed ? [e.docs] : own.map((w) => w.estimate));
    out.push({ customer: e.customer, slices: own.length, docs: e.docs, min: st.min, median: st.median, max: st.max, packedWith: packed ? own[0].customers.length - 1 : 0, outcome });
  }
  return out.sort((a, b) => cmpCustomer(a.customer, b.customer));
}
