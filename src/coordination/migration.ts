/** The migration's own nodes: the spec it was planned with, and reading plans and work nodes. */
import { publicSpec, specHash, type Spec } from '../config/spec';
import { UserError } from '../errors';
import { Layout, customerNodeName, sliceNodeName } from './layout';
import { CorruptNodeError, decodeNode, type NodeKind } from './nodes';
import type { PlanNode, WorkNode } from './workNode';
import { ZkSession, encodeJson, isBadVersion, isNodeExists } from './zk';
import type { ClaimInfo } from './claim';
import { transition, type Lifecycle, type LifecycleEvent } from '../lifecycle/machine';

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
    const changed = ['source', 'target', 'fields', 'customers', 'retention', 'slicing', 'copy']
      .filter((k) => {
        const a = was?.[k];
        const b = (this.spec as any)[k];
        if (k === 'source' || k === 'target') return a?.kind !== b.kind || a?.collection !== b.collection;
        return JSON.stringify(a) !== JSON.stringify(b);
      });
    throw new UserError(
      `The spec differs from the one migration "${this.spec.migration}" was planned with (changed: ${changed.join(', ') || 'unknown'}; hash ${hash} vs ${existing.hash}).`,
      'Use the spec the migration was planned with, or start a new migration under another name. Batch sizes, rates and URLs may change freely; what is sliced and copied may not.');
  }

  async customerNodes(): Promise<string[]> {
    return this.zk.childrenOrEmpty(this.layout.customers);
  }

  async readPlan(customerNode: string): Promise<PlanNode | null> {
    const path = this.layout.plan(customerNode);
    const got = await this.zk.getDataOrNull(path);
    if (!got) return null;
    return (await this.decode('plan', got.data, path, (v) => (customerNodeName(v.customer) === customerNode ? null
      : `it is the plan of customer ${JSON.stringify(v.customer)}, not of ${customerNode}`))) as PlanNode;
  }

  /** A claim's content, or null when the slice is not claimed. */
  async readClaim(customerNode: string, name: string): Promise<{ claim: ClaimInfo; version: number } | null> {
    const path = this.layout.claim(customerNode, name);
    const got = await this.zk.getDataOrNull(path);
    return got ? { claim: (await this.decode('claim', got.data, path)) as ClaimInfo, version: got.stat.version } : null;
  }

  /**
   * Reads and decodes every node of the migration a command relies on — spec, target record, cutover,
   * every plan, work node and claim — and throws the first corrupt one (CorruptNodeError) before the
   * command registers, claims or writes anything. Requests run a few at a time.
   */
  async validateAll(): Promise<{ customers: number; slices: number }> {
    const reads: Array<() => Promise<unknown>> = [];
    const single = (kind: NodeKind, path: string) => reads.push(async () => {
      const got = await this.zk.getDataOrNull(path);
      if (got) await this.decode(kind, got.data, path);
    });
    single('spec', this.layout.spec);
    single('cutover', this.layout.cutover);
    single('target', `${this.layout.base}/target`);
    single('lifecycle', this.layout.lifecycle);
    const customers = await this.customerNodes();
    let slices = 0;
    for (const cn of customers) {
      reads.push(() => this.readPlan(cn));
      const [names, claims] = await Promise.all([this.sliceNames(cn), this.zk.childrenOrEmpty(this.layout.claims(cn))]);
      slices += names.length;
      for (const n of names) reads.push(() => this.readSlice(cn, n));
      for (const n of claims) reads.push(() => this.readClaim(cn, n));
    }
    let next = 0;
    await Promise.all(Array.from({ length: Math.min(16, reads.length) }, async () => {
      while (next < reads.length) await reads[next++]();
    }));
    return { customers: customers.length, slices };
  }

  async sliceNames(customerNode: string): Promise<string[]> {
    return (await this.zk.childrenOrEmpty(this.layout.slices(customerNode))).sort();
  }

  async claimNames(customerNode: string): Promise<Set<string>> {
    return new Set(await this.zk.childrenOrEmpty(this.layout.claims(customerNode)));
  }

  /** Every work node of the migration (or of one customer node), in customer then slice order. */
  async slices(onlyCustomer?: string): Promise<Array<{ cn: string; n: string; node: WorkNode }>> {
    const out: Array<{ cn: string; n: string; node: WorkNode }> = [];
    for (const cn of (await this.customerNodes()).sort()) {
      if (onlyCustomer !== undefined && cn !== onlyCustomer) continue;
      for (const n of await this.sliceNames(cn)) {
        const got = await this.readSlice(cn, n);
        if (got) out.push({ cn, n, node: got.node });
      }
    }
    return out;
  }

  async readSlice(customerNode: string, name: string): Promise<{ node: WorkNode; version: number } | null> {
    const path = this.layout.slice(customerNode, name);
    const got = await this.zk.getDataOrNull(path);
    if (!got) return null;
    const node = (await this.decode('slice', got.data, path, (v) => (sliceNodeName(v.index) !== name ? `it says index ${v.index}, but it is slice ${name}`
      : customerNodeName(v.customer) !== customerNode ? `it belongs to customer ${JSON.stringify(v.customer)}, not to ${customerNode}` : null))) as WorkNode;
    return { node, version: got.stat.version };
  }
}
