/**
 * `bluegreen status`: progress per customer, rate and ETA, live workers and what they hold, stuck
 * slices (claimed, cursor not moving — seed 004 lost days to those), the latest verification and the
 * read flag. Also `release`, the documented way to take a stuck slice away from its worker.
 */
import type { Spec } from '../config/spec';
import { formatDuration } from '../config/units';
import { Layout, customerFromNodeName, customerNodeName, sliceNodeName } from '../coordination/layout';
import { MigrationStore } from '../coordination/migration';
import type { WorkNode } from '../coordination/workNode';
import { describeBounds } from '../coordination/workNode';
import { MultiError, ZK_CODES, ZkSession, encodeJson } from '../coordination/zk';
import { UserError } from '../errors';
import { Cutover, type CutoverState } from '../cutover/cutover';
import { VerifyStore, type VerifyRun } from '../verifier/verifier';
import { NEXT_STEP, type Lifecycle } from '../lifecycle/machine';

export interface CustomerStatus {
  customer: string | null;
  slices: { todo: number; inProgress: number; done: number; failed: number; total: number };
  docs: { estimate: number; read: number; written: number; skipped: number; rejected: number };
}

export interface SliceRef {
  customer: string | null;
  slice: number;
  bounds: string;
  owner: string | null;
  cursor: string | null;
  read: number;
  estimate: number;
  /** ms since the cursor last moved (or since the claim, if it never did). */
  idleMs: number;
  lastError: string | null;
}

export interface WorkerStatus {
  id: string;
  host: string;
  pid: number;
  docsPerSecond: number;
  copied: number;
  slices: string[];
  updatedAt: number;
}

export interface MigrationStatus {
  migration: string;
  planned: boolean;
  customers: CustomerStatus[];
  totals: CustomerStatus['docs'] & { slices: CustomerStatus['slices'] };
  docsPerSecond: number;
  etaMs: number | null;
  workers: WorkerStatus[];
  inProgress: SliceRef[];
  stuck: SliceRef[];
  failed: SliceRef[];
  verification: VerifyRun | null;
  cutover: CutoverState;
  /** The stored lifecycle (lifecycle/machine.ts); null when the migration was never planned. */
  lifecycle: Lifecycle | null;
  at: number;
}

export async function collectStatus(spec: Spec, zk: ZkSession): Promise<MigrationStatus> {
  const store = new MigrationStore(zk, spec);
  const planned = (await store.readSpecNode()) !== null;
  const now = Date.now();
  const customers: CustomerStatus[] = [];
  const inProgress: SliceRef[] = [];
  const failed: SliceRef[] = [];
  for (const cn of await store.customerNodes()) {
    const claims = await store.claimNames(cn);
    const cs: CustomerStatus = {
      customer: customerFromNodeName(cn),
      slices: { todo: 0, inProgress: 0, done: 0, failed: 0, total: 0 },
      docs: { estimate: 0, read: 0, written: 0, skipped: 0, rejected: 0 },
    };
    for (const n of await store.sliceNames(cn)) {
      const got = await store.readSlice(cn, n);
      if (!got) continue;
      const w = got.node;
      cs.slices.total++;
      cs.docs.estimate += w.estimate;
      cs.docs.read += w.counts.read;
      cs.docs.written += w.counts.written;
      cs.docs.skipped += w.counts.skipped;
      cs.docs.rejected += w.counts.rejected;
      if (w.status === 'done') cs.slices.done++;
      else if (w.status === 'failed') {
        cs.slices.failed++;
        failed.push(ref(w, now));
      } else if (claims.has(n)) {
        cs.slices.inProgress++;
        const claim = await store.readClaim(cn, n);
        const since = claim ? claim.claim.since : now;
        inProgress.push(ref(w, now, since));
      } else cs.slices.todo++;
    }
    customers.push(cs);
  }
  const workers: WorkerStatus[] = [];
  for (const id of await zk.childrenOrEmpty(store.layout.workers)) {
    const got = await zk.getDataOrNull(store.layout.worker(id));
    if (got) workers.push((await store.decode('worker', got.data, store.layout.worker(id))) as WorkerStatus);
  }
  const totals = customers.reduce((t, c) => ({
    estimate: t.estimate + c.docs.estimate, read: t.read + c.docs.read, written: t.written + c.docs.written,
    skipped: t.skipped + c.docs.skipped, rejected: t.rejected + c.docs.rejected,
    slices: {
      todo: t.slices.todo + c.slices.todo, inProgress: t.slices.inProgress + c.slices.inProgress, done: t.slices.done + c.slices.done,
      failed: t.slices.failed + c.slices.failed, total: t.slices.total + c.slices.total,
    },
  }), { estimate: 0, read: 0, written: 0, skipped: 0, rejected: 0, slices: { todo: 0, inProgress: 0, done: 0, failed: 0, total: 0 } });
  const docsPerSecond = workers.reduce((s, w) => s + (w.docsPerSecond ?? 0), 0);
  const remaining = Math.max(0, totals.estimate - totals.read);
  return {
    migration: spec.migration, planned, customers: customers.sort((a, b) => String(a.customer).localeCompare(String(b.customer))),
    totals, docsPerSecond, etaMs: remaining === 0 ? 0 : docsPerSecond > 0 ? (remaining / docsPerSecond) * 1000 : null,
    workers, inProgress, stuck: inProgress.filter((s) => s.idleMs > spec.status.stuckAfter), failed,
    verification: await new VerifyStore(zk, store).latest(),
    cutover: (await new Cutover(spec, zk).read()).state,
    lifecycle: (await store.readLifecycle())?.lifecycle ?? null,
    at: now,
  };
}

/** `status` (and any read-only command) of a migration that has no spec node: it was never planned. */
export function neverPlanned(spec: Spec): UserError {
  const store = new Layout(spec.zookeeper.root, spec.migration);
  return new UserError(`Migration "${spec.migration}" has never been planned: there is no ${store.spec} in ZooKeeper at ${spec.zookeeper.connect}, so there is no progress to show.`,
    'Run `bluegreen plan --spec <file>` first; if it was planned, check the migration name, zookeeper.root and the connect string (chroot included).');
}

function ref(w: WorkNode, now: number, claimedSince?: number): SliceRef {
  const last = Math.max(w.progressAt ?? 0, claimedSince ?? 0);
  return {
    customer: w.customer, slice: w.index, bounds: describeBounds(w.bounds), owner: w.owner, cursor: w.cursor,
    read: w.counts.read, estimate: w.estimate, idleMs: last ? now - last : 0, lastError: w.lastError,
  };
}

const bar = (done: number, total: number, width = 20) => {
  const f = total > 0 ? Math.min(1, done / total) : 1;
  const n = Math.round(f * width);
  return `[${'#'.repeat(n)}${'.'.repeat(width - n)}] ${String(Math.floor(f * 100)).padStart(3)}%`;
};

export function renderStatus(s: MigrationStatus): string {
  const out: string[] = [];
  out.push(`migration ${s.migration}${s.planned ? '' : ' (not planned)'} — ${new Date(s.at).toISOString()}`);
  if (!s.planned) {
    out.push('never planned: nothing to show yet. Run `bluegreen plan --spec <file>`.');
    return out.join('\n');
  }
  if (s.lifecycle) {
    const l = s.lifecycle;
    const detail = l.state === 'planned' && l.planned ? ` (${l.planned.customers} customers, ${l.planned.slices} slices)`
      : l.state === 'verified' && l.verification ? ` (by ${l.verification.run})`
        : l.state === 'cancelled' && l.cancelled ? ` (${l.cancelled.reason})` : '';
    out.push(`state: ${l.state.toUpperCase()}${detail} since ${new Date(l.since).toISOString()} — next: ${NEXT_STEP[l.state]}`);
  }
  const t = s.totals;
  out.push(`${bar(t.read, t.estimate)}  ${t.read}/${t.estimate} documents, slices ${t.slices.done}/${t.slices.total} done, ${t.slices.inProgress} in progress, ${t.slices.failed} failed`);
  out.push(`rate ${Math.round(s.docsPerSecond)} docs/s, ETA ${s.etaMs === null ? 'unknown (no live worker)' : formatDuration(s.etaMs)}; copied ${t.written}, skipped (live write won) ${t.skipped}, rejected ${t.rejected}`);
  out.push('');
  const head = ['customer', 'progress', 'todo', 'running', 'done', 'failed', 'copied', 'skipped', 'rejected'];
  const rows = s.customers.map((c) => [c.customer ?? '(no customer)', bar(c.docs.read, c.docs.estimate, 12), c.slices.todo, c.slices.inProgress, c.slices.done, c.slices.failed, c.docs.written, c.docs.skipped, c.docs.rejected].map(String));
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((x, i) => (i < 2 ? x.padEnd(w[i]) : x.padStart(w[i]))).join('  ');
  out.push(line(head), ...rows.map(line));
  out.push('', `workers: ${s.workers.length} live`);
  for (const wk of s.workers) out.push(`  ${wk.id}  ${Math.round(wk.docsPerSecond)} docs/s  holds ${wk.slices.length ? wk.slices.map((p) => p.split('/').slice(-3).join('/')).join(', ') : 'nothing'}`);
  if (s.stuck.length) {
    out.push('', `STUCK: ${s.stuck.length} claimed slice(s) without cursor progress — release with: bluegreen release --spec <file> --slice <customer>/<n>`);
    for (const x of s.stuck) out.push(`  ${x.customer ?? '(no customer)'}/${x.slice}  ${x.bounds}  idle ${formatDuration(x.idleMs)}  owner ${x.owner}  read ${x.read}/${x.estimate}`);
  }
  if (s.failed.length) {
    out.push('', `FAILED: ${s.failed.length} slice(s) — after fixing the cause: bluegreen release --spec <file> --slice <customer>/<n> --retry`);
    for (const x of s.failed) out.push(`  ${x.customer ?? '(no customer)'}/${x.slice}  ${x.bounds}  ${x.lastError ?? ''}`);
  }
  const v = s.verification;
  out.push('', v ? `verification ${v.id}: ${v.status}${v.totals ? ` (${v.totals.clean}/${v.totals.slices} slices clean; missing ${v.totals.missing}, extra ${v.totals.extra}, different ${v.totals.different})` : ''}` : 'verification: none yet');
  const overrides = Object.entries(s.cutover.customers);
  out.push(`reads go to: ${s.cutover.read}${overrides.length ? ` (per customer: ${overrides.map(([c, side]) => `${c}→${side}`).join(', ')})` : ''}`);
  const p = s.cutover.pending;
  if (p) out.push(`UNFINISHED CUTOVER to ${p.to}${p.customer ? ` for ${p.customer}` : ''} by ${p.by} at ${new Date(p.at).toISOString()}: run the same cutover command again to finish it`);
  return out.join('\n');
}

/**
 * Takes a slice from its worker: removes the claim and bumps the work node in one multi, so the old
 * holder is fenced at its next checkpoint, and the slice resumes from its checkpoint elsewhere.
 */
export async function releaseSlice(spec: Spec, zk: ZkSession, ref: string, opts: { retry?: boolean } = {}): Promise<string> {
  const m = /^(.*)\/(\d+)$/.exec(ref);
  if (!m) throw new UserError(`--slice "${ref}" is not <customer>/<slice number>.`, 'Copy it from the STUCK list of `bluegreen status` (use _none for no customer).');
  const store = new MigrationStore(zk, spec);
  const cn = m[1] === '_none' || m[1] === '(no customer)' ? '_none' : customerNodeName(m[1]);
  const n = sliceNodeName(Number(m[2]));
  const path = store.layout.slice(cn, n);
  const got = await store.readSlice(cn, n);
  if (!got) throw new UserError(`There is no slice ${ref} (${path}).`, 'Check the customer and slice number in `bluegreen status`.');
  const { node } = got;
  const claimPath = store.layout.claim(cn, n);
  const claim = await store.readClaim(cn, n);
  if (node.status === 'done') throw new UserError(`Slice ${ref} is done; there is nothing to release.`, 'To copy it again, plan a new migration; verify-integrity --repair fixes single documents.');
  if (node.status === 'failed' && !opts.retry) {
    throw new UserError(`Slice ${ref} has failed (${node.lastError ?? 'no error recorded'}).`, `Fix the cause, then \`bluegreen release --slice ${ref} --retry\` to put it back in the queue; it resumes from its checkpoint.`);
  }
  const next: WorkNode = {
    ...node, owner: null,
    ...(node.status === 'failed' ? { status: 'todo' as const, failures: 0, stalls: 0 } : {}),
    lastError: node.status === 'failed' ? `retried by operator after: ${node.lastError}` : `released by operator (was ${node.owner})`,
  };
  // One multi: the claim goes and the work node's version moves, so the old holder is fenced.
  const ops: Parameters<ZkSession['multi']>[0] = [{ op: 'set', path, data: encodeJson(next), version: got.version }];
  if (claim) ops.unshift({ op: 'remove', path: claimPath, version: claim.version });
  try {
    await zk.multi(ops);
  } catch (e) {
    // Only a version or existence conflict means the slice moved meanwhile; NO_AUTH and the rest are
    // what they are (the CLI names wrong credentials). A multi is atomic: nothing was written.
    if (e instanceof MultiError && (e.code === ZK_CODES.BAD_VERSION || e.code === ZK_CODES.NO_NODE)) {
      throw new UserError(`Slice ${ref} changed while it was being released (${e.message}); nothing was written.`, 'Look at `bluegreen status` again and retry if it is still stuck.');
    }
    throw e;
  }
  if (node.status === 'failed') return `${ref} is back in the queue (failures reset); it resumes from its checkpoint`;
  return claim ? `released ${ref} (was held by ${node.owner}); it resumes from its checkpoint` : `${ref} was not claimed; its owner field was cleared`;
}
