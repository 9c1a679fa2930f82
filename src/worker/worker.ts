/**
 * `bluegreen work`: claim → copy page by page → checkpoint → done → next (seed 001). Any worker can
 * take any slice; everything a worker knows that matters is in ZooKeeper.
 */
import { hostname } from 'node:os';
import type { Backend } from '../backends/types';
import type { Spec } from '../config/spec';
import { SliceClaim } from '../coordination/claim';
import { MigrationStore } from '../coordination/migration';
import type { Rejection, WorkNode } from '../coordination/workNode';
import { describeBounds } from '../coordination/workNode';
import { CreateMode, ZkSession, encodeJson, isNoNode, isNodeExists, isZkOutage } from '../coordination/zk';
import { EXIT, FencedError, RetryableError, UserError, describeError } from '../errors';
import { log } from '../log';
import { metrics } from '../metrics';
import { restoreTarget } from '../prepare/targetPrep';
import { NEXT_STEP, mayCopy } from '../lifecycle/machine';
import { backoffDelay, requestRetry, sleep, withBackoff } from '../retry';
import { processId, shuffle } from '../util';
import { nextPageRows, splitByBytes } from './batching';
import { RateLimiter } from './rateLimiter';

export interface WorkerOptions {
  /** Keep waiting for new work instead of exiting when none is left. */
  follow?: boolean;
  /** How often to look for work with --follow, or while others hold the rest. */
  pollMs?: number;
  id?: string;
}

interface ScanResult {
  claim: SliceClaim | null;
  /** Unfinished slices that other workers (or other lanes) hold, or customers not planned yet. */
  othersHold: boolean;
}

export class Worker {
  readonly id: string;
  private stopping = false;
  /**
   * Slices known to be `done`: final, never looked at again. A `failed` slice is not final
   * (`release --retry` puts it back to `todo`), so it is kept with its work node's version and
   * checked again each pass with a stat (no data): a retried slice is taken without a restart.
   */
  private readonly finished = new Map<string, 'done'>();
  private readonly failedAt = new Map<string, number>();
  private readonly limiter: RateLimiter;
  private readonly holding = new Set<SliceClaim>();
  /** Slices a lane of this process is claiming or holding (its claim node may exist before `holding` knows it). */
  private readonly mine = new Set<string>();
  private readonly store: MigrationStore;
  private copiedDocs = 0;
  private readonly startedAt = Date.now();
  private heartbeat?: NodeJS.Timeout;
  private targetRestored?: Promise<void>;

  constructor(private readonly spec: Spec, private readonly zk: ZkSession, private readonly source: Backend,
    private readonly target: Backend, private readonly opts: WorkerOptions = {}) {
    this.id = opts.id ?? processId();
    this.limiter = new RateLimiter(spec.worker.docsPerSecond);
    this.store = new MigrationStore(zk, spec);
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
    // Every plan, work node and claim decodes before this worker registers or claims anything.
    await this.untilZooKeeperAnswers('check every node of the migration', () => this.store.validateAll());
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
    this.heartbeat = setInterval(() => void this.beat(), beat);
    const watchdog = setInterval(() => this.reportStalledLanes(), this.stallReportMs);
    watchdog.unref();
    try {
      const lanes = Array.from({ length: this.spec.worker.slicesInFlight }, async (_, lane) => {
        let trouble = 0;
        while (!this.stopping) {
          let scan: ScanResult;
          try {
            this.laneDoing(lane, 'looking for a slice to claim');
            scan = await this.claimNext();
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
          if (!scan.othersHold && !this.stopping) await this.copyFinished();
          if (!this.opts.follow) break;
          this.laneDoing(lane, 'waiting for new work (--follow)');
          await this.pause(this.opts.pollMs ?? 2000);
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
    log.info({ worker: this.id, docs: this.copiedDocs, docsPerSecond: Math.round(rate) }, 'worker finished');
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
    const open = (await this.store.slices()).filter((s) => s.node.status === 'todo');
    if (open.length) return false; // claimed by others (or new): whoever finishes the last one records it
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
   * did slices fail? Decides the exit code; lanes' own scans raced each other's claims.
   */
  private async outlook(): Promise<{ othersHold: boolean; failed: number }> {
    // While the plan is unfinished (a planner at work, or one that died part-way) more slices may come:
    // never "done" then, whatever the slices seen say.
    const life = (await this.store.readLifecycle())?.lifecycle.state;
    let othersHold = life === 'planning';
    if (othersHold) log.warn('every slice this worker can see is finished, but the plan is not (lifecycle: planning): exit 3; run `bluegreen plan` if no planner is at work');
    let failed = 0;
    for (const cn of await this.store.customerNodes()) {
      if (!(await this.store.readPlan(cn))) {
        othersHold = true;
        continue;
      }
      const claims = await this.store.claimNames(cn);
      for (const name of await this.store.sliceNames(cn)) {
        // Only `done` is final; a failed slice may have been retried (and taken, or finished) since.
        const status = this.finished.has(`${cn}/${name}`) ? 'done' : (await this.store.readSlice(cn, name))?.node.status;
        if (status === 'failed') failed++;
        else if (status !== 'done' && (claims.has(name) || status === 'todo')) othersHold = true;
      }
    }
    return { othersHold, failed };
  }

  /** Finds an unfinished, unclaimed slice and claims it. Customers in random order, to spread workers. */
  private async claimNext(): Promise<ScanResult> {
    let othersHold = false;
    const customers = shuffle(await this.store.customerNodes());
    for (const cn of customers) {
      if (this.stopping) break;
      if (!(await this.store.readPlan(cn))) {
        othersHold = true; // planning under way (or never finished): work may still come
        continue;
      }
      const [names, claims] = await Promise.all([this.store.sliceNames(cn), this.store.claimNames(cn)]);
      for (const name of names) {
        const key = `${cn}/${name}`;
        if (this.finished.has(key)) continue;
        if (await this.stillFailed(cn, name)) continue;
        if (claims.has(name)) {
          if (!(await this.removeOrphanClaim(cn, name))) {
            othersHold = true;
            continue;
          }
        }
        // Reserved for this lane with no await between the check and the add: two lanes of one
        // process reading the same slice at once must not both try it, or the loser's cleanup would
        // drop the winner's reservation (and the orphan sweep then removes the winner's live claim).
        if (this.mine.has(key)) {
          othersHold = true; // another lane of this process has it: not finished yet
          continue;
        }
        this.mine.add(key);
        let claim: SliceClaim | null = null;
        let finished = false;
        try {
          // Read before claiming: finished slices are never claimed (a claim is a write).
          const current = await this.store.readSlice(cn, name);
          if (!current) continue;
          if (current.node.status !== 'todo') {
            this.remember(key, current.node.status, current.version);
            continue;
          }
          claim = await SliceClaim.tryClaim(this.zk, this.store.layout, cn, name, this.id, (node) => {
            // Finished between the read and the claim (its version is not known here: a failed one is read again next pass).
            finished = true;
            if (node.status === 'done') this.finished.set(key, 'done');
          });
        } finally {
          if (!claim) this.mine.delete(key);
        }
        if (claim) {
          metrics.claimsTaken.inc({ migration: this.spec.migration });
          return { claim, othersHold };
        }
        if (!finished) othersHold = true; // lost the race to another worker
      }
    }
    return { claim: null, othersHold };
  }

  /** Caches what a scan read: `done` for good, `failed` with the work node's version it was read at. */
  private remember(key: string, status: WorkNode['status'], version: number): void {
    if (status === 'done') {
      this.finished.set(key, 'done');
      this.failedAt.delete(key);
    } else if (status === 'failed') {
      this.failedAt.set(key, version);
    }
  }

  /**
   * A slice this worker saw `failed` whose work node has not been written since (one stat, no data).
   * Any write (`release --retry`, above all) makes it unknown again: the scan reads it as it is now.
   */
  private async stillFailed(cn: string, name: string): Promise<boolean> {
    const key = `${cn}/${name}`;
    const version = this.failedAt.get(key);
    if (version === undefined) return false;
    const stat = await this.zk.exists(this.store.layout.slice(cn, name));
    if (stat && stat.version === version) return true;
    this.failedAt.delete(key);
    return false;
  }

  /**
   * A claim of this worker's own session that no lane holds (its release failed while ZooKeeper was
   * unreachable, and the session survived): remove it, or the slice would stay blocked.
   */
  private async removeOrphanClaim(cn: string, name: string): Promise<boolean> {
    if (this.mine.has(`${cn}/${name}`)) return false;
    const got = await this.zk.getDataOrNull(this.store.layout.claim(cn, name));
    if (!got) return true;
    let info: { worker?: string; session?: string } = {};
    try {
      info = JSON.parse(got.data.toString('utf8'));
    } catch {
      return false;
    }
    if (info.worker !== this.id || info.session !== this.zk.sessionId) return false;
    // Checked again after the read: a lane of ours may have claimed the slice meanwhile. No await
    // between this check and the remove request, and a lane marks `mine` before its create request.
    if (this.mine.has(`${cn}/${name}`)) return false;
    log.warn({ slice: `${cn}/${name}` }, "removing an orphaned claim of this worker");
    await this.zk.remove(this.store.layout.claim(cn, name), got.stat.version).catch(() => undefined);
    return true;
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

  private async copy(claim: SliceClaim, lane: number): Promise<void> {
    const { customer, bounds, index } = claim.node;
    const ctx = { worker: this.id, customer, slice: index, bounds: describeBounds(bounds) };
    const labels = { migration: this.spec.migration, customer: customer ?? '' };
    const { docs: maxDocs, bytes: maxBytes } = this.spec.batch;
    this.holding.add(claim);
    log.info({ ...ctx, cursor: claim.node.cursor, attempt: claim.node.attempts }, claim.node.cursor ? 'resuming slice' : 'starting slice');
    // The first page of a slice is small (documents may be huge); later pages follow the sizes seen.
    // A resumed slice's learned size is capped by today's batch.docs (lowered after an out-of-memory).
    let rows = Math.max(1, Math.min(claim.node.pageRows ?? 100, maxDocs));
    try {
      // Claims that ended with neither progress nor a recorded failure: its workers die on it.
      const stalls = (claim.node.stalls ?? 0) - claim.node.failures;
      if (stalls > this.spec.worker.maxAttempts * 2) {
        // Claimed again and again with no progress and no failure recorded: its workers die on it.
        await claim.checkpoint((n) => ({ ...n, status: 'failed', owner: null, lastError: `claimed ${stalls} times without progress: do workers crash on it (out of memory on a large page?); lower batch.docs / batch.bytes, then release --retry` }));
        metrics.slicesFinished.inc({ migration: this.spec.migration, status: 'failed' });
        log.error({ ...ctx, stalls }, 'slice failed: no progress across many claims');
        return;
      }
      for (;;) {
        if (this.stopping) {
          log.info({ ...ctx, cursor: claim.node.cursor }, 'stopping: slice left at its checkpoint');
          return;
        }
        claim.assertHeld();
        this.laneDoing(lane, `reading a page of ${claim.key} (${rows} rows)`);
        const endRead = metrics.readSeconds.startTimer({ migration: this.spec.migration });
        const page = await withBackoff(() => this.source.readPage(customer, bounds, claim.node.cursor, rows, claim.signal), this.retryOptions('read', claim.signal));
        endRead();
        let written = 0;
        let skipped = 0;
        const rejected: Rejection[] = [];
        for (const batch of splitByBytes(page.docs, maxDocs, maxBytes)) {
          await this.limiter.take(batch.length);
          claim.assertHeld();
          this.laneDoing(lane, `writing ${batch.length} documents of ${claim.key}`);
          const endWrite = metrics.writeSeconds.startTimer({ migration: this.spec.migration });
          // The claim goes along into the backend: its own retries stop, and its requests are
          // aborted, the moment the claim is lost.
          const r = await withBackoff(() => {
            claim.assertHeld();
            return this.target.writeBatch(batch, claim.signal);
          }, this.retryOptions('write', claim.signal));
          endWrite();
          this.limiter.recovered(batch.length);
          written += r.written;
          skipped += r.skipped;
          rejected.push(...r.rejected);
        }
        for (const r of rejected) log.warn({ ...ctx, id: r.id, reason: r.reason }, 'target rejected a document');
        if (page.docs.length >= 10 && rejected.length === page.docs.length) {
          // Not poison documents but a target that refuses everything (schema or mapping mismatch):
          // fail the attempt instead of "finishing" the slice with nothing copied.
          throw new Error(`the target rejected every document of a page (${rejected[0].reason}); check the target's schema/mapping`);
        }
        rows = nextPageRows(page.docs, maxDocs, maxBytes);
        this.laneDoing(lane, `checkpointing ${claim.key}`);
        await claim.checkpoint((n) => ({
          ...n,
          cursor: page.nextCursor,
          counts: {
            read: n.counts.read + page.docs.length,
            written: n.counts.written + written,
            skipped: n.counts.skipped + skipped,
            rejected: n.counts.rejected + rejected.length,
          },
          rejections: [...n.rejections, ...rejected].slice(0, this.spec.worker.keepRejections),
          progressAt: Date.now(),
          pageRows: rows,
          // Progress: earlier failed attempts (and claims that got nowhere) no longer count.
          failures: 0,
          stalls: 0,
          ...(page.done ? { status: 'done' as const, finishedAt: Date.now(), owner: null, lastError: null } : {}),
        }));
        metrics.docsRead.inc(labels, page.docs.length);
        metrics.docsWritten.inc(labels, written);
        metrics.docsSkipped.inc(labels, skipped);
        metrics.docsRejected.inc(labels, rejected.length);
        this.copiedDocs += page.docs.length;
        if (page.done) {
          metrics.slicesFinished.inc({ migration: this.spec.migration, status: 'done' });
          this.finished.set(claim.key, 'done');
          log.info({ ...ctx, counts: claim.node.counts }, 'slice done');
          return;
        }
      }
    } catch (e) {
      if (e instanceof FencedError) {
        metrics.claimsLost.inc({ migration: this.spec.migration });
        log.warn({ ...ctx, reason: e.message }, 'dropped the slice: claim lost');
        return;
      }
      if (this.stopping) {
        // A retry cut short by SIGTERM is not the slice's fault: leave it at its checkpoint.
        log.info({ ...ctx, err: describeError(e) }, 'stopping: slice left at its checkpoint');
        return;
      }
      await this.recordFailure(claim, e, ctx);
    } finally {
      this.holding.delete(claim);
      await claim.release();
      this.mine.delete(claim.key);
    }
  }

  private async recordFailure(claim: SliceClaim, err: unknown, ctx: object): Promise<void> {
    const message = describeError(err).slice(0, 500);
    try {
      const n = await claim.checkpoint((node) => {
        const failures = node.failures + 1;
        return { ...node, failures, lastError: message, owner: null, status: failures >= this.spec.worker.maxAttempts ? 'failed' : node.status };
      });
      log.error({ ...ctx, err: message, failures: n.failures, status: n.status, transient: err instanceof RetryableError }, 'slice attempt failed');
      if (n.status === 'failed') metrics.slicesFinished.inc({ migration: this.spec.migration, status: 'failed' });
    } catch (e) {
      log.error({ ...ctx, err: message, checkpointErr: describeError(e) }, 'slice attempt failed and could not be recorded');
    }
  }
}
