/** Looking at a migration's ZooKeeper tree from a test, and waiting for the fleet to get somewhere. */
import { hostname } from 'node:os';
import { CLAIM_SUFFIX, type Layout, type SliceAddress } from '../../src/coordination/layout';
import type { CustomerEntry, PlanNode, WorkNode } from '../../src/coordination/workNode';
import type { ZkSession } from '../../src/coordination/zk';
import type { Running } from './cli';

export interface SliceView {
  path: string;
  /** Where its nodes are (layout.slice / claim / queued). */
  address: SliceAddress;
  node: WorkNode;
}

/** Every work node of the migration, by slice number. */
export async function allSlices(zk: ZkSession, layout: Layout): Promise<SliceView[]> {
  const out: SliceView[] = [];
  for (const bucket of await zk.childrenOrEmpty(layout.slices)) {
    for (const name of await zk.childrenOrEmpty(layout.sliceBucket(bucket))) {
      const address = { bucket, name };
      const got = await zk.getDataOrNull(layout.slice(address));
      if (got) out.push({ path: layout.slice(address), address, node: JSON.parse(got.data.toString()) });
    }
  }
  return out.sort((a, b) => a.node.index - b.node.index);
}

/** The slices that hold `customer` (null: documents with no customer). */
export async function slicesOf(zk: ZkSession, layout: Layout, customer: string | null): Promise<SliceView[]> {
  return (await allSlices(zk, layout)).filter((s) => s.node.customers.includes(customer));
}

export async function waitFor<T>(what: string, fn: () => Promise<T | undefined | null | false>, timeoutMs = 60_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * The slices worker `w` holds in the middle: `pages` pages checkpointed and at least `pages` still to
 * read, so one more checkpoint (on its way to ZooKeeper when the worker is frozen) cannot finish them.
 */
export function midSlice(zk: ZkSession, layout: Layout, w: Running, pageDocs: number, pages = 2) {
  const prefix = `${hostname()}-${w.child.pid}-`;
  return async (): Promise<SliceView[] | null> => {
    const mine = (await allSlices(zk, layout)).filter((s) => s.node.owner?.startsWith(prefix)
      && s.node.status === 'todo' && s.node.cursor !== null && s.node.counts.read >= pages * pageDocs
      && s.node.estimate - s.node.counts.read >= pages * pageDocs);
    return mine.length ? mine : null;
  };
}

/**
 * Waits until `held()` finds something, then freezes the worker (SIGSTOP) and looks again: what it
 * returns is what the frozen worker holds, so a signal sent next lands exactly there, whatever the
 * machine's speed. The worker stays frozen; the caller kills it, or signals it and sends SIGCONT.
 */
export function freezeWhen<T>(what: string, w: Running, held: () => Promise<T | null>, timeoutMs = 60_000): Promise<T> {
  return waitFor(what, async () => {
    if (!(await held())) return null;
    w.child.kill('SIGSTOP');
    const still = await held();
    if (!still) w.child.kill('SIGCONT'); // it moved on meanwhile: let it run, look again
    return still;
  }, timeoutMs);
}

/** Every claim node of the migration (beside its queue entry), with what it says. */
export async function allClaims(zk: ZkSession, layout: Layout): Promise<Array<{ path: string; address: SliceAddress; worker: string; session: string }>> {
  const out: Array<{ path: string; address: SliceAddress; worker: string; session: string }> = [];
  for (const bucket of await zk.childrenOrEmpty(layout.queue)) {
    for (const n of await zk.childrenOrEmpty(layout.queueBucket(bucket))) {
      if (!n.endsWith(CLAIM_SUFFIX)) continue;
      const address = { bucket, name: n.slice(0, -CLAIM_SUFFIX.length) };
      const got = await zk.getDataOrNull(layout.claim(address));
      if (got) out.push({ path: layout.claim(address), address, ...JSON.parse(got.data.toString()) });
    }
  }
  return out;
}

/** The plan node, or null before a plan is complete. */
export async function planNode(zk: ZkSession, layout: Layout): Promise<PlanNode | null> {
  const got = await zk.getDataOrNull(layout.plan);
  return got ? JSON.parse(got.data.toString()) : null;
}

/** The customer index: customer node name → where its documents are. */
export async function customerIndex(zk: ZkSession, layout: Layout): Promise<Map<string, CustomerEntry>> {
  const out = new Map<string, CustomerEntry>();
  for (const b of await zk.childrenOrEmpty(layout.customers)) {
    const got = await zk.getDataOrNull(layout.customerIndex(b));
    if (got) for (const [cn, e] of Object.entries(JSON.parse(got.data.toString()).customers as Record<string, CustomerEntry>)) out.set(cn, e);
  }
  return out;
}
