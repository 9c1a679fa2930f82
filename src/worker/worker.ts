/**
 * `bluegreen work`: the fleet side of a worker process (seed 001): lanes that ask the scheduler for a
 * slice (scheduler.ts) and hand it to the slice copier (sliceCopier.ts), the registration and
 * heartbeat, the lifecycle (copy started, copy finished, stop when cut over or cancelled), and the exit
 * code. Any worker can take any slice; everything a worker knows that matters is in ZooKeeper.
 */
import { hostname } from 'node:os';
import type { Backend } from '../backends/types';
import type { Spec } from '../config/spec';
import type { SliceClaim } from '../coordination/claim';
import { MigrationStore } from '../coordination/migration';
import { CreateMode, ZkSession, encodeJson, forPurpose, isNoNode, isNodeExists, isZkOutage } from '../coordination/zk';
import { EXIT, UserError, describeError } from '../errors';
import { log } from '../log';
import { metrics, setTopCustomers } from '../metrics';
import { optimizeTarget, restoreTarget } from '../prepare/targetPrep';
import { NEXT_STEP, mayCopy } from '../lifecycle/machine';
import { backoffDelay, requestRetry, sleep, withBackoff } from '../retry';
import { processId } from '../util';
import { RateLimiter } from './rateLimiter';
import { Scheduler, type ScanResult } from './scheduler';
import { SliceCopier } from './sliceCopier';

export interface WorkerOptions {
  /** Keep waiting for new work instead of exiting when none is left. */
  follow?: boolean;
  /** How often to look for work with --follow, or while others hold the rest. */
  pollMs?: number;
  id?: string;
}

export class Worker {
  readonly id: string;
  private stopping = false;
  private readonly limiter: RateLimiter;
  private readonly holding = new Set<SliceClaim>();
  private readonly store: MigrationStore;
  private readonly scheduler: Scheduler;
  private readonly copier: SliceCopier;
  private copiedDocs = 0;
  private readonly startedAt = Date.now();
  private heartbeat?: NodeJS.Timeout;
  private targetRestored?: Promise<void>;

  constructor(private readonly spec: Spec, private readonly zk: ZkSession, private readonly source: Backend,
    private readonly target: Backend, private readonly opts: WorkerOptions = {}) {
    this.id = opts.id ?? processId();
    this.limiter = new RateLimiter(spec.worker.docsPerSecond);
    this.store = new MigrationStore(zk, spec);
    this.scheduler = new Scheduler(this.store, this.id, spec.migration);
    this.copier = new SliceCopier({
      spec, source, target, limiter: this.limiter, workerId: this.id,
      stopping: () => this.stopping,
      doing: (lane, what) => this.laneDoing(lane, what),
      retryOptions: (side, signal) => this.retryOptions(side, signal),
    });
  }

  /** Asks the worker to finish its current batches, checkpoint, release its claims and return. */
  stop(): void {
    if (!this.stopping) log.info({ worker: this.id, holding: this.holding.size }, 'stopping: finishing current batches');
    this.stopping = true;
  }

  async run(): Promise<number> {
    // With --follow (a Deployment started before its plan Job), wait for the migration to be planned.
    if (this.opts.follow) await this.untilPlanned();
    if (this.stopping) return EXIT.INTERRUPTED;
    await this.untilZooKeeperAnswers('read the migration', () => this.store.requireSpec());
    // Every plan, work node and claim decodes before this worker registers or claims anything (the work
    // nodes once per plan for the whole fleet: validateOnce).
    const checked = await this.untilZooKeeperAnswers('check every node of the migration', () => forPurpose('check', () => this.store.validateOnce(this.id)));
    log.info({ worker: this.id, slices: checked.slices, checkedBy: checked.checkedBy }, checked.checkedBy === this.id ? 'checked every unfinished work node of the plan' : checked.checkedBy ? 'the plan\'s work nodes were checked by another worker' : 'checked every unfinished work node');
    // Metrics name the plan's biggest customers; every other one is "other" (bounded series).
    const plan = await this.untilZooKeeperAnswers('read the plan', () => this.store.readPlan());
    if (plan) setTopCustomers(plan.top);
    // The lifecycle decides whether workers copy at all (not once cut over, completed or cancelled).
    await this.untilZooKeeperAnswers('read the lifecycle', () => this.assertMayCopy());
    // A corrupt node met later (changed since, or planned since): every lane stops at its checkpoint,
    // and the error says what this worker had done by then.
    this.store.onCorrupt = async () => {
      this.stop();
      // The lane that met the node holds no slice (it was looking for one); the others finish the batch
      // they are writing and checkpoint. Bounded, in case one is stuck in a cluster's backoff.
      const until = Date.now() + 120_000;
      while (this.holding.size && Date.now() < until) await sleep(100);
      const still = this.holding.size;
      return `Before it met that node this worker had copied ${this.copiedDocs} document(s) into the target (create-only) and checkpointed them in their work nodes; `
        + (still ? `${still} lane(s) were still finishing a batch, and stop at their checkpoint; ` : 'every lane stopped at its checkpoint, its claims and registration are removed; ')
        + 'the source was not touched.';
    };
    await this.untilZooKeeperAnswers('register this worker', () => this.register());
    // Keeps lastContactAt fresh, so a live session is never mistaken for a lost one (claim.ts).
    const beat = Math.max(200, Math.floor(this.spec.zookeeper.sessionTimeout / 5));
    this.heartbeat = setInterval(() => void forPurpose('heartbeat', () => this.beat()), beat);
    const watchdog = setInterval(() => this.reportStalledLanes(), this.stallReportMs);
    watchdog.unref();
    try {
      const lanes = Array.from({ length: this.spec.worker.slicesInFlight }, async (_, lane) => {
        let trouble = 0;
        while (!this.stopping) {
          let scan: ScanResult;
          try {
            this.laneDoing(lane, 'looking for a slice to claim');
            scan = await forPurpose('claim', () => this.scheduler.next(() => this.stopping));
            trouble = 0;
          } catch (e) {
            // ZooKeeper unreachable or restarting: wait for it (readiness shows it), never crash the fleet.
            if (e instanceof UserError) throw e;
            trouble++;
            const delay = backoffDelay(Math.min(trouble, 6), { initialDelayMs: 500, maxDelayMs: 10_000 });
            log.warn({ err: describeError(e), retryInMs: delay }, 'cannot scan for work (ZooKeeper?); retrying');
            this.laneDoing(lane, `waiting ${delay} ms to scan again after: ${describeError(e)}`, false);
            await this.pause(delay);
            continue;
          }
          if (scan.claim) {
            this.recordCopyStarted();
            await this.copy(scan.claim, lane);
            continue;
          }
          if (scan.more) continue; // lost races to other workers: more slices may be free
          if (!scan.othersHold && !this.stopping) await this.copyFinished();
          if (!this.opts.follow) break;
          this.laneDoing(lane, 'waiting for new work (--follow)');
          await forPurpose('wait', () => this.waitForWork(this.opts.pollMs ?? 2000));
          this.scheduler.refresh();
        }
        this.lanes.delete(lane);
      });
      await Promise.all(lanes);
    } finally {
      clearInterval(this.heartbeat);
      clearInterval(watchdog);
      await this.zk.remove(this.store.layout.worker(this.id)).catch(() => undefined);
    }
    const rate = this.copiedDocs / Math.max(0.001, (Date.now() - this.startedAt) / 1000);
    log.info({ worker: this.id, docs: this.copiedDocs, docsPerSecond: Math.round(rate), ...this.cost(), zookeeper: await zookeeperCost(this.spec.migration) }, 'worker finished');
    if (this.stopping) return EXIT.INTERRUPTED;
    // The exit code needs one more look at ZooKeeper: an outage now is waited out, never a crash.
    const { othersHold, failed } = await this.untilZooKeeperAnswers('decide the exit code', () => this.outlook());
    if (othersHold) return EXIT.ALL_CLAIMED;
    if (failed > 0) return EXIT.SLICES_FAILED;
    return EXIT.OK;
  }

  /**
   * Every slice is finished (this scan saw none unplanned, unclaimed or claimed): undo the target's
   * bulk-load tuning (target.prepare). Once per process; racing other workers is harmless (targetPrep.ts).
   */
  private copyFinished(): Promise<void> {
    this.targetRestored ??= this.recordCopyFinished().then((finished) => {
      if (!finished) {
        this.targetRestored = undefined; // planning goes on: look again at the next scan
        return false;
      }
      return restoreTarget(this.zk, this.spec, this.id, this.target).then(() => true);
    }).then(async (restored) => {
      if (!restored) return;
      // Copied documents become searchable at the target's next commit (Solr commitWithin, 10 s) or
      // refresh (none while tuned for bulk): one now, so counts right after the copy are right.
      await withBackoff(() => this.target.refresh(), this.retryOptions('write'));
      log.info('copy finished: target refreshed, every copied document is searchable');
      // target.optimize (opt-in): merge away what re-copies and live updates left deleted.
      await optimizeTarget(this.zk, this.spec, this.id, this.target);
    }, (e) => {
      this.targetRestored = undefined;
      log.error({ err: describeError(e) }, 'could not restore the target index settings; the next `bluegreen work` tries again');
    }).catch((e) => {
      this.targetRestored = undefined;
      log.warn({ err: describeError(e) }, 'could not refresh the target after the copy; copied documents become searchable at its next commit');
    });
    return this.targetRestored;
  }

  /**
   * Every slice this scan saw is finished: the copy is finished only if the plan is (lifecycle
   * `planned` or `copying`); while planning goes on more slices may come, and the target keeps its
   * bulk-load settings. True when the lifecycle says copied (now or before).
   */
  private async recordCopyFinished(): Promise<boolean> {
    // The lifecycle first, then the slices: a plan that finished after the lane's scan may have
    // added slices that scan never saw; read in this order, none can be missed.
    const got = await this.store.readLifecycle();
    if (!got || got.lifecycle.state === 'planning') {
      log.info({ lifecycle: got?.lifecycle.state ?? null }, 'every planned slice is finished, but planning is not: the target keeps its bulk-load settings');
      return false;
    }
    if ((await this.store.unfinished()).length) return false; // claimed by others (or new): whoever finishes the last one records it
    try {
      // Conditional on the generation read above: a re-plan begun since makes it a refusal.
      const after = await this.store.applyLifecycle({ type: 'copy-finished', generation: got.lifecycle.generation }, this.id);
      this.copyStartedRecorded = false; // a later claim (a retried slice) opens the copy again
      // Still planned/copying: the event was of an older plan generation, so more slices exist.
      return after !== null && (after.state === 'copied' || after.state === 'verified' || after.state === 'cut-over');
    } catch (e) {
      if (e instanceof UserError) return false;
      throw e;
    }
  }

  private async pause(ms: number): Promise<void> {
    const until = Date.now() + ms;
    while (!this.stopping && Date.now() < until) await sleep(Math.min(200, until - Date.now()));
  }

  /**
   * Runs a ZooKeeper step outside the lanes (start-up, the final look) until it goes through: an outage
   * or a restart is waited out with backoff (`/readyz` says so meanwhile), never taken for a crash.
   * Anything else ZooKeeper answers (never planned, a corrupt node, NO_AUTH) ends the wait; so does
   * SIGTERM, with the step's last error.
   */
  private untilZooKeeperAnswers<T>(what: string, step: () => Promise<T>): Promise<T> {
    return withBackoff(step, {
      attempts: Number.POSITIVE_INFINITY,
      initialDelayMs: 500,
      maxDelayMs: 10_000,
      retryable: isZkOutage,
      abort: () => this.stopping,
      onRetry: (err, attempt, delayMs) => log.warn({ err: describeError(err), attempt, retryInMs: delayMs }, `cannot ${what} (ZooKeeper?); retrying`),
    });
  }

  /** What each lane is doing, and since when: a lane that stops making progress is reported with it. */
  private readonly lanes = new Map<number, { doing: string; since: number; progressAt: number }>();
  private get stallReportMs(): number {
    return Math.max(10_000, this.spec.zookeeper.sessionTimeout * 3);
  }

  /** Records what a lane does now; `progress` (default) means the lane got somewhere. */
  private laneDoing(lane: number, doing: string, progress = true): void {
    const now = Date.now();
    const prev = this.lanes.get(lane);
    this.lanes.set(lane, { doing, since: now, progressAt: progress || !prev ? now : prev.progressAt });
  }

  /** Names every lane that made no progress for a while, and what it has been waiting on. */
  private reportStalledLanes(): void {
    const now = Date.now();
    for (const [lane, s] of this.lanes) {
      if (now - s.progressAt < this.stallReportMs) continue;
      log.warn({ lane, doing: s.doing, forMs: now - s.since, noProgressForMs: now - s.progressAt,
        zookeeper: { connected: this.zk.isConnected, silentForMs: now - this.zk.lastContactAt, epoch: this.zk.epoch } },
      'a lane is making no progress');
    }
  }

  private async register(): Promise<void> {
    await this.zk.mkdirp(this.store.layout.workers);
    await this.zk.create(this.store.layout.worker(this.id), encodeJson(this.describeSelf()), CreateMode.EPHEMERAL).catch((e) => {
      if (!isNodeExists(e)) throw e;
    });
  }

  private describeSelf() {
    return {
      id: this.id, host: hostname(), pid: process.pid, startedAt: this.startedAt, updatedAt: Date.now(),
      copied: this.copiedDocs,
      docsPerSecond: Math.round(this.copiedDocs / Math.max(0.001, (Date.now() - this.startedAt) / 1000)),
      slices: [...this.holding].map((c) => c.slicePath),
    };
  }

  private async untilPlanned(): Promise<void> {
    let told = false;
    while (!this.stopping) {
      const spec = await this.untilZooKeeperAnswers('read the migration', () => this.store.readSpecNode());
      const lifecycle = spec && (await this.untilZooKeeperAnswers('read the lifecycle', () => this.store.readLifecycle()));
      if (spec && lifecycle) return;
      if (!told) log.info('the migration is not planned yet: waiting for `bluegreen plan` (--follow)');
      told = true;
      await this.pause(this.opts.pollMs ?? 2000);
    }
  }

  /** Refuses to start when the lifecycle allows no copying (cut over, completed, cancelled), saying why. */
  private async assertMayCopy(): Promise<void> {
    const got = await this.store.readLifecycle();
    const state = got?.lifecycle.state ?? null;
    if (mayCopy(state)) return;
    throw new UserError(`Migration "${this.spec.migration}": the migration is ${state ?? 'without a lifecycle record'}, and workers do not copy then${state === 'cut-over' ? ' (reads go to the new cluster)' : ''}.`,
      state ? `Next: ${NEXT_STEP[state]} bluegreen changed nothing.` : 'Run `bluegreen plan --spec <file>` (it records the lifecycle). bluegreen changed nothing.');
  }

  /**
   * A claim moves the migration to `copying` (from planned, or back from copied / verified when a
   * slice is retried or re-planned): once per process until this process sees the copy finish again.
   */
  private copyStartedRecorded = false;
  private recordCopyStarted(): void {
    if (this.copyStartedRecorded) return;
    this.copyStartedRecorded = true;
    // The copy is open again: the next time every slice is finished, record it (and restore) anew.
    this.targetRestored = undefined;
    this.store.applyLifecycle({ type: 'copy-started' }, this.id).catch((e) => {
      if (e instanceof UserError) {
        log.warn({ err: describeError(e) }, 'stopping: the lifecycle no longer allows copying');
        this.stop();
      } else {
        this.copyStartedRecorded = false; // ZooKeeper trouble: the next claim records it
      }
    });
  }

  /** Every heartbeat also looks at the lifecycle: a cancel, a cutover or a completion stops the fleet. */
  private async watchLifecycle(): Promise<void> {
    const got = await this.store.readLifecycle();
    const state = got?.lifecycle.state ?? null;
    if (got && !mayCopy(state) && !this.stopping) {
      log.warn({ lifecycle: state }, `stopping: the migration is ${state}; lanes finish their batch and checkpoint`);
      this.stop();
    }
  }

  private async beat(): Promise<void> {
    await this.watchLifecycle().catch((e) => {
      // A corrupt lifecycle node has already stopped the lanes (store.onCorrupt): say why, loudly.
      if (e instanceof UserError) log.error({ err: describeError(e) }, 'stopping: the lifecycle node cannot be read');
      else log.debug({ err: describeError(e) }, 'could not read the lifecycle');
    });
    try {
      await this.zk.setData(this.store.layout.worker(this.id), encodeJson(this.describeSelf()), -1);
    } catch (e) {
      // After a session was renewed the ephemeral registration is gone: register again.
      if (isNoNode(e)) await this.register().catch((err) => log.debug({ err: describeError(err) }, 'worker re-registration failed'));
      else log.debug({ err: describeError(e) }, 'worker heartbeat failed');
    }
  }

  /**
   * After every lane stopped: is anything left that others hold (or that is still being planned), and
   * did slices fail? Decides the exit code: one listing per bucket of the queue, one read per summary.
   */
  private async outlook(): Promise<{ othersHold: boolean; failed: number }> {
    // While the plan is unfinished (a planner at work, or one that died part-way) more slices may come:
    // never "done" then, whatever the slices seen say.
    const life = (await this.store.readLifecycle())?.lifecycle.state;
    let othersHold = life === 'planning' || (await this.store.readPlan()) === null;
    if (othersHold) log.warn('every slice this worker can see is finished, but the plan is not (lifecycle: planning): exit 3; run `bluegreen plan` if no planner is at work');
    if ((await this.store.unfinished()).length > 0) othersHold = true;
    let failed = 0;
    for (const s of (await this.store.summaries()).values()) failed += s.failed.length;
    return { othersHold, failed };
  }

  /**
   * Waits for new work: a watch on the queue node (a plan and a `release --retry` touch it) or `ms`,
   * whichever comes first, so an idle follower wakes within a round trip. One watch per process at a
   * time (a watch fires once; a renewed session has lost it, so one is set again), and the poll stays
   * as the fallback.
   */
  private watching: { epoch: number } | null = null;
  private wakeups = 0;
  private async waitForWork(ms: number): Promise<void> {
    const seen = this.wakeups;
    if (!this.watching || this.watching.epoch !== this.zk.epoch) {
      const mark = { epoch: this.zk.epoch };
      this.watching = mark;
      await this.zk.getData(this.store.layout.queue, () => {
        if (this.watching === mark) this.watching = null;
        this.wakeups++;
      }).catch(() => {
        if (this.watching === mark) this.watching = null;
      });
    }
    const until = Date.now() + ms;
    while (!this.stopping && this.wakeups === seen && Date.now() < until) await sleep(Math.min(100, until - Date.now()));
  }

  /** `signal`: the claim's, so a lost claim ends the backoff at once (claim.ts). */
  private retryOptions(side: 'read' | 'write', signal?: AbortSignal) {
    return {
      ...requestRetry(this.spec),
      abort: () => this.stopping,
      signal,
      onRetry: (err: unknown, attempt: number, delayMs: number) => {
        metrics.retries.inc({ migration: this.spec.migration, side });
        if (side === 'write') {
          this.limiter.pushback();
          metrics.throttle.set({ migration: this.spec.migration }, this.limiter.limit);
        }
        log.warn({ side, attempt, delayMs, err: describeError(err) }, 'backing off');
      },
    };
  }

  /**
   * What this process cost and moved (issue 15): its CPU seconds (whole process, and from its first
   * claim on), document bytes read and written, where the lanes spent their time (CopyStats), and when
   * it started (process start, from Node's own clock), claimed first, wrote first and checkpointed
   * last, so a benchmark can tell the start-up from the copy.
   */
  private cost() {
    const s = this.copier.stats;
    const round = (n: number) => Math.round(n);
    return {
      cpuSeconds: cpuSeconds(),
      copyCpuSeconds: this.cpuAtFirstClaim === null ? 0 : Math.round((cpuSeconds() - this.cpuAtFirstClaim) * 1000) / 1000,
      bytesRead: s.bytesRead, bytesWritten: s.bytesWritten, pages: s.pages, docsWritten: s.docsWritten,
      laneMs: { read: round(s.ms.read), write: round(s.ms.write), liveDeletes: round(s.ms.liveDeletes), checkpoint: round(s.ms.checkpoint), throttle: round(s.ms.throttle), tail: round(s.ms.tail) },
      processStartedAt: Math.round(performance.timeOrigin), firstClaimAt: s.firstClaimAt, firstWriteAt: s.firstWriteAt, lastCheckpointAt: s.lastCheckpointAt,
    };
  }

  /** Hands a claimed slice to the copier, and gives the claim back whatever happens. */
  private cpuAtFirstClaim: number | null = null;
  private async copy(claim: SliceClaim, lane: number): Promise<void> {
    this.cpuAtFirstClaim ??= cpuSeconds();
    this.holding.add(claim);
    try {
      await this.copier.copy(claim, lane, (n) => (this.copiedDocs += n));
    } finally {
      this.holding.delete(claim);
      await claim.release();
      this.scheduler.mine.delete(claim.key);
    }
  }
}

/** CPU seconds of this process (user + system, since it started): the "worker finished" line's cost. */
function cpuSeconds(): number {
  const u = process.cpuUsage();
  return Math.round((u.user + u.system) / 1000) / 1000;
}

/**
 * What coordination cost this process: ZooKeeper requests by purpose, and per slice claimed and per
 * checkpoint (the figures issue 14 targets; bench:scale adds them up over the fleet).
 */
async function zookeeperCost(migration: string): Promise<Record<string, number>> {
  const byPurpose: Record<string, number> = {};
  for (const v of (await metrics.zookeeperRequests.get()).values) byPurpose[String(v.labels.purpose)] = v.value;
  const value = async (m: { get(): Promise<{ values: Array<{ value: number; labels: Record<string, unknown> }> }> }) =>
    (await m.get()).values.filter((v) => v.labels.migration === migration).reduce((n, v) => n + v.value, 0);
  return { ...byPurpose, claims: await value(metrics.claimsTaken), checkpoints: await value(metrics.checkpoints) };
}
