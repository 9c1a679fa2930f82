/**
 * `bluegreen verify-integrity`: compare source and target slice by slice — counts, then identity and
 * content — re-check every difference after a grace period (seed 001: a dual write lands on the two
 * clusters at different moments, and commits make documents visible later), report only persistent
 * ones, and optionally repair them without ever touching a document the live flow wrote since.
 *
 * Runs live in ZooKeeper (<migration>/verify/<run>): per-slice results are persistent, per-slice
 * claims ephemeral, so verifiers share the slices the way workers do and a killed one is resumed.
 */
import type { Backend, SourceDoc, VersionedDoc } from '../backends/types';
import type { Spec } from '../config/spec';

import { customerNodeName } from '../coordination/layout';
import { MigrationStore } from '../coordination/migration';
import type { SliceBounds, WorkNode } from '../coordination/workNode';
import { CreateMode, ZkSession, decodeJson, encodeJson, isBadVersion, isNoNode, isNodeExists } from '../coordination/zk';
import { UserError } from '../errors';
import { log } from '../log';
import { requestRetry, sleep, withBackoff } from '../retry';
import { processId } from '../util';
import { NEXT_STEP } from '../lifecycle/machine';
import { contentHash, mergeDiff, recheck, type Candidate, type DiffKind } from './diff';

/** Ids kept per kind in a result node (the counts are always exact). */
const IDS_KEPT = 100;
/** First-sight differences kept in memory per slice for the re-check; past this the slice is plainly broken. */
const MAX_CANDIDATES = 20_000;
/** Ids re-read (from each side) per request at re-check and repair. */
const RECHECK_CHUNK = 500;

/** A difference that persisted: what repair needs, and nothing more. */
interface Persistent {
  kind: DiffKind;
  /** The target document's version token at the re-check (absent: not in the target). */
  targetVersion?: string;
  routing?: string;
}

export interface SliceVerification {
  customer: string | null;
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
  repaired?: { created: number; replaced: number; deleted: number; conflicts: number };
  clean: boolean;
  /** When the run that checked this slice started (a carried result keeps its original run's). */
  runStartedAt: number;
  checkedAt: number;
  by: string;
  carriedFrom?: string;
}

export interface VerifyRun {
  id: string;
  startedAt: number;
  startedBy: string;
  /** 'all', or the run whose unclean slices this run re-checks (clean ones are carried over). */
  scope: 'all' | { failedOf: string };
  repair: boolean;
  status: 'running' | 'passed' | 'failed';
  finishedAt?: number;
  totals?: { slices: number; clean: number; missing: number; extra: number; different: number; unstable: number; repaired: number };
  /**
   * Customers that hold documents but no plan, where source and target disagree on their count: their
   * documents are in no slice, so no slice check could see them (a document planted in the target, a
   * tenant that appeared after the plan and was never copied). Any entry fails the run.
   */
  uncovered?: Array<{ customer: string | null; source: number; target: number }>;
}

export interface VerifyOptions {
  newRun?: boolean;
  onlyFailed?: boolean;
  repair?: boolean;
  concurrency?: number;
}

export interface VerifyReport {
  run: VerifyRun;
  results: SliceVerification[];
}

/**
 * The oldest check behind a set of results: when its slice was really compared. A result carried over
 * by `--only-failed` keeps the times of the run that checked it (`carriedFrom`), so a run that re-checks
 * nothing is exactly as old as its parent. Null when there are no results.
 */
export function oldestCheck(results: SliceVerification[]): { at: number; result: SliceVerification } | null {
  let oldest: { at: number; result: SliceVerification } | null = null;
  for (const r of results) {
    // A result without usable times is as old as can be (it proves nothing about freshness).
    const at = Number.isFinite(r.checkedAt) ? r.checkedAt : Number.isFinite(r.runStartedAt) ? r.runStartedAt : 0;
    if (!oldest || at < oldest.at) oldest = { at, result: r };
  }
  return oldest;
}

const runProblem = (v: any) => (typeof v?.id === 'string' && typeof v?.startedAt === 'number' ? null : 'not a verification run');
const resultProblem = (v: any) => (typeof v?.clean === 'boolean' && Number.isFinite(v?.missingCount) ? null : 'not a slice verification');

export class VerifyStore {
  constructor(private readonly zk: ZkSession, private readonly store: MigrationStore) {}

  runPath(id: string): string {
    return `${this.store.layout.verify}/${id}`;
  }
  resultPath(run: string, cn: string, n: string): string {
    return `${this.runPath(run)}/customers/${cn}/results/${n}`;
  }
  claimPath(run: string, cn: string, n: string): string {
    return `${this.runPath(run)}/customers/${cn}/claims/${n}`;
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
    const got = await this.zk.getDataOrNull(this.runPath(id));
    // The id is the node's name (ZooKeeper completed it when the run was created).
    return got ? { run: { ...decodeJson<VerifyRun>(got.data, this.runPath(id), runProblem), id }, version: got.stat.version } : null;
  }

  async latest(): Promise<VerifyRun | null> {
    const ids = await this.runs();
    return ids.length ? (await this.readRun(ids[ids.length - 1]))?.run ?? null : null;
  }

  async readResult(run: string, cn: string, n: string): Promise<SliceVerification | null> {
    const path = this.resultPath(run, cn, n);
    const got = await this.zk.getDataOrNull(path);
    return got ? decodeJson<SliceVerification>(got.data, path, resultProblem) : null;
  }

  async writeResult(run: string, cn: string, n: string, r: SliceVerification): Promise<void> {
    const path = this.resultPath(run, cn, n);
    try {
      await this.zk.create(path, encodeJson(r));
    } catch (e) {
      if (isNoNode(e)) {
        await this.zk.mkdirp(path.slice(0, path.lastIndexOf('/')));
        await this.zk.create(path, encodeJson(r));
      } else if (!isNodeExists(e)) throw e;
    }
  }

  async results(run: string): Promise<SliceVerification[]> {
    const out: SliceVerification[] = [];
    for (const cn of await this.zk.childrenOrEmpty(`${this.runPath(run)}/customers`)) {
      for (const n of await this.zk.childrenOrEmpty(`${this.runPath(run)}/customers/${cn}/results`)) {
        const r = await this.readResult(run, cn, n);
        if (r) out.push(r);
      }
    }
    return out.sort((a, b) => String(a.customer).localeCompare(String(b.customer)) || a.index - b.index);
  }
}

export class Verifier {
  readonly id = processId();
  private readonly store: MigrationStore;
  private readonly runs: VerifyStore;
  private readonly ignore: Set<string>;

  constructor(private readonly spec: Spec, private readonly zk: ZkSession, private readonly source: Backend, private readonly target: Backend) {
    this.store = new MigrationStore(zk, spec);
    this.runs = new VerifyStore(zk, this.store);
    this.ignore = new Set(spec.verify.ignoreFields);
  }

  /** Every slice of the migration, with its work node. Refuses while copying is unfinished. */
  private async slices(): Promise<Array<{ cn: string; n: string; node: WorkNode }>> {
    // The lifecycle first: nothing is verified while the plan is unfinished or after the migration ended.
    const life = (await this.store.readLifecycle())?.lifecycle.state ?? null;
    if (life === null || life === 'planning' || life === 'completed' || life === 'cancelled') {
      throw new UserError(`Migration "${this.spec.migration}" is ${life ?? 'without a lifecycle record'}: ${life === 'planning' ? 'its plan is not finished, so its slices do not cover every document yet' : life === null ? 'it was never planned' : 'there is nothing left to verify'}.`,
        `Next: ${life ? NEXT_STEP[life] : 'run `bluegreen plan --spec <file>`.'} Nothing was changed.`);
    }
    // A customer without its plan node was never fully planned (its planner failed or is still at it):
    // its documents are in no slice, so a verification of the others would prove nothing about them.
    const unplanned: string[] = [];
    for (const cn of await this.store.customerNodes()) if (!(await this.store.readPlan(cn))) unplanned.push(cn);
    if (unplanned.length) {
      throw new UserError(`${unplanned.length} customer(s) have no plan (e.g. ${unplanned.slice(0, 5).join(', ')}): planning failed or is still under way, so their documents are in no slice and cannot be verified.`,
        'Run `bluegreen plan --spec <file>` again (it plans only what is missing) and let the workers copy, then verify.');
    }
    const out = await this.store.slices();
    const unfinished = out.filter((s) => s.node.status !== 'done');
    if (unfinished.length) {
      throw new UserError(`${unfinished.length} of ${out.length} slices are not done (e.g. ${unfinished[0].cn}/${unfinished[0].n}: ${unfinished[0].node.status}); verification compares finished copies.`,
        'Let the workers finish (bluegreen status), then verify.');
    }
    return out;
  }

  /** Joins the latest unfinished run, or starts one. */
  private async openRun(opts: VerifyOptions, slices: Array<{ cn: string; n: string }>): Promise<VerifyRun> {
    const latest = await this.runs.latest();
    if (latest && latest.status === 'running' && !opts.newRun && !opts.onlyFailed) {
      log.info({ run: latest.id }, 'joining the unfinished verification run');
      return latest;
    }
    const now = new Date();
    // "<UTC time>-" and ZooKeeper appends its sequence number when the node is created (runs()).
    const prefix = `${now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}-`;
    let scope: VerifyRun['scope'] = 'all';
    const parent = opts.onlyFailed ? latest : null;
    if (opts.onlyFailed) {
      if (!parent || parent.status === 'running') {
        throw new UserError('--only-failed needs a finished verification run to start from.', 'Run `bluegreen verify-integrity` first.');
      }
      scope = { failedOf: parent.id };
    }
    const draft: VerifyRun = { id: prefix, startedAt: now.getTime(), startedBy: this.id, scope, repair: Boolean(opts.repair), status: 'running' };
    await this.zk.mkdirp(this.store.layout.verify);
    const created = await this.zk.create(this.runs.runPath(prefix), encodeJson(draft), CreateMode.PERSISTENT_SEQUENTIAL);
    const id = created.slice(created.lastIndexOf('/') + 1);
    const run: VerifyRun = { ...draft, id };
    if (parent) {
      // Clean slices of the parent are carried over as they were (their original check times included:
      // the cutover judges a run by its oldest check); only the others are checked again.
      const carried: SliceVerification[] = [];
      for (const { cn, n } of slices) {
        const prev = await this.runs.readResult(parent.id, cn, n);
        if (prev?.clean) {
          carried.push(prev);
          await this.runs.writeResult(id, cn, n, { ...prev, carriedFrom: prev.carriedFrom ?? parent.id });
        }
      }
      const oldest = oldestCheck(carried);
      if (oldest && Date.now() - oldest.at > this.spec.cutover.maxVerificationAge) {
        log.warn({ run: id, carried: carried.length, oldestCheckAt: new Date(oldest.at).toISOString() },
          'clean slices carried over were checked longer ago than cutover.maxVerificationAge: this run will not allow a cutover (verify with --new)');
      }
    }
    log.info({ run: id, scope }, 'verification run started');
    return run;
  }

  async run(opts: VerifyOptions = {}, onSlice?: (r: SliceVerification) => void): Promise<VerifyReport> {
    await this.store.requireSpec();
    const slices = await this.slices();
    let run = await this.openRun(opts, slices);
    const repair = run.repair || Boolean(opts.repair);
    const lanes = Math.max(1, opts.concurrency ?? 2);
    for (;;) {
      let waiting = 0;
      const todo: Array<{ cn: string; n: string; node: WorkNode }> = [];
      for (const s of slices) {
        if (await this.zk.exists(this.runs.resultPath(run.id, s.cn, s.n))) continue;
        todo.push(s);
      }
      if (todo.length === 0) break;
      const queue = [...todo];
      await Promise.all(Array.from({ length: lanes }, async () => {
        for (let s = queue.shift(); s; s = queue.shift()) {
          const claim = this.runs.claimPath(run.id, s.cn, s.n);
          const epoch = this.zk.epoch;
          try {
            await this.zk.mkdirp(claim.slice(0, claim.lastIndexOf('/')));
            await this.zk.create(claim, encodeJson({ by: this.id, since: Date.now() }), CreateMode.EPHEMERAL);
          } catch (e) {
            if (isNodeExists(e)) {
              waiting++;
              continue;
            }
            throw e;
          }
          try {
            if (await this.zk.exists(this.runs.resultPath(run.id, s.cn, s.n))) continue;
            const r = await this.verifySlice(s.node, run, repair);
            await this.runs.writeResult(run.id, s.cn, s.n, r);
            onSlice?.(r);
          } finally {
            if (this.zk.epoch === epoch) await this.zk.remove(claim).catch(() => undefined);
          }
        }
      }));
      // Slices another verifier holds: wait for its result (or for its claim to vanish with it).
      if (waiting > 0) await sleep(1000);
    }
    run = await this.finish(run.id);
    await this.recordInLifecycle(run);
    return { run, results: await this.runs.results(run.id) };
  }

  /**
   * A finished run moves the lifecycle: passed → verified, failed → back to copied. This verifier saw
   * every slice done with the plan finished (slices()), so a lifecycle still at planned/copying (no
   * worker made the last look yet) is first recorded copied. A lifecycle that moved on meanwhile (a
   * slice retried: copying again) keeps its state; the report stands as it is.
   */
  private async recordInLifecycle(run: VerifyRun): Promise<void> {
    try {
      const cur = (await this.store.readLifecycle())?.lifecycle;
      // Looked at again now: a slice retried while this run went on reopens the copy.
      const reopened = cur && (cur.state === 'planned' || cur.state === 'copying')
        && (await this.store.slices()).some((s) => s.node.status === 'todo');
      if (cur && (cur.state === 'planned' || cur.state === 'copying') && !reopened) {
        await this.store.applyLifecycle({ type: 'copy-finished', generation: cur.generation }, this.id);
      }
      const event = run.status === 'passed'
        ? { type: 'verification-passed' as const, run: run.id, startedAt: run.startedAt }
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
    const planned = new Set<string>();
    for (const cn of await this.store.customerNodes()) if (await this.store.readPlan(cn)) planned.add(cn);
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

  /** Marks the run passed/failed once every slice has a result. Idempotent across verifiers. */
  private async finish(id: string): Promise<VerifyRun> {
    for (;;) {
      const got = await this.runs.readRun(id);
      if (!got) throw new Error(`verification run ${id} vanished`);
      if (got.run.status !== 'running') return got.run;
      const results = await this.runs.results(id);
      const sum = (f: (r: SliceVerification) => number) => results.reduce((a, r) => a + f(r), 0);
      const uncovered = await this.uncovered();
      const done: VerifyRun = {
        ...got.run,
        status: results.every((r) => r.clean) && uncovered.length === 0 ? 'passed' : 'failed',
        uncovered,
        finishedAt: Date.now(),
        totals: {
          slices: results.length, clean: results.filter((r) => r.clean).length, missing: sum((r) => r.missingCount),
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

  private stream(side: Backend, node: WorkNode): AsyncIterable<SourceDoc> {
    const rows = this.spec.batch.docs;
    const retry = requestRetry(this.spec);
    return {
      async *[Symbol.asyncIterator]() {
        let cursor: string | null = null;
        for (;;) {
          const page = await withBackoff(() => side.readPage(node.customer, node.bounds, cursor, rows), retry);
          yield* page.docs;
          if (page.done) return;
          cursor = page.nextCursor;
        }
      },
    };
  }

  async verifySlice(node: WorkNode, run: VerifyRun, repair: boolean): Promise<SliceVerification> {
    const ctx = { customer: node.customer, slice: node.index, run: run.id };
    const counts = { source: 0, target: 0 };
    let candidates: Candidate[] = [];
    let overflow = { missing: 0, extra: 0, different: 0 };
    for await (const c of mergeDiff(this.stream(this.source, node), this.stream(this.target, node), this.ignore, counts)) {
      if (candidates.length < MAX_CANDIDATES) candidates.push(c);
      else overflow[c.kind]++;
    }
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
      for (let i = 0; i < candidates.length; i += RECHECK_CHUNK) {
        const chunk = candidates.slice(i, i + RECHECK_CHUNK);
        const [src, tgt] = await this.readBoth(chunk.map((c) => c.id));
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
          else persistent.set(c.id, { kind: now, targetVersion: t?.version, routing: t?.doc.routing ?? s?.doc.routing });
        }
      }
      candidates = next;
    }
    const ids = (k: DiffKind) => [...persistent].filter(([, v]) => v.kind === k).map(([id]) => id);
    const result: SliceVerification = {
      customer: node.customer, index: node.index, bounds: node.bounds,
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
    if (repair && persistent.size > 0) result.repaired = await this.repair(persistent, ctx);
    return result;
  }

  private readBoth(ids: string[]): Promise<[Map<string, VersionedDoc>, Map<string, VersionedDoc>]> {
    const retry = requestRetry(this.spec);
    return Promise.all([withBackoff(() => this.source.getByIds(ids), retry), withBackoff(() => this.target.getByIds(ids), retry)]);
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
    for (let i = 0; i < entries.length; i += RECHECK_CHUNK) {
      const chunk = entries.slice(i, i + RECHECK_CHUNK);
      const retry = requestRetry(this.spec);
      const src = await withBackoff(() => this.source.getByIds(chunk.map(([id]) => id)), retry);
      for (const [id, d] of chunk) {
        const s = src.get(id);
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
    }
    log.info({ ...ctx, ...out }, 'repaired');
    return out;
  }
}
