/** Looking at a migration's ZooKeeper tree from a test, and waiting for the fleet to get somewhere. */
import { hostname } from 'node:os';
import type { Layout } from '../../src/coordination/layout';
import type { WorkNode } from '../../src/coordination/workNode';
import type { ZkSession } from '../../src/coordination/zk';
import type { Running } from './cli';

export interface SliceView {
  path: string;
  node: WorkNode;
}

export async function allSlices(zk: ZkSession, layout: Layout): Promise<SliceView[]> {
  const out: SliceView[] = [];
  for (const c of await zk.childrenOrEmpty(layout.customers)) {
    for (const n of await zk.childrenOrEmpty(layout.slices(c))) {
      const { data } = await zk.getData(layout.slice(c, n));
      out.push({ path: layout.slice(c, n), node: JSON.parse(data.toString()) });
    }
  }
  return out;
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
