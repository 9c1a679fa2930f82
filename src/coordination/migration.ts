/**
 * The one store of the migration's ZooKeeper nodes: the spec it was planned with, the plan, work
 * nodes, the queue of unfinished slices, bucket summaries and the customer index. Every read decodes
 * through `decode` (nodes.ts); paths come from the Layout and nowhere else.
 */
import { publicSpec, specHash, type Spec } from '../config/spec';
import { UserError } from '../errors';
import { CLAIM_SUFFIX, Layout, customerBucket, customerNodeName, sliceBucket, sliceNodeName, type SliceAddress } from './layout';
import { CorruptNodeError, decodeNode, type NodeKind } from './nodes';
import type { CustomerEntry, CustomerIndexNode, PlanNode, SummaryNode, WorkNode } from './workNode';
import { CreateMode, ZkSession, encodeJson, isBadVersion, isNodeExists } from './zk';
import type { ClaimInfo } from './claim';
import { transition, type Lifecycle, type LifecycleEvent } from '../lifecycle/machine';

/** Reads of a whole-tree walk in flight at once (status at 100,000 customers reads 512 index buckets). */
const READS_IN_FLIGHT = 16;

export interface SpecNode {
  hash: string;
  spec: Spec;
  createdAt: number;
  createdBy: string;
}

export class MigrationStore {
  readonly layout: Layout;

  /**
   * Called (and awaited) when a read meets a corrupt node, before the error is thrown: a worker stops
   * its other lanes there, and says what it had done (worker.ts).
   */
  onCorrupt?: (e: CorruptNodeError) => Promise<string | void> | string | void;

  constructor(readonly zk: ZkSession, readonly spec: Spec) {
    this.layout = new Layout(spec.zookeeper.root, spec.migration);
  }

  /** The one way this store decodes a node: its kind's schema (nodes.ts), then `extra`; a corrupt node goes through onCorrupt. */
  async decode<K extends NodeKind>(kind: K, data: Buffer, path: string, extra?: (v: any) => string | null): Promise<ReturnType<typeof decodeNode<K>>> {
    try {
      const value = decodeNode(kind, data, path);
      const problem = extra?.(value);
      if (problem) throw new CorruptNodeError(path, problem, kind);
      return value;
    } catch (e) {
      if (!(e instanceof CorruptNodeError) || !this.onCorrupt) throw e;
      const changed = await this.onCorrupt(e);
      throw changed ? e.withChanges(changed) : e;
    }
  }

  async readSpecNode(): Promise<SpecNode | null> {
    const got = await this.zk.getDataOrNull(this.layout.spec);
    if (!got) return null;
    return (await this.decode('spec', got.data, this.layout.spec)) as unknown as SpecNode;
  }

  /** Records the spec on first use; afterwards refuses a spec that would change the plan or the copy. */
  async ensureSpec(by: string): Promise<void> {
    const hash = specHash(this.spec);
    const existing = await this.readSpecNode();
    if (existing) return this.assertSameSpec(existing, hash);
    await this.zk.mkdirp(this.layout.base);
    try {
      const node: SpecNode = { hash, spec: publicSpec(this.spec), createdAt: Date.now(), createdBy: by };
      await this.zk.create(this.layout.spec, encodeJson(node));
    } catch (e) {
      if (!isNodeExists(e)) throw e;
      const raced = await this.readSpecNode();
      if (raced) this.assertSameSpec(raced, hash);
    }
  }

  /** The migration's lifecycle (null: never planned), with the node's version for a conditional write. */
  async readLifecycle(): Promise<{ lifecycle: Lifecycle; version: number } | null> {
    const got = await this.zk.getDataOrNull(this.layout.lifecycle);
    if (!got) return null;
    return { lifecycle: (await this.decode('lifecycle', got.data, this.layout.lifecycle)) as unknown as Lifecycle, version: got.stat.version };
  }

  /**
   * Applies one lifecycle event (lifecycle/machine.ts) with a conditional write, re-reading on a race.
   * A refusal is a UserError naming the state and what to do; nothing is written then. `guard`, seen
   * with each read, may decline the event (returns why): nothing is written, the state is returned.
   */
  async applyLifecycle(event: LifecycleEvent, by: string, guard?: (cur: Lifecycle | null) => Promise<string | null>): Promise<Lifecycle | null> {
    for (;;) {
      const got = await this.readLifecycle();
      const cur = got?.lifecycle ?? null;
      if (guard && (await guard(cur))) return cur;
      const t = transition(cur, event, Date.now(), by);
      if (!t.ok) {
        throw new UserError(`Migration "${this.spec.migration}": ${t.refusal} (its lifecycle state is ${t.state ?? 'none: never planned'}).`, `Next: ${t.hint}`);
      }
      if (!t.changed) return t.next;
      try {
        if (got) await this.zk.setData(this.layout.lifecycle, encodeJson(t.next), got.version);
        else await this.zk.create(this.layout.lifecycle, encodeJson(t.next));
        return t.next;
      } catch (e) {
        if (!isBadVersion(e) && !isNodeExists(e)) throw e; // another command moved it meanwhile: look again
      }
    }
  }

  /** For commands that need a planned migration. */
  async requireSpec(): Promise<SpecNode> {
    const existing = await this.readSpecNode();
    if (!existing) {
      throw new UserError(`Migration "${this.spec.migration}" has not been planned (no ${this.layout.spec} in ZooKeeper).`,
        'Run `bluegreen plan --spec <file>` first.');
    }
    this.assertSameSpec(existing, specHash(this.spec));
    return existing;
  }

  private assertSameSpec(existing: SpecNode, hash: string): void {
    if (existing.hash === hash) return;
    const was = existing.spec as any;
    const changed = ['source', 'target', 'fields', 'customers', 'retention', 'slicing', 'copy', 'transform']
      .filter((k) => {
        const a = was?.[k];
        const b = (this.spec as any)[k];
        if (k === 'source' || k === 'target') return a?.kind !== b.kind || a?.collection !== b.collection || JSON.stringify(a?.query) !== JSON.stringify(b.query);
        if (k === 'transform') return a?.version !== b?.version;
        return JSON.stringify(a) !== JSON.stringify(b);
      });
    throw new UserError(
      `The spec differs from the one migration "${this.spec.migration}" was planned with (changed: ${changed.join(', ') || 'unknown'}; hash ${hash} vs ${existing.hash}).`,
      'Use the spec the migration was planned with, or start a new migration under another name. Batch sizes, rates and URLs may change freely; what is sliced and copied may not.');
  }

  /** The plan node: null until a planner has written every slice and the customer index. */
  async readPlan(): Promise<PlanNode | null> {
    const got = await this.zk.getDataOrNull(this.layout.plan);
    return got ? ((await this.decode('plan', got.data, this.layout.plan)) as unknown as PlanNode) : null;
  }

  /** Where slice `index` lives under a plan of `buckets` buckets. */
  static address(index: number, buckets: number): SliceAddress {
    return { bucket: sliceBucket(index, buckets), name: sliceNodeName(index) };
  }

  async readSlice(a: SliceAddress): Promise<{ node: WorkNode; version: number } | null> {
    const path = this.layout.slice(a);
    const got = await this.zk.getDataOrNull(path);
    if (!got) return null;
    const node = (await this.decode('slice', got.data, path, (v) => (sliceNodeName(v.index) !== a.name ? `it says index ${v.index}, but it is slice ${a.name}` : null))) as unknown as WorkNode;
    return { node, version: got.stat.version };
  }

  /** A claim's content, or null when the slice is not claimed. */
  async readClaim(a: SliceAddress): Promise<{ claim: ClaimInfo; version: number } | null> {
    const path = this.layout.claim(a);
    const got = await this.zk.getDataOrNull(path);
    return got ? { claim: (await this.decode('claim', got.data, path)) as ClaimInfo, version: got.stat.version } : null;
  }

  /** Buckets that still hold unfinished slices (or claims): the queue's first level. */
  async queueBuckets(): Promise<string[]> {
    return this.zk.childrenOrEmpty(this.layout.queue);
  }

  /** One bucket of the queue: its unfinished slices, and which of them are claimed. One request. */
  async queueEntries(bucket: string): Promise<{ entries: string[]; claimed: Set<string> }> {
    const names = await this.zk.childrenOrEmpty(this.layout.queueBucket(bucket));
    const claimed = new Set<string>();
    const entries: string[] = [];
    for (const n of names) {
      if (n.endsWith(CLAIM_SUFFIX)) claimed.add(n.slice(0, -CLAIM_SUFFIX.length));
      else entries.push(n);
    }
    return { entries: entries.sort(), claimed };
  }

  /** Every unfinished slice (queued), with whether it is claimed: one listing per bucket. */
  async unfinished(): Promise<Array<SliceAddress & { claimed: boolean }>> {
    const buckets = (await this.queueBuckets()).sort();
    const listed = await pool(buckets, READS_IN_FLIGHT, (b) => this.queueEntries(b));
    return buckets.flatMap((bucket, i) => listed[i].entries.map((name) => ({ bucket, name, claimed: listed[i].claimed.has(name) })));
  }

  async readSummary(bucket: string): Promise<{ summary: SummaryNode; version: number } | null> {
    const path = this.layout.summary(bucket);
    const got = await this.zk.getDataOrNull(path);
    return got ? { summary: (await this.decode('summary', got.data, path)) as unknown as SummaryNode, version: got.stat.version } : null;
  }

  /** Every bucket's summary of finished slices (one read per bucket). */
  async summaries(): Promise<Map<string, SummaryNode>> {
    const buckets = await this.zk.childrenOrEmpty(this.layout.summaries);
    const got = await pool(buckets, READS_IN_FLIGHT, (b) => this.readSummary(b));
    return new Map(buckets.flatMap((b, i) => (got[i] ? [[b, got[i].summary] as const] : [])));
  }

  async readCustomerIndex(bucket: string): Promise<CustomerIndexNode | null> {
    const path = this.layout.customerIndex(bucket);
    const got = await this.zk.getDataOrNull(path);
    return got ? ((await this.decode('customerIndex', got.data, path)) as unknown as CustomerIndexNode) : null;
  }

  /** One customer's entry in the index (which slices hold it), or null when the plan does not hold it. */
  async customerEntry(customer: string | null, plan?: PlanNode | null): Promise<CustomerEntry | null> {
    const p = plan ?? (await this.readPlan());
    if (!p) return null;
    const index = await this.readCustomerIndex(customerBucket(customer, p.customerBuckets));
    return index?.customers[customerNodeName(customer)] ?? null;
  }

  /** The whole customer index, by customer node name (one read per bucket). */
  async customerIndex(): Promise<Map<string, CustomerEntry>> {
    const buckets = (await this.zk.childrenOrEmpty(this.layout.customers)).sort();
    const out = new Map<string, CustomerEntry>();
    for (const index of await pool(buckets, READS_IN_FLIGHT, (b) => this.readCustomerIndex(b))) {
      for (const [cn, e] of Object.entries(index?.customers ?? {})) out.set(cn, e);
    }
    return out;
  }

  /** Every work node (O(slices) reads: for verification, completion and diagnostics, never per claim). */
  async slices(): Promise<Array<{ address: SliceAddress; node: WorkNode; version: number }>> {
    const addresses: SliceAddress[] = [];
    for (const bucket of await this.zk.childrenOrEmpty(this.layout.slices)) {
      for (const name of await this.zk.childrenOrEmpty(this.layout.sliceBucket(bucket))) addresses.push({ bucket, name });
    }
    const out = await pool(addresses, READS_IN_FLIGHT, async (a) => {
      const got = await this.readSlice(a);
      return got ? { address: a, ...got } : null;
    });
    return out.filter((x): x is NonNullable<typeof x> => x !== null).sort((a, b) => a.node.index - b.node.index);
  }

  /**
   * Reads and decodes every node of the migration a worker relies on — spec, target record, cutover,
   * lifecycle, plan, summaries, and the work node and claim of every unfinished slice (finished ones
   * are never touched again; the customer index is for status and cutover, which read it themselves)
   * — and throws the first corrupt one
   * (CorruptNodeError) before the command registers, claims or writes anything.
   */
  /**
   * validateAll, once per plan for the whole fleet (the work nodes' part is O(slices) reads, so ten
   * workers starting together must not each do it): the first worker of a plan checks every node under
   * the ephemeral `checking` lock and records `checked` with the plan's generation; the others wait for
   * that record, then check only the small nodes. A work node hand-edited after the record is met in
   * the claim path (the scheduler decodes every work node it reads; the worker stops at its
   * checkpoints and says what it had done). A check that fails records nothing: the next worker checks
   * again, and refuses the same node.
   */
  async validateOnce(by: string, opts: { waitMs?: number; pollMs?: number } = {}): Promise<{ slices: number; checkedBy: string | null }> {
    const deadline = Date.now() + (opts.waitMs ?? 600_000);
    for (;;) {
      const plan = await this.readPlan();
      if (!plan) return { ...(await this.validateAll()), checkedBy: null };
      const done = await this.readChecked();
      if (done && done.generation === plan.generation) {
        await this.validateSmall();
        return { slices: done.slices, checkedBy: done.by };
      }
      try {
        await this.zk.create(this.layout.checking, encodeJson({ by, at: Date.now() }), CreateMode.EPHEMERAL);
      } catch (e) {
        if (!isNodeExists(e)) throw e;
        // This process's own lock, left by an attempt that ZooKeeper cut short (same session): take it back.
        const holder = await this.zk.getDataOrNull(this.layout.checking);
        if (holder && Buffer.from(holder.stat.ephemeralOwner).equals(this.zk.client.getSessionId())) {
          await this.zk.remove(this.layout.checking, -1).catch(() => undefined);
          continue;
        }
        // Another worker is checking. Its session ends with it (ephemeral); past the deadline, check here.
        if (Date.now() > deadline) return { ...(await this.validateAll()), checkedBy: null };
        await this.untilGone(this.layout.checking, opts.pollMs ?? 5000);
        continue;
      }
      try {
        // Read again under the lock: a worker that read no record just before another wrote it and let
        // go of the lock would otherwise check every node a second time.
        const since = await this.readChecked();
        if (since && since.generation === plan.generation) {
          await this.validateSmall();
          return { slices: since.slices, checkedBy: since.by };
        }
        const r = await this.validateAll();
        const record = encodeJson({ generation: plan.generation, by, at: Date.now(), slices: r.slices });
        try {
          await this.zk.create(this.layout.checked, record);
        } catch (e) {
          if (!isNodeExists(e)) throw e;
          await this.zk.setData(this.layout.checked, record, -1);
        }
        return { ...r, checkedBy: by };
      } finally {
        await this.zk.remove(this.layout.checking, -1).catch(() => undefined);
      }
    }
  }

  /** Until `path` is deleted (a watch), or `ms` at most (a missed event costs one more look, not a hang). */
  private async untilGone(path: string, ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
      this.zk.exists(path, () => resolve()).then((stat) => { if (!stat) resolve(); }, () => resolve());
    });
    clearTimeout(timer);
  }

  private async readChecked(): Promise<{ generation: number; by: string; slices: number } | null> {
    const got = await this.zk.getDataOrNull(this.layout.checked);
    return got ? ((await this.decode('checked', got.data, this.layout.checked)) as unknown as { generation: number; by: string; slices: number }) : null;
  }

  /** Every node of the migration but the work nodes and claims (one read each, or one per bucket). */
  private async validateSmall(): Promise<void> {
    const single = async (kind: NodeKind, path: string) => {
      const got = await this.zk.getDataOrNull(path);
      if (got) await this.decode(kind, got.data, path);
    };
    await single('spec', this.layout.spec);
    await single('cutover', this.layout.cutover);
    await single('target', `${this.layout.base}/target`);
    await single('lifecycle', this.layout.lifecycle);
    await this.readPlan();
    await this.summaries();
  }

  async validateAll(): Promise<{ slices: number }> {
    await this.validateSmall();
    const open = await this.unfinished();
    await pool(open, READS_IN_FLIGHT, async (a) => {
      await this.readSlice(a);
      if (a.claimed) await this.readClaim(a);
    });
    return { slices: open.length };
  }
}

/** Runs `fn` over `items`, `n` at a time; results in the items' order. */
export async function pool<T, R>(items: T[], n: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  }));
  return out;
}
