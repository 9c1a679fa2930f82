/**
 * `bluegreen cutover`: the read flag (and the read alias, where the spec names one). An explicit,
 * reversible transition: `--to new` is refused unless every slice is done and a verification that
 * started after the copy finished has passed (`--force` overrides, with a reason that is recorded);
 * `--to legacy` rolls back at any time and never touches the legacy cluster's data.
 *
 * Crash safety (seed 003): the intended transition is written to the cutover node as `pending`
 * before the alias moves; a cutover that finds a pending one finishes it first (every step is
 * idempotent), so a crash at any point resumes. Except a rollback: `--to legacy` never finishes a
 * pending transition to new (that would move reads to the new cluster on the way back); it abandons
 * it (kept in the history as abandoned) and goes straight to legacy.
 */
import { hostname, userInfo } from 'node:os';
import type { Spec } from '../config/spec';
import { customerNodeName } from '../coordination/layout';
import { MigrationStore } from '../coordination/migration';
import { ZkSession, encodeJson, isBadVersion, isNodeExists } from '../coordination/zk';
import { readPrepRecord } from '../prepare/targetPrep';
import { formatDuration } from '../config/units';
import { UserError } from '../errors';
import { log } from '../log';
import { VerifyStore } from '../verifier/verifier';
import { pointAlias } from './aliases';
import { NEXT_STEP, transition, type LifecycleEvent, type LifecycleState } from '../lifecycle/machine';

export type ReadSide = 'legacy' | 'new';

export interface CutoverRecord {
  to: ReadSide;
  /** null = the whole migration; else one customer (node name). */
  customer: string | null;
  by: string;
  at: number;
  verification: string | null;
  forced?: string;
  /** Set on a pending transition that was given up instead of finished (a rollback met it). */
  abandoned?: { at: number; by: string; why: string };
}

export interface CutoverState {
  /** Where reads go for customers without an entry of their own. */
  read: ReadSide;
  /** Per-customer overrides, by customer node name (`_none` = documents with no customer). */
  customers: Record<string, ReadSide>;
  updatedAt: number;
  /** A transition recorded but not yet finished (alias move under way). */
  pending?: CutoverRecord;
  history: CutoverRecord[];
}

export const INITIAL_STATE: CutoverState = { read: 'legacy', customers: {}, updatedAt: 0, history: [] };

export function cutoverProblem(v: any): string | null {
  if (!v || typeof v !== 'object') return 'not an object';
  if (v.read !== 'legacy' && v.read !== 'new') return `read is ${JSON.stringify(v.read)}, expected legacy|new`;
  if (!v.customers || typeof v.customers !== 'object') return 'customers is missing';
  return null;
}

/** Where reads of `customer` go under this state (pure; the read router uses the same rule). */
export function readSideFor(state: CutoverState, customer: string | null | undefined): ReadSide {
  if (customer === undefined) return state.read;
  return state.customers[customerNodeName(customer)] ?? state.read;
}

export interface CutoverRequest {
  to: ReadSide;
  customer?: string | null;
  force?: string;
}

export class Cutover {
  private readonly store: MigrationStore;
  private readonly by = `${userInfo().username}@${hostname()}`;

  constructor(private readonly spec: Spec, private readonly zk: ZkSession) {
    this.store = new MigrationStore(zk, spec);
  }

  async read(): Promise<{ state: CutoverState; version: number }> {
    const path = this.store.layout.cutover;
    const got = await this.zk.getDataOrNull(path);
    if (!got) return { state: structuredClone(INITIAL_STATE), version: -1 };
    return { state: (await this.store.decode('cutover', got.data, path)) as CutoverState, version: got.stat.version };
  }

  private async write(state: CutoverState, version: number): Promise<number> {
    const path = this.store.layout.cutover;
    const raced = () => new UserError('Another cutover changed the read flag at the same moment.', 'Check `bluegreen status` and run the cutover again if still needed.');
    if (version === -1) {
      try {
        await this.zk.create(path, encodeJson(state));
        return 0;
      } catch (e) {
        if (isNodeExists(e)) throw raced();
        throw e;
      }
    }
    try {
      return (await this.zk.setData(path, encodeJson(state), version)).version;
    } catch (e) {
      if (isBadVersion(e)) throw raced();
      throw e;
    }
  }

  /**
   * Why `--to new` may not go ahead (empty = it may), and the verification run that allows it. From
   * the plan, the summaries, the queue and the latest run's results with differences: never every work
   * node. A customer's own cutover needs its slices done and no difference of its own in the latest run
   * (in a packed slice, another customer's difference is that customer's, not this one's).
   */
  async preconditions(customer: string | null | undefined): Promise<{ problems: string[]; verification: string | null }> {
    const problems: string[] = [];
    const wanted = customer === undefined ? null : customerNodeName(customer);
    const plan = await this.store.readPlan();
    const entry = plan && customer !== undefined ? await this.store.customerEntry(customer, plan) : null;
    const noSlices = !plan || plan.slices === 0 || (customer !== undefined && (!entry || entry.count === 0));
    if (noSlices) {
      // Nothing to verify and nothing copied: say that, not "differences" (a verification of no slices is neither clean nor dirty).
      problems.push(wanted
        ? `nothing was planned for customer ${customer}: it has no slices (is it part of this migration? \`bluegreen status\` lists the planned customers)`
        : plan ? 'nothing was planned: the migration has no slices (run `bluegreen plan`; a source with no documents has nothing to cut over)'
          : 'the migration has no finished plan (run `bluegreen plan`)');
      return { problems, verification: null };
    }
    const mine = (n: number) => !entry || (n >= entry.first && n < entry.first + entry.count);
    let lastFinished = 0;
    for (const sm of (await this.store.summaries()).values()) {
      lastFinished = Math.max(lastFinished, sm.lastFinishedAt ?? 0);
      for (const n of sm.failed) if (mine(n)) problems.push(`slice ${n} is failed`);
    }
    for (const a of await this.store.unfinished()) {
      if (mine(Number(a.name))) problems.push(`slice ${Number(a.name)} is ${a.claimed ? 'in progress' : 'todo'}`);
    }
    const runs = new VerifyStore(this.zk, this.store);
    const ids = await runs.runs();
    let verification: string | null = null;
    for (let i = ids.length - 1; i >= 0 && verification === null; i--) {
      const run = (await runs.readRun(ids[i]))?.run;
      if (!run || run.status === 'running') continue;
      const results = await runs.results(run.id);
      const complete = (run.totals?.slices ?? 0) === plan!.slices;
      const own = wanted === null ? results.filter((r) => !r.clean)
        : results.filter((r) => mine(r.index) && !r.clean && (r.byCustomer ? Boolean(r.byCustomer[wanted]) : true));
      const outside = (run.uncovered ?? []).filter((u) => wanted === null || customerNodeName(u.customer) === wanted);
      // Every slice clean (a customer's: none of its documents differ), and nothing outside the slices.
      const clean = complete && own.length === 0 && outside.length === 0 && (wanted !== null || run.status === 'passed');
      // What counts is the oldest check behind the pass: a run with --only-failed carries the check
      // times of the runs that really checked its clean slices, so a re-run that re-checks nothing
      // does not make an old verification fresh.
      const basis = run.carried?.startedAt ?? run.startedAt;
      const age = Date.now() - (run.oldestCheckAt ?? 0);
      const full = 'run a full verification (`bluegreen verify-integrity --new`; --only-failed keeps the check times of the slices it carries over)';
      if (!complete) problems.push(`the latest verification (${run.id}) did not check every slice: run \`bluegreen verify-integrity --new\``);
      else if (!clean) problems.push(`the latest verification (${run.id}) found differences${wanted ? ` for ${customer}` : ''}: repair them and verify again`);
      else if (!(basis >= lastFinished)) problems.push(`the verification behind the latest run (${run.id}) started before the copy finished (a slice finished at ${new Date(lastFinished).toISOString()}): ${full}`);
      else if (age > this.spec.cutover.maxVerificationAge) {
        problems.push(`the verification behind the latest run (${run.id}) is too old: its oldest check is ${formatDuration(age)} old, more than cutover.maxVerificationAge (${formatDuration(this.spec.cutover.maxVerificationAge)}): ${full}`);
      }
      else verification = run.id;
      break;
    }
    if (ids.length === 0) problems.push('no verification has run (bluegreen verify-integrity)');
    // The stored lifecycle: the whole migration must be verified (a customer's own cutover: copied at least).
    const life = (await this.store.readLifecycle())?.lifecycle.state ?? null;
    const allowed: LifecycleState[] = wanted === null ? ['verified', 'cut-over'] : ['copied', 'verified', 'cut-over'];
    if (!life || !allowed.includes(life)) {
      problems.unshift(`the migration's lifecycle is ${life ?? 'not recorded'}, not ${wanted === null ? 'verified' : 'copied'} (next: ${life ? NEXT_STEP[life] : 'run `bluegreen plan`'})`);
    }
    // A target still tuned for bulk loading (refresh off, no replicas) must not take reads.
    const prep = await readPrepRecord(this.zk, this.spec);
    if (prep && prep.record.state !== 'restored') {
      problems.push(`the target index is still prepared for bulk loading (target record: ${prep.record.state}); let a worker restore it (bluegreen work)`);
    }
    return { problems: problems.slice(0, 10), verification };
  }

  async run(req: CutoverRequest): Promise<CutoverState> {
    await this.store.requireSpec();
    // A migration-wide flip is a lifecycle transition; refused here, before anything is written, when
    // the state does not allow it (completed, cancelled; to new: not verified, unless forced).
    const wide = req.customer === undefined;
    const life = (await this.store.readLifecycle())?.lifecycle ?? null;
    const event: LifecycleEvent = { type: 'cut-over', to: req.to, ...(req.force ? { forced: req.force } : {}) };
    const check = transition(life, event, Date.now(), this.by);
    // An unforced flip to new that is not verified is refused further down, with every precondition listed.
    const listedBelow = req.to === 'new' && !req.force;
    if (!check.ok && (check.state === 'completed' || check.state === 'cancelled' || (wide && !listedBelow))) {
      throw new UserError(`Cutover to ${req.to} refused: ${check.refusal} (its lifecycle state is ${check.state ?? 'none'}).`, `Next: ${check.hint} Nothing was changed.`);
    }
    let { state, version } = await this.read();
    if (state.pending && req.to === 'legacy' && state.pending.to === 'new') {
      // A rollback never rolls forward first: the interrupted transition to new is given up, not finished.
      ({ state, version } = await this.abandon(state, version));
    } else if (state.pending) {
      log.warn({ pending: state.pending }, 'finishing a cutover that was interrupted');
      ({ state, version } = await this.complete(state, version));
    }
    let verification: string | null = null;
    if (req.to === 'new') {
      const pre = await this.preconditions(req.customer);
      verification = pre.verification;
      if (pre.problems.length && !req.force) {
        const nothingPlanned = pre.problems.some((p) => p.startsWith('nothing was planned'));
        throw new UserError(`Cutover to new refused:\n  - ${pre.problems.join('\n  - ')}`,
          nothingPlanned ? 'Plan the migration (`bluegreen plan --spec <file>`), copy it (`bluegreen work`) and verify it (`bluegreen verify-integrity`) before cutting over; nothing was changed.'
            : 'Finish the copy and run `bluegreen verify-integrity` until it passes; or, knowingly, `--force "<reason>"`.');
      }
      if (pre.problems.length) log.warn({ problems: pre.problems, reason: req.force }, 'cutover forced past its checks');
    }
    const record: CutoverRecord = {
      to: req.to, customer: req.customer === undefined ? null : customerNodeName(req.customer), by: this.by, at: Date.now(), verification,
      ...(req.force ? { forced: req.force } : {}),
    };
    // Recorded before any step is taken.
    version = await this.write({ ...state, pending: record }, version);
    const done = (await this.complete({ ...state, pending: record }, version)).state;
    // The flag moved: the lifecycle follows (cut-over, or back to verified on a rollback). A crash
    // between the two is mended by the next cutover command, which applies the same event again.
    if (wide) await this.store.applyLifecycle(event, this.by);
    return done;
  }

  /**
   * Gives up a pending transition to new. An interrupted migration-wide one may already have moved the
   * alias (the step before the flag): while the flag still says legacy, the alias is pointed back at the
   * source first (idempotent; a crash here leaves the pending record for the next command), so the flag
   * and the alias agree before anything else happens. The alias is never moved towards new here.
   */
  private async abandon(state: CutoverState, version: number): Promise<{ state: CutoverState; version: number }> {
    const p = state.pending!;
    const alias = this.spec.cutover.readAlias;
    if (alias && p.customer === null && state.read === 'legacy') {
      log.info({ step: await pointAlias(alias, this.spec.source, this.spec.target) }, 'read alias kept on legacy');
    }
    const record: CutoverRecord = { ...p, abandoned: { at: Date.now(), by: this.by, why: 'a rollback to legacy met it unfinished' } };
    const next: CutoverState = { read: state.read, customers: { ...state.customers }, updatedAt: Date.now(), history: [...state.history, record].slice(-50) };
    const v = await this.write(next, version);
    log.warn({ abandoned: p }, 'abandoned an unfinished cutover to new: rolling back instead');
    return { state: next, version: v };
  }

  private async complete(state: CutoverState, version: number): Promise<{ state: CutoverState; version: number }> {
    const p = state.pending!;
    const alias = this.spec.cutover.readAlias;
    if (alias && p.customer === null) {
      const [to, from] = p.to === 'new' ? [this.spec.target, this.spec.source] : [this.spec.source, this.spec.target];
      log.info({ step: await pointAlias(alias, to, from) }, 'read alias moved');
    }
    const next: CutoverState = {
      read: p.customer === null ? p.to : state.read,
      customers: { ...state.customers },
      updatedAt: Date.now(),
      history: [...state.history, p].slice(-50),
    };
    if (p.customer === null) next.customers = {};
    else next.customers[p.customer] = p.to;
    const v = await this.write(next, version);
    log.info({ to: p.to, customer: p.customer, verification: p.verification, forced: p.forced }, 'read flag flipped');
    return { state: next, version: v };
  }
}
