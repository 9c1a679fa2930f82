/** Looking at a migration's ZooKeeper tree from a test, and waiting for the fleet to get somewhere. */
import type { Layout } from '../../src/coordination/layout';
import type { WorkNode } from '../../src/coordination/workNode';
import type { ZkSession } from '../../src/coordination/zk';

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
