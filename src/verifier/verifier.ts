/**
 * `bluegreen verify-integrity`: compare source and target slice by slice — counts, then identity and
 * content — re-check every difference after a grace period (seed 001: a dual write lands on the two
 * clusters at different moments, and commits make documents visible later), report only persistent
 * ones, and optionally repair them without ever touching a document the live flow wrote since.
 *
 * Runs live in ZooKeeper (<migration>/verify/<run>), sized by buckets, not slices: verifiers claim a
 * bucket of slices at a time (ephemeral), check its slices and checkpoint the bucket's tally after
 * each one, so a killed verifier is resumed and several share the work. Only slices with differences
 * keep a result node; clean ones are counted in the tallies. Old runs are pruned (verify.keepRuns).
 * A slice's re-check after the grace period does not hold a lane: others are read meanwhile.
 */
import { tooLargeToRead } from '../backends/http';
import type { Backend, Page, SourceDoc, VersionedDoc } from '../backends/types';
import type { Spec } from '../config/spec';

import { customerNodeName, sliceBucket, sliceNodeName } from '../coordination/layout';
import { MigrationStore } from '../coordination/migration';
import type { PlanNode, SliceBounds, WorkNode } from '../coordination/workNode';
import { CreateMode, ZkSession, encodeJson, isBadVersion, isNoNode, isNodeExists } from '../coordination/zk';
import { UserError } from '../errors';
import { log } from '../log';
import { requestRetry, sleep, withBackoff } from '../retry';
import { processId, shuffle } from '../util';
import { NEXT_STEP } from '../lifecycle/machine';
import { PageSizer } from '../worker/batching';
import { contentHash, diffExpected, mergeDiff, recheck, type Candidate, type DiffKind, type ExpectedHash } from './diff';
import { transformOf } from '../transform/apply';
import { REJECTED_MARK, expectedOutputs } from '../transform/expected';
import { inPlaceOutcome } from '../transform/inPlace';
import { exactJson } from '../backends/exactJson';

/** A copy of a document's fields (map may change what it is given; the original is still needed). */
const structuredCloneFields = (f: Record<string, unknown>) => exactJson.parse(exactJson.stringify(f)) as Record<string, unknown>;
import type { Transform } from '../transform/define';
import { checkRecorded, type RecordedCheck } from './recorded';

/** Ids kept per kind in a result node (the counts are always exact). */
const IDS_KEPT = 100;
/** First-sight differences kept in memory per slice for the re-check; past this the slice is plainly broken. */
const MAX_CANDIDATES = 20_000;
/** Most ids re-read (from each side) per request at re-check and repair; fewer as batch.bytes says. */
const RECHECK_CHUNK = 500;

/** A difference that persisted: what repair needs, and nothing more. */
interface Persistent {
  kind: DiffKind;
  /** The target document's version token at the re-check (absent: not in the target). */
  targetVersion?: string;
  routing?: string;
  /** Whose document it is (its customer field): a packed slice reports each customer. */
  customer: string | null;
  /** With a transform: the source document whose output this is. */
  sourceId?: string;
}

/** Differences of one customer inside a slice (a packed slice reports each of its customers). */
export interface CustomerDiff {
  missing: number;
  extra: number;
  different: number;
  /** The first ids (all kinds), so an operator can look. */
  ids: string[];
}

export interface SliceVerification {
  customers: Array<string | null>;
  index: number;
  bounds: SliceBounds;
  sourceCount: number;
  targetCount: number;
  missingCount: number;
  extraCount: number;
  differentCount: number;
  /** Differences whose source kept changing across re-checks: live traffic, not blamed. */
  unstableCount: number;
  /** First-sight differences that were gone at re-check (writes in flight, commits). */
  resolvedInFlight: number;
  missing: string[];
  extra: string[];
  different: string[];
  /** Persistent differences by customer node name (the customer field of the documents involved). */
  byCustomer?: Record<string, CustomerDiff>;
  repaired?: { created: number; replaced: number; deleted: number; conflicts: number };
  clean: boolean;
  /** When the run that checked this slice started. */
  runStartedAt: number;
  checkedAt: number;
  by: string;
}

/** A bucket of a run: which of its slices are checked, and what the clean ones held. The bucket's checkpoint. */
export interface BucketTally {
  /** Slice numbers checked so far (clean or not). */
  checked: number[];
  clean: number;
  sourceDocs: number;
  targetDocs: number;
  /** The earliest check in the bucket (ms): the cutover judges a run by its oldest check. */
  oldestCheckAt: number | null;
  finished: boolean;
}

export interface VerifyRun {
  id: string;
  startedAt: number;
  startedBy: string;
  /** 'all', or the run whose unclean slices this run re-checks (its clean ones count as they were). */
  scope: 'all' | { failedOf: string };
  /** With --only-failed: the slices re-checked (the parent's unclean ones). */
  slices?: number[];
  /** With --only-failed: what the parent's clean slices contribute (their check times included). */
  carried?: { clean: number; oldestCheckAt: number | null; startedAt: number };
  repair: boolean;
  status: 'running' | 'passed' | 'failed';
  finishedAt?: number;
  totals?: { slices: number; clean: number; missing: number; extra: number; different: number; unstable: number; repaired: number };
  /** The oldest check behind the run (carried ones included), once finished. */
  oldestCheckAt?: number | null;
  /**
   * Customers that hold documents but no plan, where source and target disagree on their count: their
   * documents are in no slice, so no slice check could see them (a document planted in the target, a
   * tenant that appeared after the plan and was never copied). Any entry fails the run.
   */
  uncovered?: Array<{ customer: string | null; source: number; target: number }>;
  /** The ids the dual writer recorded (checked first, by this verifier): any still different fails the run. */
  recorded?: RecordedCheck;
}

export interface VerifyOptions {
  newRun?: boolean;
  onlyFailed?: boolean;
  repair?: boolean;
  concurrency?: number;
}

export interface VerifyReport {
  run: VerifyRun;
  /** The slices with differences (clean ones are only counted). */
  results: SliceVerification[];
}

/** The most slices an --only-failed run re-checks (its list lives in the run node). */
const MAX_ONLY_FAILED = 50_000;

/**
 * The oldest check behind a run: the earliest check of its buckets, and of the slices it carries over
 * from the run it re-checks (they keep their own times). A run is as old as its oldest check: a re-run
 * that re-checks nothing is exactly as old as its parent. A carried part without a time counts as the
 * oldest possible (0). Null when nothing was checked.
 */
export function oldestCheckOf(tallies: BucketTally[], carried?: VerifyRun['carried']): number | null {
  const times = tallies.map((t) => t.oldestCheckAt).filter((x): x is number => typeof x === 'number' && Number.isFinite(x));
  if (carried && carried.clean > 0) times.push(typeof carried.oldestCheckAt === 'number' ? carried.oldestCheckAt : 0);
  return times.length ? Math.min(...times) : null;
}

const emptyTally = (): BucketTally => ({ checked: [], clean: 0, sourceDocs: 0, targetDocs: 0, oldestCheckAt: null, finished: false });

export class VerifyStore {
  constructor(private readonly zk: ZkSession, private readonly store: MigrationStore) {}

  runPath(id: string): string {
    return `${this.store.layout.verify}/${id}`;
  }
  resultPath(run: string, slice: number): string {
    return `${this.runPath(run)}/results/${sliceNodeName(slice)}`;
  }
  tallyPath(run: string, bucket: string): string {
    return `${this.runPath(run)}/tally/${bucket}`;
  }
  claimPath(run: string, bucket: string): string {
    return `${this.runPath(run)}/claims/${bucket}`;
  }

  /**
   * Run ids, oldest first. A run's node is created sequential: ZooKeeper's own counter (its last ten
   * digits) orders them, not a clock — two runs started in the same second, or on machines whose
   * clocks disagree, still sort in the order they were started.
   */
  async runs(): Promise<string[]> {
    const seq = (id: string) => id.slice(-10);
    return (await this.zk.childrenOrEmpty(this.store.layout.verify)).sort((a, b) => (seq(a) < seq(b) ? -1 : seq(a) > seq(b) ? 1 : 0));
  }

  async readRun(id: string): Promise<{ run: VerifyRun; version: number } | null> {
    const path = this.runPath(id);
    const got = await this.zk.getDataOrNull(path);
    // The id is the node's name (ZooKeeper completed it when the run was created).
    return got ? { run: { ...((await this.store.decode('verifyRun', got.data, path)) as unknown as VerifyRun), id }, version: got.stat.version } : null;
  }

  async latest(): Promise<VerifyRun | null> {
    const ids = await this.runs();
    return ids.length ? (await this.readRun(ids[ids.length - 1]))?.run ?? null : null;
  }

  async readTally(run: string, bucket: string): Promise<{ tally: BucketTally; version: number } | null> {
    const path = this.tallyPath(run, bucket);
    const got = await this.zk.getDataOrNull(path);
    return got ? { tally: (await this.store.decode('verifyTally', got.data, path)) as unknown as BucketTally, version: got.stat.version } : null;
  }

  async writeResult(run: string, r: SliceVerification): Promise<void> {
    const path = this.resultPath(run, r.index);
    try {
      await this.zk.create(path, encodeJson(r));
    } catch (e) {
      if (isNoNode(e)) {
        await this.zk.mkdirp(path.slice(0, path.lastIndexOf('/')));
        await this.zk.create(path, encodeJson(r));
      } else if (isNodeExists(e)) {
        await this.zk.setData(path, encodeJson(r), -1); // checked again after a resume: the newer check stands
      } else throw e;
    }
  }

  /** The slices of a run that have differences (only those keep a result node). */
  async results(run: string): Promise<SliceVerification[]> {
    const out: SliceVerification[] = [];
    const dir = `${this.runPath(run)}/results`;
    for (const n of await this.zk.childrenOrEmpty(dir)) {
      const got = await this.zk.getDataOrNull(`${dir}/${n}`);
      if (got) out.push((await this.store.decode('verifyResult', got.data, `${dir}/${n}`)) as unknown as SliceVerification);
    }
    return out.sort((a, b) => a.index - b.index);
  }

  /** Every bucket tally of a run. */
  async tallies(run: string): Promise<Map<string, BucketTally>> {
    const out = new Map<string, BucketTally>();
    for (const b of await this.zk.childrenOrEmpty(`${this.runPath(run)}/tally`)) {
      const got = await this.readTally(run, b);
      if (got) out.set(b, got.tally);
    }
    return out;
  }

  /** Removes the oldest finished runs beyond `keep` (never a running one, nor `protect`). */
  async prune(keep: number, protect: Array<string | undefined>): Promise<number> {
    const ids = await this.runs();
    let pruned = 0;
    for (const id of ids.slice(0, Math.max(0, ids.length - keep))) {
      if (protect.includes(id)) continue;
      const run = (await this.readRun(id).catch(() => null))?.run;
      if (run?.status === 'running') continue;
      await this.zk.removeRecursive(this.runPath(id));
      pruned++;
    }
    return pruned;
  }
}

/**
 * One read within the sizer's bounds: an answer too big to read (over the cap, or more than the
 * process can hold) is asked for again with half the rows, down to one document (read whole).
 */
async function shrinking<T>(sizer: PageSizer, ctx: object, read: (rows: number, cap: number | undefined) => Promise<T>): Promise<T> {
  for (;;) {
    try {
      return await read(sizer.rows, sizer.cap);
    } catch (e) {
      const rows = sizer.rows;
      if (!tooLargeToRead(e) || !sizer.shrink()) throw e;
      log.warn({ ...ctx, rows, next: sizer.rows, err: (e as Error).message }, 'answer too big to read: reading fewer documents');
    }
  }
}

/** A counting semaphore: `n` holders at a time, the others wait in order. */
class Semaphore {
  private waiting: Array<() => void> = [];
  constructor(private free: number) {}
  async acquire(): Promise<void> {
    if (this.free > 0) {
      this.free--;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }
  release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.free++;
  }
  async with<T>(fn: () => Promise<T>): Promise<T> {
    await this.acquire();
    try {
      return await fn();
    } finally {
      this.release();
    }
  }
}

/** The slices of a run, by bucket (bucket name → slice numbers). */
function runBuckets(plan: PlanNode, run: VerifyRun): Map<string, number[]> {
  const out = new Map<string, number[]>();
  const add = (n: number) => {
    const b = sliceBucket(n, plan.buckets);
    const list = out.get(b) ?? [];
    list.push(n);
    out.set(b, list);
  };
  if (run.slices) run.slices.forEach(add);
  else for (let n = 0; n < plan.slices; n++) add(n);
  return out;
}

export class Verifier {
  readonly id = processId();
  private readonly store: MigrationStore;
  private readonly runs: VerifyStore;
  private readonly ignore: Set<string>;
  /** What this verifier found of the dual writer's recorded ids (checked before any slice). */
  private recorded?: RecordedCheck;
  /** The spec's transform: the target must hold transform(source), not the source as it is. */
  private readonly transform: Transform | null;

  constructor(private readonly spec: Spec, private readonly zk: ZkSession, private readonly source: Backend, private readonly target: Backend) {
    this.store = new MigrationStore(zk, spec);
    this.runs = new VerifyStore(zk, this.store);
    this.ignore = new Set(spec.verify.ignoreFields);
    this.transform = transformOf(spec);
  }

  /** The plan, once every slice is done. Refuses while copying is unfinished (summaries, not work nodes). */
  private async plan(): Promise<PlanNode> {
    // The lifecycle first: nothing is verified while the plan is unfinished or after the migration ended.
    const life = (await this.store.readLifecycle())?.lifecycle.state ?? null;
    if (life === null || life === 'planning' || life === 'completed' || life === 'cancelled') {
      throw new UserError(`Migration "${this.spec.migration}" is ${life ?? 'without a lifecycle record'}: ${life === 'planning' ? 'its plan is not finished, so its slices do not cover every document yet' : life === null ? 'it was never planned' : 'there is nothing left to verify'}.`,
        `Next: ${life ? NEXT_STEP[life] : 'run `bluegreen plan --spec <file>`.'} Nothing was changed.`);
    }
    const plan = await this.store.readPlan();
    if (!plan) {
      throw new UserError(`Migration "${this.spec.migration}" has no finished plan: planning failed or is still under way, so its documents are in no slice and cannot be verified.`,
        'Run `bluegreen plan --spec <file>` again and let the workers copy, then verify.');
    }
    const open = await this.store.unfinished();
    let failed = 0;
    for (const s of (await this.store.summaries()).values()) failed += s.failed.length;
    if (open.length || failed) {
      const first = open[0] ? `slice ${Number(open[0].name)}: ${open[0].claimed ? 'in progress' : 'todo'}` : 'failed slices';
      throw new UserError(`${open.length + failed} of ${plan.slices} slices are not done (e.g. ${first}${failed ? `; ${failed} failed` : ''}); verification compares finished copies.`,
        'Let the workers finish (bluegreen status), then verify.');
    }
    return plan;
  }

  /** Joins the latest unfinished run, or starts one. */
  private async openRun(opts: VerifyOptions): Promise<VerifyRun> {
    const latest = await this.runs.latest();
    if (latest && latest.status === 'running' && !opts.newRun && !opts.onlyFailed) {
      log.info({ run: latest.id }, 'joining the unfinished verification run');
      return latest;
    }
    const now = new Date();
    // "<UTC time>-" and ZooKeeper appends its sequence number when the node is created (runs()).
    const prefix = `${now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}-`;
    const draft: VerifyRun = { id: prefix, startedAt: now.getTime(), startedBy: this.id, scope: 'all', repair: Boolean(opts.repair), status: 'running' };
    if (opts.onlyFailed) {
      const parent = latest;
      if (!parent || parent.status === 'running') {
        throw new UserError('--only-failed needs a finished verification run to start from.', 'Run `bluegreen verify-integrity` first.');
      }
      const unclean = (await this.runs.results(parent.id)).filter((r) => !r.clean).map((r) => r.index);
      if (unclean.length > MAX_ONLY_FAILED) {
        throw new UserError(`The last run found ${unclean.length} slices with differences, more than --only-failed re-checks (${MAX_ONLY_FAILED}).`, 'Run a full verification (`bluegreen verify-integrity --new`). Nothing was changed.');
      }
      const t = parent.totals;
      draft.scope = { failedOf: parent.id };
      draft.slices = unclean;
      // The parent's clean slices count as they were, with their own check times (the cutover judges a
      // run by its oldest check: a re-run that re-checks nothing does not make an old verification fresh).
      draft.carried = { clean: t ? t.clean : 0, oldestCheckAt: parent.oldestCheckAt ?? parent.startedAt, startedAt: parent.carried?.startedAt ?? parent.startedAt };
      if (Date.now() - (draft.carried.oldestCheckAt ?? 0) > this.spec.cutover.maxVerificationAge) {
        log.warn({ parent: parent.id, oldestCheckAt: new Date(draft.carried.oldestCheckAt ?? 0).toISOString() },
          'clean slices carried over were checked longer ago than cutover.maxVerificationAge: this run will not allow a cutover (verify with --new)');
      }
    }
    await this.zk.mkdirp(this.store.layout.verify);
    const created = await this.zk.create(this.runs.runPath(prefix), encodeJson(draft), CreateMode.PERSISTENT_SEQUENTIAL);
    const id = created.slice(created.lastIndexOf('/') + 1);
    const run: VerifyRun = { ...draft, id };
    log.info({ run: id, scope: run.scope, slices: run.slices?.length }, 'verification run started');
    return run;
  }

  async run(opts: VerifyOptions = {}, onSlice?: (r: SliceVerification) => void): Promise<VerifyReport> {
    await this.store.requireSpec();
    const plan = await this.plan();
    let run = await this.openRun(opts);
    const repair = run.repair || Boolean(opts.repair);
    // The ids a dual write left on one side only, first: they are known differences (or repaired first).
    this.recorded = await checkRecorded(this.spec, this.zk, this.store, { legacy: this.source, new: this.target }, repair, this.ignore);
    const lanes = Math.max(1, opts.concurrency ?? 2);
    const buckets = runBuckets(plan, run);
    const reads = new Semaphore(lanes);
    for (;;) {
      const open: string[] = [];
      for (const b of buckets.keys()) {
        const t = await this.runs.readTally(run.id, b);
        if (!t?.tally.finished) open.push(b);
      }
      if (open.length === 0) break;
      let waiting = 0;
      // As many buckets at once as lanes; within a bucket, slices overlap their grace periods.
      const queue = shuffle(open);
      await Promise.all(Array.from({ length: Math.min(lanes, queue.length) }, async () => {
        for (let b = queue.pop(); b !== undefined; b = queue.pop()) {
          if (!(await this.verifyBucket(run, b, buckets.get(b)!, plan, repair, reads, lanes, onSlice))) waiting++;
        }
      }));
      // Buckets another verifier holds: wait for its tally (or for its claim to vanish with it).
      if (waiting > 0) await sleep(1000);
    }
    run = await this.finish(run.id, plan);
    await this.recordInLifecycle(run);
    const life = (await this.store.readLifecycle())?.lifecycle;
    const pruned = await this.runs.prune(this.spec.verify.keepRuns, [run.id, life?.verification?.run]).catch((e) => {
      log.warn({ err: String(e) }, 'could not prune old verification runs');
      return 0;
    });
    if (pruned) log.info({ pruned, keep: this.spec.verify.keepRuns }, 'old verification runs pruned');
    return { run, results: await this.runs.results(run.id) };
  }

  /**
   * Claims one bucket of the run and checks its unchecked slices, checkpointing the tally after each.
   * False when another verifier holds it.
   */
  private async verifyBucket(run: VerifyRun, bucket: string, slices: number[], plan: PlanNode, repair: boolean,
    reads: Semaphore, lanes: number, onSlice?: (r: SliceVerification) => void): Promise<boolean> {
    const claim = this.runs.claimPath(run.id, bucket);
    const epoch = this.zk.epoch;
    try {
      await this.zk.mkdirp(claim.slice(0, claim.lastIndexOf('/')));
      await this.zk.create(claim, encodeJson({ by: this.id, since: Date.now() }), CreateMode.EPHEMERAL);
    } catch (e) {
      if (isNodeExists(e)) return false;
      throw e;
    }
    try {
      const tallyPath = this.runs.tallyPath(run.id, bucket);
      let got = await this.runs.readTally(run.id, bucket);
      if (!got) {
        await this.zk.mkdirp(tallyPath.slice(0, tallyPath.lastIndexOf('/')));
        await this.zk.create(tallyPath, encodeJson(emptyTally())).catch((e) => {
          if (!isNodeExists(e)) throw e;
        });
        got = await this.runs.readTally(run.id, bucket);
      }
      let { tally, version } = got!;
      if (tally.finished) return true;
      const checked = new Set(tally.checked);
      const todo = slices.filter((n) => !checked.has(n));
      // Tally writes in order, one at a time (the bucket is ours: a version conflict means it is not any more).
      let writes = Promise.resolve();
      const record = (r: SliceVerification) => {
        writes = writes.then(async () => {
          if (!r.clean) await this.runs.writeResult(run.id, r);
          tally = {
            ...tally, checked: [...tally.checked, r.index], clean: tally.clean + (r.clean ? 1 : 0),
            sourceDocs: tally.sourceDocs + r.sourceCount, targetDocs: tally.targetDocs + r.targetCount,
            oldestCheckAt: tally.oldestCheckAt === null ? r.checkedAt : Math.min(tally.oldestCheckAt, r.checkedAt),
          };
          version = (await this.zk.setData(tallyPath, encodeJson(tally), version)).version;
          onSlice?.(r);
        });
        return writes;
      };
      let next = 0;
      // Slices in flight: a few per lane, so grace periods overlap while reads stay at `lanes`.
      await Promise.all(Array.from({ length: Math.min(todo.length, lanes * 4) }, async () => {
        while (next < todo.length) {
          const n = todo[next++];
          const found = await this.store.readSlice(MigrationStore.address(n, plan.buckets));
          if (!found) throw new Error(`slice ${n} has no work node (${this.store.layout.slice(MigrationStore.address(n, plan.buckets))})`);
          await record(await this.verifySlice(found.node, run, repair, reads));
        }
      }));
      await writes;
      tally = { ...tally, finished: true };
      await this.zk.setData(tallyPath, encodeJson(tally), version);
      return true;
    } finally {
      if (this.zk.epoch === epoch) await this.zk.remove(claim).catch(() => undefined);
    }
  }

  /**
   * A finished run moves the lifecycle: passed → verified, failed → back to copied. This verifier saw
   * every slice done with the plan finished (plan()), so a lifecycle still at planned/copying (no
   * worker made the last look yet) is first recorded copied. A lifecycle that moved on meanwhile (a
   * slice retried: copying again) keeps its state; the report stands as it is.
   */
  private async recordInLifecycle(run: VerifyRun): Promise<void> {
    try {
      const cur = (await this.store.readLifecycle())?.lifecycle;
      // Looked at again now: a slice retried while this run went on reopens the copy.
      const reopened = cur && (cur.state === 'planned' || cur.state === 'copying') && (await this.store.unfinished()).length > 0;
      if (cur && (cur.state === 'planned' || cur.state === 'copying') && !reopened) {
        await this.store.applyLifecycle({ type: 'copy-finished', generation: cur.generation }, this.id);
      }
      const event = run.status === 'passed'
        ? { type: 'verification-passed' as const, run: run.id, startedAt: run.carried?.startedAt ?? run.startedAt }
        : { type: 'verification-failed' as const, run: run.id };
      const after = await this.store.applyLifecycle(event, this.id);
      log.info({ run: run.id, lifecycle: after?.state }, 'lifecycle after the verification');
    } catch (e) {
      if (!(e instanceof UserError)) throw e;
      log.warn({ run: run.id, err: e.message }, 'the lifecycle did not take this verification');
    }
  }

  /**
   * The whole collection, beyond the slices: every customer either side holds (one facet / aggregation
   * per side) that has no plan and whose counts differ. With an explicit customer list the target may
   * hold other tenants by design, so only a discovered plan is checked this way.
   */
  private async uncovered(): Promise<NonNullable<VerifyRun['uncovered']>> {
    if (!this.spec.customers.discover) return [];
    const retry = requestRetry(this.spec);
    const [src, dst] = await Promise.all([withBackoff(() => this.source.customers(), retry), withBackoff(() => this.target.customers(), retry)]);
    const planned = new Set((await this.store.customerIndex()).keys());
    const counts = new Map<string, { customer: string | null; source: number; target: number }>();
    for (const [side, list] of [['source', src], ['target', dst]] as const) {
      for (const c of list) {
        const cn = customerNodeName(c.customer);
        if (planned.has(cn)) continue;
        const e = counts.get(cn) ?? { customer: c.customer, source: 0, target: 0 };
        e[side] += c.count;
        counts.set(cn, e);
      }
    }
    const out = [...counts.values()].filter((e) => e.source !== e.target);
    if (out.length) log.warn({ uncovered: out.slice(0, 20) }, 'documents outside every planned slice, and the two sides disagree on them');
    return out;
  }

  /** Marks the run passed/failed once every bucket is finished. Idempotent across verifiers. */
  private async finish(id: string, plan: PlanNode): Promise<VerifyRun> {
    for (;;) {
      const got = await this.runs.readRun(id);
      if (!got) throw new Error(`verification run ${id} vanished`);
      if (got.run.status !== 'running') return got.run;
      const results = await this.runs.results(id);
      const tallies = [...(await this.runs.tallies(id)).values()];
      const sum = (f: (r: SliceVerification) => number) => results.reduce((a, r) => a + f(r), 0);
      const checked = tallies.reduce((a, t) => a + t.checked.length, 0);
      const clean = tallies.reduce((a, t) => a + t.clean, 0);
      const carried = got.run.carried;
      const uncovered = await this.uncovered();
      const slices = carried ? carried.clean + checked : checked;
      const allClean = results.every((r) => r.clean) && clean === checked && !(this.recorded && this.recorded.different > 0);
      const done: VerifyRun = {
        ...got.run,
        status: allClean && uncovered.length === 0 && slices === plan.slices ? 'passed' : 'failed',
        uncovered,
        ...(this.recorded ? { recorded: this.recorded } : {}),
        finishedAt: Date.now(),
        oldestCheckAt: oldestCheckOf(tallies, carried),
        totals: {
          slices, clean: (carried?.clean ?? 0) + clean, missing: sum((r) => r.missingCount),
          extra: sum((r) => r.extraCount), different: sum((r) => r.differentCount), unstable: sum((r) => r.unstableCount),
          repaired: sum((r) => (r.repaired ? r.repaired.created + r.repaired.replaced + r.repaired.deleted : 0)),
        },
      };
      try {
        await this.zk.setData(this.runs.runPath(id), encodeJson(done), got.version);
        log.info({ run: id, status: done.status, totals: done.totals }, 'verification run finished');
        return done;
      } catch (e) {
        if (!isBadVersion(e)) throw e; // another verifier finished it first: read theirs
      }
    }
  }

  /**
   * One side of a slice, page by page within batch.bytes as the copy reads it (PageSizer: small at
   * first, then as the sizes seen say, fewer rows when a page is too big), not batch.docs rows of
   * documents that may weigh megabytes each.
   */
  private stream(side: Backend, node: WorkNode): AsyncIterable<SourceDoc> {
    const { docs, bytes } = this.spec.batch;
    const retry = requestRetry(this.spec);
    const ctx = { slice: node.index, side: side.describe() };
    return {
      async *[Symbol.asyncIterator]() {
        // Half of batch.bytes per side: a slice's comparison holds a page of each side at once.
        const sizer = new PageSizer(docs, Math.max(1, Math.floor(bytes / 2)));
        let cursor: string | null = null;
        for (;;) {
          const page: Page = await shrinking(sizer, ctx, (rows, cap) => withBackoff(() => side.readPage(node.customers, node.bounds, cursor, rows, undefined, cap), retry));
          sizer.seen(page.docs);
          yield* page.docs;
          if (page.done) return;
          cursor = page.nextCursor;
        }
      },
    };
  }

  /**
   * Goes through `items` by chunks whose answers stay within batch.bytes: `read` re-reads a chunk
   * (both sides: each gets half the bytes) and gives back the documents it read, which size the next
   * chunk; a chunk whose answer was too big is read again halved.
   */
  private async byBytes<T>(items: T[], ctx: object, read: (chunk: T[], cap: number | undefined) => Promise<SourceDoc[]>): Promise<void> {
    const sizer = new PageSizer(RECHECK_CHUNK, Math.max(1, Math.floor(this.spec.batch.bytes / 2)));
    for (let i = 0; i < items.length;) {
      const chunk = items.slice(i, i + sizer.rows);
      const docs = await shrinking(sizer, ctx, (rows, cap) => read(chunk.slice(0, rows), cap));
      i += Math.min(chunk.length, sizer.rows);
      sizer.seen(docs);
    }
  }

  /**
   * Checks one slice. `reads` bounds the requests in flight across slices: it is held while reading
   * and re-reading, never while waiting out the grace period, so other slices are read meanwhile.
   */
  async verifySlice(node: WorkNode, run: VerifyRun, repair: boolean, reads: Semaphore = new Semaphore(1)): Promise<SliceVerification> {
    const ctx = { customers: node.customers.length, slice: node.index, run: run.id };
    if (this.spec.copy.mode === 'in-place') return this.verifyInPlace(node, run, repair, reads, ctx);
    const counts = { source: 0, target: 0 };
    let candidates: Candidate[] = [];
    let overflow = { missing: 0, extra: 0, different: 0 };
    await reads.with(async () => {
      const diffs = this.transform
        ? diffExpected(await this.expectedHashes(node), this.stream(this.target, node), this.ignore, counts)
        : mergeDiff(this.stream(this.source, node), this.stream(this.target, node), this.ignore, counts);
      for await (const c of diffs) {
        if (candidates.length < MAX_CANDIDATES) candidates.push(c);
        else overflow[c.kind]++;
      }
    });
    const firstSight = candidates.length;
    // Only what repair needs is kept per difference (the target's version token), never documents:
    // memory is bounded by the ids, and re-reads go by chunks.
    const persistent = new Map<string, Persistent>();
    let unstable = 0;
    const rounds = this.spec.verify.rechecks;
    // One extra round for documents whose source changed meanwhile, then they are left to live traffic.
    for (let round = 0; round <= rounds && candidates.length > 0; round++) {
      await sleep(this.spec.verify.gracePeriod);
      const next: Candidate[] = [];
      const these = candidates;
      unstable += await reads.with(() => this.recheckRound(these, round, rounds, node, persistent, next));
      candidates = next;
    }
    const ids = (k: DiffKind) => [...persistent].filter(([, v]) => v.kind === k).map(([id]) => id);
    const byCustomer: Record<string, CustomerDiff> = {};
    for (const [id, p] of persistent) {
      const e = (byCustomer[customerNodeName(p.customer)] ??= { missing: 0, extra: 0, different: 0, ids: [] });
      e[p.kind]++;
      if (e.ids.length < IDS_KEPT) e.ids.push(id);
    }
    const result: SliceVerification = {
      customers: node.customers, index: node.index, bounds: node.bounds, byCustomer,
      sourceCount: counts.source, targetCount: counts.target,
      missingCount: ids('missing').length + overflow.missing,
      extraCount: ids('extra').length + overflow.extra,
      differentCount: ids('different').length + overflow.different,
      unstableCount: unstable,
      resolvedInFlight: firstSight - persistent.size - unstable,
      missing: ids('missing').slice(0, IDS_KEPT), extra: ids('extra').slice(0, IDS_KEPT), different: ids('different').slice(0, IDS_KEPT),
      clean: false, runStartedAt: run.startedAt, checkedAt: Date.now(), by: this.id,
    };
    result.clean = result.missingCount + result.extraCount + result.differentCount === 0;
    if (!result.clean) log.warn({ ...ctx, missing: result.missingCount, extra: result.extraCount, different: result.differentCount }, 'persistent differences');
    if (repair && persistent.size > 0) result.repaired = await reads.with(() => this.repair(persistent, ctx));
    return result;
  }

  /**
   * copy.mode in-place: the slice re-read, and every document must be a fixed point of the transform
   * (inPlaceOutcome: unchanged by it, or null). One it still changes (or rejects) is `different`;
   * after the grace period it is read again (real-time) and counts only if it is still so. Repair
   * writes transform(document) back, only while the document is still at the version just read.
   */
  private async verifyInPlace(node: WorkNode, run: VerifyRun, repair: boolean, reads: Semaphore, ctx: object): Promise<SliceVerification> {
    const t = this.transform!;
    const tlog = log.child({ slice: node.index, verify: run.id });
    let count = 0;
    let candidates: string[] = [];
    let overflow = 0;
    await reads.with(async () => {
      for await (const d of this.stream(this.source, node)) {
        count++;
        if (inPlaceOutcome(t, d, this.spec.fields, node.index, tlog).kind === 'unchanged') continue;
        if (candidates.length < MAX_CANDIDATES) candidates.push(d.id);
        else overflow++;
      }
    });
    const firstSight = candidates.length;
    const persistent = new Map<string, { customer: string | null; reason?: string }>();
    const retry = requestRetry(this.spec);
    for (let round = 0; round < this.spec.verify.rechecks && candidates.length > 0; round++) {
      await sleep(this.spec.verify.gracePeriod);
      const next: string[] = [];
      const these = candidates;
      await reads.with(() => this.byBytes(these, { slice: node.index, recheck: round }, async (chunk, cap) => {
        const now = await withBackoff(() => this.source.getByIds(chunk, cap), retry);
        for (const id of chunk) {
          const v = now.get(id);
          if (!v) continue; // deleted since: nothing left untransformed
          const customer = this.customerOf(v.doc, node);
          const o = inPlaceOutcome(t, { ...v.doc, fields: structuredCloneFields(v.doc.fields) }, this.spec.fields, node.index, tlog);
          if (o.kind === 'unchanged') continue;
          if (round < this.spec.verify.rechecks - 1) next.push(id);
          else persistent.set(id, { customer, ...(o.kind === 'rejected' ? { reason: o.reason } : {}) });
        }
        return [...now.values()].map((v) => v.doc);
      }));
      candidates = next;
    }
    const byCustomer: Record<string, CustomerDiff> = {};
    for (const [id, p] of persistent) {
      const e = (byCustomer[customerNodeName(p.customer)] ??= { missing: 0, extra: 0, different: 0, ids: [] });
      e.different++;
      if (e.ids.length < IDS_KEPT) e.ids.push(id);
    }
    const different = [...persistent.keys()];
    const result: SliceVerification = {
      customers: node.customers, index: node.index, bounds: node.bounds, byCustomer,
      sourceCount: count, targetCount: count, missingCount: 0, extraCount: 0, differentCount: different.length + overflow,
      unstableCount: 0, resolvedInFlight: firstSight - persistent.size,
      missing: [], extra: [], different: different.slice(0, IDS_KEPT),
      clean: different.length + overflow === 0, runStartedAt: run.startedAt, checkedAt: Date.now(), by: this.id,
    };
    if (!result.clean) log.warn({ ...ctx, untransformed: result.differentCount }, 'in place: documents the transform still changes');
    if (repair && persistent.size > 0) result.repaired = await reads.with(() => this.repairInPlace(different, node, ctx));
    return result;
  }

  /** Repair of an in-place run: each document read again and transform(document) written back only while it is still at that version. */
  private async repairInPlace(ids: string[], node: WorkNode, ctx: object) {
    const out = { created: 0, replaced: 0, deleted: 0, conflicts: 0 };
    const t = this.transform!;
    const tlog = log.child({ slice: node.index, repair: true });
    const retry = requestRetry(this.spec);
    await this.byBytes(ids, { ...ctx, repair: true }, async (chunk, cap) => {
      const now = await withBackoff(() => this.source.getByIds(chunk, cap), retry);
      const write: VersionedDoc[] = [];
      for (const id of chunk) {
        const v = now.get(id);
        if (!v) continue;
        const o = inPlaceOutcome(t, { ...v.doc, fields: structuredCloneFields(v.doc.fields) }, this.spec.fields, node.index, tlog);
        if (o.kind === 'changed') write.push({ doc: o.doc, version: v.version });
        else if (o.kind === 'rejected') out.conflicts++; // the transform refuses it: nothing to write
      }
      if (write.length) {
        const r = await withBackoff(() => this.source.writeIfUnchanged!(write), retry);
        out.replaced += r.applied;
        out.conflicts += r.conflicts.length + r.rejected.length;
      }
      return [...now.values()].map((v) => v.doc);
    });
    log.info({ ...ctx, ...out }, 'repaired in place');
    return out;
  }

  /** transform(source) of a whole slice, by output id and hash (the outputs need not follow the source's id order). */
  private async expectedHashes(node: WorkNode): Promise<Map<string, ExpectedHash>> {
    const out = new Map<string, ExpectedHash>();
    const batch: SourceDoc[] = [];
    const flush = () => {
      for (const [id, e] of expectedOutputs(this.transform!, this.spec.fields, batch, node.index, log)) {
        if (!out.has(id)) out.set(id, { hash: contentHash(e.doc.fields, this.ignore), sourceId: e.sourceId, ...(e.doc.routing !== undefined ? { routing: e.doc.routing } : {}) });
      }
      batch.length = 0;
    };
    for await (const d of this.stream(this.source, node)) {
      batch.push(d);
      if (batch.length >= 500) flush();
    }
    flush();
    return out;
  }

  /**
   * The source side of a re-check or repair, by the target ids it is about: the source documents
   * themselves, or with a transform their outputs (read by the candidates' source ids).
   */
  private async sourceSide(chunk: Array<{ id: string; sourceId?: string }>, cap?: number): Promise<Map<string, VersionedDoc>> {
    const retry = requestRetry(this.spec);
    if (!this.transform) return withBackoff(() => this.source.getByIds(chunk.map((c) => c.id), cap), retry);
    const read = await withBackoff(() => this.source.getByIds([...new Set(chunk.map((c) => c.sourceId ?? c.id))], cap), retry);
    const out = new Map<string, VersionedDoc>();
    for (const [id, e] of expectedOutputs(this.transform, this.spec.fields, [...read.values()].map((v) => v.doc), -1, log)) {
      out.set(id, { doc: e.doc, version: read.get(e.sourceId)!.version });
    }
    return out;
  }

  /** One re-check round over `candidates` (re-read by chunks): what persists goes to `persistent`, what to look at again to `next`. Returns the unstable ones. */
  private async recheckRound(candidates: Candidate[], round: number, rounds: number, node: WorkNode, persistent: Map<string, Persistent>, next: Candidate[]): Promise<number> {
    let unstable = 0;
    await this.byBytes(candidates, { slice: node.index, recheck: round }, async (chunk, cap) => {
      const [src, tgt] = await this.readBoth(chunk, cap);
      // A document the target's search missed but its real-time get holds is not yet visible to
      // readers (never committed, or a write still in flight): after the grace period it must be
      // searchable too, or it counts as missing (readers would not find it after the cutover).
      const unseen = chunk.filter((c) => c.kind === 'missing' && tgt.has(c.id) && src.has(c.id)).map((c) => c.id);
      const unseenIds = new Set(unseen);
      const visible = unseen.length && this.target.searchableIds ? await withBackoff(() => this.target.searchableIds!(unseen), requestRetry(this.spec)) : null;
      for (const c of chunk) {
        const s = src.get(c.id);
        const t = visible && unseenIds.has(c.id) && !visible.has(c.id) ? undefined : tgt.get(c.id);
        const now = recheck(c, s?.doc, t?.doc, this.ignore);
        if (now === 'gone') continue;
        if (now === 'unstable') {
          // Compare with what the source holds now at the next round; past the last one, leave it to live traffic.
          if (round === rounds) unstable++;
          else next.push({ ...c, sourceHash: contentHash(s!.doc.fields, this.ignore) });
          continue;
        }
        if (round < rounds - 1) next.push(c);
        else persistent.set(c.id, { kind: now, targetVersion: t?.version, routing: t?.doc.routing ?? s?.doc.routing, customer: this.customerOf(s?.doc ?? t?.doc, node), ...(c.sourceId !== undefined ? { sourceId: c.sourceId } : {}) });
      }
      return [...src.values(), ...tgt.values()].map((v) => v.doc);
    });
    return unstable;
  }

  /** The customer a document belongs to (its customer field); a single-customer slice's own when unread. */
  private customerOf(doc: SourceDoc | undefined, node: WorkNode): string | null {
    const v = doc?.fields[this.spec.fields.customer];
    if (typeof v === 'string') return v;
    if (v === undefined && !doc && node.customers.length === 1) return node.customers[0];
    return null;
  }

  private readBoth(chunk: Candidate[], cap?: number): Promise<[Map<string, VersionedDoc>, Map<string, VersionedDoc>]> {
    const retry = requestRetry(this.spec);
    return Promise.all([this.sourceSide(chunk, cap), withBackoff(() => this.target.getByIds(chunk.map((c) => c.id), cap), retry)]);
  }

  /**
   * Source is the truth: create what is missing (create-only), replace what differs and delete what
   * the source no longer has — each only while the target document is still at the version the
   * re-check saw, so a live write that landed since is never touched. Source documents are read
   * again, by chunks, at repair time.
   */
  private async repair(found: Map<string, Persistent>, ctx: object) {
    const out = { created: 0, replaced: 0, deleted: 0, conflicts: 0 };
    const entries = [...found];
    await this.byBytes(entries, { ...ctx, repair: true }, async (chunk, cap) => {
      const src = await this.sourceSide(chunk.map(([id, d]) => ({ id, sourceId: d.sourceId })), cap);
      for (const [id, d] of chunk) {
        // A document the transform rejects has no output to write: left as it is, counted as a conflict.
        const s = src.get(id)?.doc.fields[REJECTED_MARK] === undefined ? src.get(id) : undefined;
        if (d.kind === 'missing' && s) {
          const r = await this.target.writeBatch([s.doc]);
          if (r.written) out.created++;
          else out.conflicts++;
        } else if (d.kind === 'different' && s && d.targetVersion !== undefined) {
          if ((await this.target.replaceIfUnchanged(s.doc, d.targetVersion)) === 'applied') out.replaced++;
          else out.conflicts++;
        } else if (d.kind === 'extra' && !s && d.targetVersion !== undefined) {
          if ((await this.target.deleteIfUnchanged(id, d.targetVersion, d.routing)) === 'applied') out.deleted++;
          else out.conflicts++;
        } else {
          out.conflicts++; // the source changed since the re-check: left for the next verification
        }
      }
      return [...src.values()].map((v) => v.doc);
    });
    log.info({ ...ctx, ...out }, 'repaired');
    return out;
  }
}
