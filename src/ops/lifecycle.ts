/**
 * The two commands that end a migration, in the Vitess spirit:
 * - `bluegreen complete`: after a cutover has held. Records `completed`, then prunes the coordination
 *   state (work nodes, claims, verification runs but the one behind the cutover), keeping the spec, the
 *   plans (per-customer summaries), the lifecycle history and the read flag.
 * - `bluegreen cancel`: before any cutover. Records `cancelled` (running workers see it and stop),
 *   puts the target's bulk-load settings back (target.prepare), and leaves the legacy cluster untouched
 *   and every node in place as the record of what was done.
 * Both are transitions of the stored lifecycle (machine.ts): refused, with the state and what to do,
 * where it does not allow them; both can be run again (a prune or restore cut short is finished).
 */
import type { Backend } from '../backends/types';
import type { Spec } from '../config/spec';
import { MigrationStore } from '../coordination/migration';
import type { ZkSession } from '../coordination/zk';
import { log } from '../log';
import { restoreTarget } from '../prepare/targetPrep';
import type { Lifecycle } from '../lifecycle/machine';

export interface CompleteResult {
  lifecycle: Lifecycle;
  totals: { slices: number; read: number; written: number; skipped: number; rejected: number };
  pruned: { slices: number; verifyRuns: number };
}

export async function completeMigration(spec: Spec, zk: ZkSession, by: string): Promise<CompleteResult> {
  const store = new MigrationStore(zk, spec);
  await store.requireSpec();
  // The totals are read before anything is pruned, and recorded with the transition.
  const totals = { slices: (await store.readPlan())?.slices ?? 0, read: 0, written: 0, skipped: 0, rejected: 0 };
  for (const sm of (await store.summaries()).values()) {
    totals.read += sm.counts.read;
    totals.written += sm.counts.written;
    totals.skipped += sm.counts.skipped;
    totals.rejected += sm.counts.rejected;
  }
  const current = (await store.readLifecycle())?.lifecycle;
  const lifecycle = current?.state === 'completed'
    ? current // a prune cut short: finish it
    : (await store.applyLifecycle({ type: 'completed' }, by))!;
  const keepRun = lifecycle.verification?.run;
  const pruned = { slices: totals.slices, verifyRuns: 0 };
  // The work goes (slices, queue, summaries); the plan node and the customer index stay, small and bounded.
  for (const dir of [store.layout.queue, store.layout.slices, store.layout.summaries]) await zk.removeRecursive(dir);
  for (const run of await zk.childrenOrEmpty(store.layout.verify)) {
    if (run === keepRun) continue;
    await zk.removeRecursive(`${store.layout.verify}/${run}`);
    pruned.verifyRuns++;
  }
  log.info({ totals, pruned }, 'migration completed: coordination state pruned, history and read flag kept');
  return { lifecycle, totals, pruned };
}

export async function cancelMigration(spec: Spec, zk: ZkSession, target: Backend, by: string, reason: string): Promise<Lifecycle> {
  const store = new MigrationStore(zk, spec);
  await store.requireSpec();
  const current = (await store.readLifecycle())?.lifecycle;
  const lifecycle = current?.state === 'cancelled' ? current : (await store.applyLifecycle({ type: 'cancelled', reason }, by))!;
  // Workers stop at their next look at the lifecycle; the target gets its own settings back.
  await restoreTarget(zk, spec, by, target);
  log.info({ reason: lifecycle.cancelled?.reason }, 'migration cancelled: workers stop, target settings restored, legacy untouched');
  return lifecycle;
}
