/**
 * `bluegreen status`: progress per customer, rate and ETA, live workers and what they hold, stuck
 * slices (claimed, cursor not moving — seed 004 lost days to those), the latest verification and the
 * read flag. Also `release`, the documented way to take a stuck slice away from its worker.
 */
import type { Spec } from '../config/spec';
import { formatDuration } from '../config/units';
import { Layout, customerFromNodeName } from '../coordination/layout';
import { MigrationStore, pool } from '../coordination/migration';
import { addCounts, describeBounds, describeCustomers, emptySummary, type Rejection, type SliceCounts, type SummaryNode, type WorkNode } from '../coordination/workNode';
import { MultiError, ZK_CODES, ZkSession, encodeJson, type MultiOp } from '../coordination/zk';
import { UserError } from '../errors';
import { Cutover, type CutoverState } from '../cutover/cutover';
import { VerifyStore, type VerifyRun } from '../verifier/verifier';
import { NEXT_STEP, type Lifecycle } from '../lifecycle/machine';

export interface CustomerStatus {
  customer: string | null;
  slices: { todo: number; inProgress: number; done: number; failed: number; total: number };
  /** Documents as planned, and those in finished slices (a packed slice counts the customer's own). */
  docs: { estimate: number; finished: number };
}

export interface SliceRef {
  /** The slice's number (`release --slice <n>`). */
  slice: number;
  customers: Array<string | null>;
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
  /** Customers in the plan; `customers` lists them all, or with --top the ones with most work left. */
  customerCount: number;
  customers: CustomerStatus[];
  /**
   * Documents of the migration. In place: written = rewritten, skipped = unchanged (fixed points, not
   * written). rejected counts all; transformRejected those the transform refused (dead letters).
   */
  totals: { estimate: number; read: number; written: number; skipped: number; rejected: number; transformRejected: number; conflicts: number; slices: CustomerStatus['slices'] };
  /** copy or in-place (the spec's copy.mode), and the transform's version (null: none). */
  mode: 'copy' | 'in-place';
  transform: string | null;
  /** The first transform rejections (dead letters: id and message), finished slices first; the count is totals.transformRejected. */
  transformRejections: Rejection[];
  docsPerSecond: number;
  etaMs: number | null;
  workers: WorkerStatus[];
  inProgress: SliceRef[];
  stuck: SliceRef[];
  failed: SliceRef[];
  verification: VerifyRun | null;
  /** Ids the dual writer recorded (a second write that failed), not yet found equal by verify-integrity. */
  dualWritesRecorded: number;
  cutover: CutoverState;
  /** The stored lifecycle (lifecycle/machine.ts); null when the migration was never planned. */
  lifecycle: Lifecycle | null;
  at: number;
}

/** Failed slices read in full for the report (the count is always exact). */
const FAILED_SHOWN = 50;
/** Transform rejections listed (id and message; the count is always exact). */
const TRANSFORM_REJECTIONS_SHOWN = 5;

/**
 * The migration's progress from summaries, not work nodes: one read per bucket summary and customer
 * index bucket, one listing per queue bucket, and the work nodes of the slices in progress (as many as
 * lanes at work) — whatever the number of customers and finished slices. `top`: list only the
 * customers with the most work left (the count stays exact).
 */
export async function collectStatus(spec: Spec, zk: ZkSession, opts: { top?: number; customers?: boolean } = {}): Promise<MigrationStatus> {
  const store = new MigrationStore(zk, spec);
  const planned = (await store.readSpecNode()) !== null;
  const now = Date.now();
  const plan = await store.readPlan();
  const summaries = await store.summaries();
  const open = await store.unfinished();
  const totals: MigrationStatus['totals'] = { estimate: plan?.estimate ?? 0, read: 0, written: 0, skipped: 0, rejected: 0, transformRejected: 0, conflicts: 0, slices: { todo: 0, inProgress: 0, done: 0, failed: 0, total: plan?.slices ?? 0 } };
  const addUp = (c: SliceCounts) => {
    for (const k of ['read', 'written', 'skipped', 'rejected', 'transformRejected', 'conflicts'] as const) totals[k] += c[k] ?? 0;
  };
  const failedIds: number[] = [];
  const transformRejections: Rejection[] = [];
  for (const sm of summaries.values()) {
    totals.slices.done += sm.done;
    totals.slices.failed += sm.failed.length;
    failedIds.push(...sm.failed);
    addUp(sm.counts);
    if (transformRejections.length < TRANSFORM_REJECTIONS_SHOWN) transformRejections.push(...(sm.transformRejections ?? []));
  }
  const running: Rejection[] = [];
  const claimedIds = new Set<number>();
  const todoIds = new Set<number>();
  const inProgress: SliceRef[] = [];
  await pool(open, 16, async (a) => {
    if (!a.claimed) {
      todoIds.add(Number(a.name));
      return;
    }
    claimedIds.add(Number(a.name));
    const [got, claim] = await Promise.all([store.readSlice(a), store.readClaim(a)]);
    if (!got) return;
    addUp(got.node.counts);
    running.push(...got.node.rejections.filter((r) => r.by === 'transform'));
    inProgress.push(ref(got.node, now, claim ? claim.claim.since : now));
  });
  transformRejections.push(...running.sort((a, b) => a.id.localeCompare(b.id)));
  // Not yet claimed: what they read before (a resumed slice) is in their work nodes, not read here.
  totals.slices.todo = todoIds.size;
  totals.slices.inProgress = claimedIds.size;
  const failedSet = new Set(failedIds);
  const failed: SliceRef[] = [];
  if (plan) {
    for (const n of failedIds.sort((a, b) => a - b).slice(0, FAILED_SHOWN)) {
      const got = await store.readSlice(MigrationStore.address(n, plan.buckets));
      if (got) failed.push(ref(got.node, now));
    }
  }
  const customers: CustomerStatus[] = [];
  const index = opts.customers === false ? new Map() : await store.customerIndex();
  for (const [cn, e] of index) {
    const cs: CustomerStatus = {
      customer: customerFromNodeName(cn),
      slices: { todo: 0, inProgress: 0, done: 0, failed: 0, total: e.count },
      docs: { estimate: e.docs, finished: 0 },
    };
    for (let n = e.first; n < e.first + e.count; n++) {
      if (claimedIds.has(n)) cs.slices.inProgress++;
      else if (todoIds.has(n)) cs.slices.todo++;
      else if (failedSet.has(n)) cs.slices.failed++;
      else cs.slices.done++;
    }
    cs.docs.finished = e.count === 0 ? 0 : Math.round(e.docs * (cs.slices.done / e.count));
    customers.push(cs);
  }
  const customerCount = opts.customers === false ? plan?.customers ?? 0 : customers.length;
  const byName = (a: CustomerStatus, b: CustomerStatus) => String(a.customer).localeCompare(String(b.customer));
  const shown = opts.top !== undefined
    ? customers.sort((a, b) => (b.docs.estimate - b.docs.finished) - (a.docs.estimate - a.docs.finished) || byName(a, b)).slice(0, opts.top)
    : customers.sort(byName);
  const workers: WorkerStatus[] = [];
  for (const id of await zk.childrenOrEmpty(store.layout.workers)) {
    const got = await zk.getDataOrNull(store.layout.worker(id));
    if (got) workers.push((await store.decode('worker', got.data, store.layout.worker(id))) as WorkerStatus);
  }
  const docsPerSecond = workers.reduce((s, w) => s + (w.docsPerSecond ?? 0), 0);
  const remaining = Math.max(0, totals.estimate - totals.read);
  return {
    migration: spec.migration, planned, customerCount, customers: shown,
    totals, mode: spec.copy.mode, transform: spec.transform ? spec.transform.version ?? spec.transform.module : null,
    transformRejections: transformRejections.slice(0, TRANSFORM_REJECTIONS_SHOWN), docsPerSecond, etaMs: remaining === 0 ? 0 : docsPerSecond > 0 ? (remaining / docsPerSecond) * 1000 : null,
    workers, inProgress: inProgress.sort((a, b) => a.slice - b.slice), stuck: inProgress.filter((s) => s.idleMs > spec.status.stuckAfter), failed,
    verification: await new VerifyStore(zk, store).latest(),
    dualWritesRecorded: await recordedDualWrites(zk, store.layout),
    cutover: (await new Cutover(spec, zk).read()).state,
    lifecycle: (await store.readLifecycle())?.lifecycle ?? null,
    at: now,
  };
}

/** The dual writer's records: one listing of its buckets (empty ones are removed) and one per bucket. */
async function recordedDualWrites(zk: ZkSession, layout: Layout): Promise<number> {
  let n = 0;
  for (const b of await zk.childrenOrEmpty(layout.dualWrites)) n += (await zk.childrenOrEmpty(layout.dualWriteBucket(b))).length;
  return n;
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
    slice: w.index, customers: w.customers, bounds: describeBounds(w.bounds), owner: w.owner, cursor: w.cursor,
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
  const eta = `${s.customerCount} customers; rate ${Math.round(s.docsPerSecond)} docs/s, ETA ${s.etaMs === null ? 'unknown (no live worker)' : formatDuration(s.etaMs)}`;
  const others = t.rejected - t.transformRejected;
  if (s.mode === 'in-place') {
    out.push(`${eta}; in place: read ${t.read}, rewritten ${t.written}, unchanged (fixed points, not written) ${t.skipped}, conflicts re-read (live writes) ${t.conflicts}`);
    out.push(`rejected by the transform ${t.transformRejected}, other rejections ${others}`);
  } else if (s.transform !== null) {
    out.push(`${eta}; copied ${t.written}, skipped (live write won) ${t.skipped}, rejected by the target ${others}, rejected by the transform ${t.transformRejected}`);
  } else {
    out.push(`${eta}; copied ${t.written}, skipped (live write won) ${t.skipped}, rejected ${t.rejected}`);
  }
  if (t.transformRejected > 0) {
    out.push(`TRANSFORM REJECTIONS (dead letters): ${t.transformRejected} document(s) the transform ${s.transform} refused; ${s.transformRejections.length < t.transformRejected ? `the first ${s.transformRejections.length}` : 'all'} (the work nodes' rejections list more):`);
    for (const r of s.transformRejections) out.push(`  ${r.id}: ${r.reason}`);
  }
  out.push('');
  const head = ['customer', 'progress', 'todo', 'running', 'done', 'failed', 'documents'];
  const rows = s.customers.map((c) => [c.customer ?? '(no customer)', bar(c.docs.finished, c.docs.estimate, 12), c.slices.todo, c.slices.inProgress, c.slices.done, c.slices.failed, c.docs.estimate].map(String));
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((x, i) => (i < 2 ? x.padEnd(w[i]) : x.padStart(w[i]))).join('  ');
  out.push(line(head), ...rows.map(line));
  if (s.customers.length < s.customerCount) out.push(`… and ${s.customerCount - s.customers.length} more customers (the ${s.customers.length} with most work left are shown; --all lists every one)`);
  out.push('', `workers: ${s.workers.length} live`);
  for (const wk of s.workers) out.push(`  ${wk.id}  ${Math.round(wk.docsPerSecond)} docs/s  holds ${wk.slices.length ? wk.slices.map((p) => p.split('/').slice(-3).join('/')).join(', ') : 'nothing'}`);
  if (s.stuck.length) {
    out.push('', `STUCK: ${s.stuck.length} claimed slice(s) without cursor progress — release with: bluegreen release --spec <file> --slice <n>`);
    for (const x of s.stuck) out.push(`  slice ${x.slice}  ${describeCustomers(x.customers)}  ${x.bounds}  idle ${formatDuration(x.idleMs)}  owner ${x.owner}  read ${x.read}/${x.estimate}`);
  }
  if (s.failed.length) {
    out.push('', `FAILED: ${s.totals.slices.failed} slice(s) — after fixing the cause: bluegreen release --spec <file> --slice <n> --retry`);
    for (const x of s.failed) out.push(`  slice ${x.slice}  ${describeCustomers(x.customers)}  ${x.bounds}  ${x.lastError ?? ''}`);
  }
  const v = s.verification;
  if (s.dualWritesRecorded > 0) out.push('', `dual writes recorded: ${s.dualWritesRecorded} id(s) whose second write failed — verify-integrity checks them first, --repair fixes them`);
  out.push('', v ? `verification ${v.id}: ${v.status}${v.totals ? ` (${v.totals.clean}/${v.totals.slices} slices clean; missing ${v.totals.missing}, extra ${v.totals.extra}, different ${v.totals.different})` : ''}` : 'verification: none yet');
  const overrides = Object.entries(s.cutover.customers);
  out.push(`reads go to: ${s.cutover.read}${overrides.length ? ` (per customer: ${overrides.map(([c, side]) => `${c}→${side}`).join(', ')})` : ''}`);
  const p = s.cutover.pending;
  if (p) out.push(`UNFINISHED CUTOVER to ${p.to}${p.customer ? ` for ${p.customer}` : ''} by ${p.by} at ${new Date(p.at).toISOString()}: run the same cutover command again to finish it`);
  return out.join('\n');
}

/**
 * Takes a slice from its worker: removes the claim and bumps the work node in one multi, so the old
 * holder is fenced at its next checkpoint, and the slice resumes from its checkpoint elsewhere. With
 * --retry a failed slice goes back in the queue (and out of its bucket's failed list) in the same multi.
 */
export async function releaseSlice(spec: Spec, zk: ZkSession, ref: string, opts: { retry?: boolean } = {}): Promise<string> {
  // "<n>", or "<anything>/<n>" as older notes wrote it: the number names the slice.
  const m = /^(?:(.*)\/)?(\d+)$/.exec(ref.trim());
  if (!m) throw new UserError(`--slice "${ref}" is not a slice number.`, 'Copy it from the STUCK or FAILED list of `bluegreen status` (e.g. --slice 42).');
  const store = new MigrationStore(zk, spec);
  const plan = await store.readPlan();
  if (!plan) throw new UserError(`Migration "${spec.migration}" has no finished plan, so it has no slice ${ref}.`, 'Run `bluegreen plan --spec <file>` first; `bluegreen status` lists the slices.');
  const index = Number(m[2]);
  const a = MigrationStore.address(index, plan.buckets);
  const path = store.layout.slice(a);
  const got = index < plan.slices ? await store.readSlice(a) : null;
  if (!got) throw new UserError(`There is no slice ${index} (the plan has slices 0 to ${plan.slices - 1}).`, 'Check the slice number in `bluegreen status`.');
  const { node } = got;
  const claim = await store.readClaim(a);
  if (node.status === 'done') throw new UserError(`Slice ${index} is done; there is nothing to release.`, 'To copy it again, plan a new migration; verify-integrity --repair fixes single documents.');
  if (node.status === 'failed' && !opts.retry) {
    throw new UserError(`Slice ${index} has failed (${node.lastError ?? 'no error recorded'}).`, `Fix the cause, then \`bluegreen release --slice ${index} --retry\` to put it back in the queue; it resumes from its checkpoint.`);
  }
  const next: WorkNode = {
    ...node, owner: null,
    ...(node.status === 'failed' ? { status: 'todo' as const, failures: 0, stalls: 0 } : {}),
    lastError: node.status === 'failed' ? `retried by operator after: ${node.lastError}` : `released by operator (was ${node.owner})`,
  };
  // One multi: the claim goes and the work node's version moves, so the old holder is fenced.
  const ops: MultiOp[] = [{ op: 'set', path, data: encodeJson(next), version: got.version }];
  if (claim) ops.unshift({ op: 'remove', path: store.layout.claim(a), version: claim.version });
  if (node.status === 'failed') {
    // Back in the queue, and out of the summary (its counts come back when it finishes again).
    const sum = await store.readSummary(a.bucket);
    const before = sum?.summary ?? emptySummary();
    const after: SummaryNode = {
      ...before, failed: before.failed.filter((x) => x !== index),
      counts: addCounts(before.counts, node.counts, -1),
    };
    await zk.mkdirp(store.layout.queueBucket(a.bucket));
    ops.push({ op: 'create', path: store.layout.queued(a) });
    ops.push(sum ? { op: 'set', path: store.layout.summary(a.bucket), data: encodeJson(after), version: sum.version } : { op: 'create', path: store.layout.summary(a.bucket), data: encodeJson(after) });
  }
  try {
    await zk.multi(ops);
  } catch (e) {
    // Only a version or existence conflict means the slice moved meanwhile; NO_AUTH and the rest are
    // what they are (the CLI names wrong credentials). A multi is atomic: nothing was written.
    if (e instanceof MultiError && (e.code === ZK_CODES.BAD_VERSION || e.code === ZK_CODES.NO_NODE || e.code === ZK_CODES.NODE_EXISTS)) {
      throw new UserError(`Slice ${index} changed while it was being released (${e.message}); nothing was written.`, 'Look at `bluegreen status` again and retry if it is still stuck.');
    }
    throw e;
  }
  // Idle --follow workers watch the queue node: wake them.
  await zk.setData(store.layout.queue, Buffer.from(String(Date.now())), -1).catch(() => undefined);
  if (node.status === 'failed') return `slice ${index} is back in the queue (failures reset); it resumes from its checkpoint`;
  return claim ? `released slice ${index} (was held by ${node.owner}); it resumes from its checkpoint` : `slice ${index} was not claimed; its owner field was cleared`;
}
