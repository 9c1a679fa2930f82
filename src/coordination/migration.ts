/** The migration's own nodes: the spec it was planned with, and reading plans and work nodes. */
import { publicSpec, specHash, type Spec } from '../config/spec';
import { UserError } from '../errors';
import { Layout } from './layout';
import type { PlanNode, WorkNode } from './workNode';
import { planNodeProblem, workNodeProblem } from './workNode';
import { ZkSession, decodeJson, encodeJson, isNodeExists } from './zk';

export interface SpecNode {
  hash: string;
  spec: Spec;
  createdAt: number;
  createdBy: string;
}

export class MigrationStore {
  readonly layout: Layout;

  constructor(readonly zk: ZkSession, readonly spec: Spec) {
    this.layout = new Layout(spec.zookeeper.root, spec.migration);
  }

  async readSpecNode(): Promise<SpecNode | null> {
    const got = await this.zk.getDataOrNull(this.layout.spec);
    if (!got) return null;
    return decodeJson<SpecNode>(got.data, this.layout.spec, (v) => (typeof v?.hash === 'string' ? null : 'no hash'));
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
    const got = await this.zk.getDataOrNull(this.layout.plan(customerNode));
    return got ? decodeJson<PlanNode>(got.data, this.layout.plan(customerNode), planNodeProblem) : null;
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
    return got ? { node: decodeJson<WorkNode>(got.data, path, workNodeProblem), version: got.stat.version } : null;
  }
}
