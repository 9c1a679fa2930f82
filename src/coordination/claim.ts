/**
 * The claim on one slice: an ephemeral node that gives one worker the right to work it, and the
 * fenced checkpoint that is the only way a worker changes the slice's work node.
 *
 * Fencing: taking a claim bumps the work node's version (owner, attempts). Every later write is a
 * multi of "claim still exists" and "work node still at the version I last wrote". A worker that was
 * paused past its session and woke up after another worker took the slice fails both checks, so it
 * can never move the cursor (backwards or otherwise). And `assertHeld()` makes it stop writing
 * documents once its session is suspect, even before ZooKeeper tells it anything.
 *
 * The fence reaches into the backends: `signal` is aborted (with a FencedError) the moment the claim
 * is known lost or suspect — released, fenced at a checkpoint, the session renewed, or silent past
 * the margin (a small timer looks) — and the backends send it with every request and check it before
 * every retry, so no write of this worker lands once it may have lost the slice.
 *
 * Only this claim is ever removed: a claim node is ours when ZooKeeper says our session created it
 * (its ephemeralOwner, and the czxid seen right after the create), and the removal is a multi with a
 * check of the work node, whose version an operator's `release` moves — so a claim that another
 * worker created in the meantime on the same path survives.
 */
import { FencedError } from '../errors';
import { sleep } from '../retry';
import { Layout, type SliceAddress } from './layout';
import { SUMMARY_TRANSFORM_REJECTIONS, addCounts, emptySummary, type SummaryNode, type WorkNode } from './workNode';
import { metrics } from '../metrics';
import { CreateMode, MultiError, ZkSession, decodeJson, encodeJson, forPurpose, isBadVersion, isNoNode, type MultiOp, type Stat } from './zk';

export interface ClaimInfo {
  worker: string;
  session: string;
  since: number;
}

/** Which claim node is ours: the session that created it, in the epoch it was created in, and its czxid. */
interface ClaimIdentity {
  epoch: number;
  /** From the exists() right after the create; unknown when that did not happen. */
  czxid?: Buffer;
}

function isOurs(zk: ZkSession, stat: Stat, id: ClaimIdentity): boolean {
  if (zk.epoch !== id.epoch) return false;
  if (!Buffer.from(stat.ephemeralOwner).equals(zk.client.getSessionId())) return false;
  if (stat.version !== 0) return false;
  return id.czxid === undefined || Buffer.from(stat.czxid).equals(id.czxid);
}

/**
 * Removes the claim node only if it is this claim: created by this session (and this create), at
 * version 0. The work node is read first and checked in the same multi as the remove: an operator's
 * release (which removes our claim) moves its version, so if ours is replaced by another worker's
 * claim between our look and our remove, the multi fails and theirs stays. True when settled (removed,
 * gone, or not ours); false when ZooKeeper did not answer.
 */
async function removeIfOurs(zk: ZkSession, claimPath: string, slicePath: string, id: ClaimIdentity, sliceVersion?: number): Promise<boolean> {
  for (let attempt = 0; attempt < 3; attempt++) {
    if (zk.epoch !== id.epoch) return true; // the session that owned it ended: it is gone
    try {
      const version = attempt === 0 && sliceVersion !== undefined ? sliceVersion : (await zk.getData(slicePath)).stat.version;
      const stat = await zk.exists(claimPath);
      if (!stat || !isOurs(zk, stat, id)) return true;
      await zk.multi([
        { op: 'check', path: slicePath, version },
        { op: 'remove', path: claimPath, version: 0 },
      ]);
      return true;
    } catch (e) {
      if (isNoNode(e)) return removeWithoutWorkNode(zk, claimPath, id);
      if (!(e instanceof MultiError)) return false;
      if (e.index === 1) return true; // the claim went meanwhile
      // The work node moved since we read it: look again (is the claim still ours?).
    }
  }
  // Still ours but the work node keeps moving: the claim goes with this session at the latest.
  return true;
}

/** No work node (removed under us): no release can race us on it, so our own claim goes by itself. */
async function removeWithoutWorkNode(zk: ZkSession, claimPath: string, id: ClaimIdentity): Promise<boolean> {
  try {
    const stat = await zk.exists(claimPath);
    if (stat && isOurs(zk, stat, id)) await zk.remove(claimPath, 0);
    return true;
  } catch (e) {
    return isNoNode(e) || isBadVersion(e);
  }
}

export class SliceClaim {
  private released = false;
  /** The session epoch the claim was taken in: a renewed session means the ephemeral claim is gone. */
  private readonly epoch: number;
  /** Aborted (reason: a FencedError) the moment this claim is known lost or suspect. */
  private readonly fence = new AbortController();
  private readonly watch: NodeJS.Timeout;

  /** The slice's name across the migration (its number, zero-padded). */
  readonly key: string;

  private constructor(
    private readonly zk: ZkSession,
    readonly address: SliceAddress,
    private readonly layout: Layout,
    readonly claimPath: string,
    readonly slicePath: string,
    /** The work node as this claim last wrote it. */
    public node: WorkNode,
    private version: number,
    private readonly identity: ClaimIdentity,
  ) {
    this.epoch = identity.epoch;
    this.key = address.name;
    // The fence must fall while a request or a backoff is pending, not only at the next assertHeld().
    const every = Math.min(1000, Math.max(50, Math.floor(zk.sessionTimeout / 10)));
    this.watch = setInterval(() => this.problem(), every);
    this.watch.unref();
  }

  /**
   * The claim as a cancellation signal, for every request made on the slice's behalf (backends and
   * their retry loops: types.ts). Once aborted it stays aborted: the worker drops the slice.
   */
  get signal(): AbortSignal {
    return this.fence.signal;
  }

  /** Why this worker may no longer act on the slice (and then the fence falls), or null. */
  private problem(): FencedError | null {
    if (this.fence.signal.aborted) return this.fence.signal.reason as FencedError;
    let why: string | null = null;
    if (this.released) why = `claim ${this.claimPath} was released`;
    else if (this.zk.epoch !== this.epoch) why = `the ZooKeeper session that held ${this.claimPath} expired`;
    else if (this.zk.suspect()) why = `no answer from ZooKeeper for ${Date.now() - this.zk.lastContactAt} ms: the session may have expired, so the claim on ${this.claimPath} may be gone`;
    return why ? this.lose(why) : null;
  }

  private lose(why: string): FencedError {
    this.released = true;
    clearInterval(this.watch);
    if (!this.fence.signal.aborted) this.fence.abort(new FencedError(why));
    return this.fence.signal.reason as FencedError;
  }

  /**
   * Claims a slice the caller has just read (`current`): one multi creates the ephemeral claim beside
   * the queue entry and writes the work node at the version read (owner, attempts), so of two workers
   * that read the same slice exactly one gets it, and a stale holder is fenced by the version bump.
   * Null when the slice is not claimable now (finished, or another worker was first).
   */
  static async take(zk: ZkSession, layout: Layout, address: SliceAddress, workerId: string,
    current: { node: WorkNode; version: number }): Promise<SliceClaim | null> {
    if (current.node.status !== 'todo') return null;
    const claimPath = layout.claim(address);
    const slicePath = layout.slice(address);
    const info: ClaimInfo = { worker: workerId, session: zk.sessionId, since: Date.now() };
    const id: ClaimIdentity = { epoch: zk.epoch };
    const node = current.node;
    const claimed: WorkNode = { ...node, owner: workerId, attempts: node.attempts + 1, stalls: (node.stalls ?? 0) + 1, startedAt: node.startedAt ?? Date.now() };
    try {
      const [, set] = await zk.multi([
        { op: 'create', path: claimPath, data: encodeJson(info), mode: CreateMode.EPHEMERAL },
        { op: 'set', path: slicePath, data: encodeJson(claimed), version: current.version },
      ]);
      // Both writes are one transaction: the claim's czxid is the work node's new mzxid.
      id.czxid = Buffer.from(set.stat!.mzxid);
      return new SliceClaim(zk, address, layout, claimPath, slicePath, claimed, set.stat!.version, id);
    } catch (e) {
      // Another worker's claim, a write since our read (a release, a finish), or the bucket gone: not ours.
      if (e instanceof MultiError) return null;
      // No answer: the multi may have gone through. Only this very claim is ours to take back.
      await removeIfOurs(zk, claimPath, slicePath, id);
      throw e;
    }
  }

  /** Throws FencedError unless this worker may still act on the slice. Call before every write. */
  assertHeld(): void {
    const lost = this.problem();
    if (lost) throw lost;
  }

  /**
   * Writes the work node, only if this claim still exists and nobody else wrote the node since: one
   * multi, one request. Throws FencedError otherwise (and then this claim is dead: the caller must drop
   * the slice). A write that finishes the slice (done or failed) also takes it off the queue and adds
   * it to its bucket's summary, in the same multi: status reads summaries, never a half-finished slice.
   */
  checkpoint(update: (node: WorkNode) => WorkNode): Promise<WorkNode> {
    return forPurpose('checkpoint', () => this.writeCheckpoint(update));
  }

  private async writeCheckpoint(update: (node: WorkNode) => WorkNode): Promise<WorkNode> {
    this.assertHeld();
    const next = update(structuredClone(this.node));
    const finishing = next.status !== 'todo';
    // Off the queue in the same multi; an entry already gone (an operator's hand) is no reason to fail.
    let queued = finishing;
    for (let attempt = 0; ; attempt++) {
      const ops: MultiOp[] = [
        { op: 'check', path: this.claimPath, version: 0 },
        { op: 'set', path: this.slicePath, data: encodeJson(next), version: this.version },
      ];
      let summaryOp: MultiOp | undefined;
      let queueOp: MultiOp | undefined;
      if (finishing) {
        const summaryPath = this.layout.summary(this.address.bucket);
        const got = await this.zk.getDataOrNull(summaryPath);
        const summary = got ? decodeJson<SummaryNode>(got.data, summaryPath, (v) => (Number.isInteger(v?.done) && Array.isArray(v?.failed) ? null : 'not a bucket summary')) : emptySummary();
        summaryOp = got
          ? { op: 'set', path: summaryPath, data: encodeJson(addToSummary(summary, next)), version: got.stat.version }
          : { op: 'create', path: summaryPath, data: encodeJson(addToSummary(summary, next)) };
        ops.push(summaryOp);
        if (queued) ops.push((queueOp = { op: 'remove', path: this.layout.queued(this.address), version: -1 }));
        // The claim goes with the finish: nothing is left to give back (one request less per slice).
        ops.push({ op: 'remove', path: this.claimPath, version: 0 });
      }
      try {
        const results = await this.zk.multi(ops);
        metrics.checkpoints.inc({ migration: this.layout.migration });
        this.node = next;
        this.version = results[1].stat!.version;
        if (finishing) {
          this.claimRemoved = true;
          this.lose(`slice ${this.key} is ${next.status}: its claim went with the finishing checkpoint`);
        }
        return next;
      } catch (e) {
        if (e instanceof MultiError && queueOp && e.op === queueOp && isNoNode({ code: e.code })) {
          queued = false;
          continue;
        }
        // Another slice of the bucket finished meanwhile (the summary moved): read it again.
        if (e instanceof MultiError && summaryOp && e.op === summaryOp && attempt < 50) continue;
        if (e instanceof MultiError && e.index < 2 && (isNoNode({ code: e.code }) || isBadVersion({ code: e.code }))) {
          throw this.lose(`lost the claim on ${this.slicePath}: ${e.op.op === 'check' ? 'the claim node is gone' : 'another worker wrote the work node'}`);
        }
        throw e;
      }
    }
  }

  /** Set when the finishing checkpoint removed the claim itself. */
  private claimRemoved = false;

  /**
   * Gives the slice back. Removes the claim only while the work node is still ours (never another's
   * claim). If ZooKeeper cannot be reached now, keeps trying in the background for as long as the
   * session that owns the claim may still be alive — a claim left behind would block the slice.
   */
  async release(): Promise<void> {
    if (this.releasing) return this.releasing;
    this.lose(`claim ${this.claimPath} was released`);
    this.releasing = this.tryRelease();
    return this.releasing;
  }

  private releasing?: Promise<void>;

  private async tryRelease(): Promise<void> {
    if (this.claimRemoved || (await this.removeClaim())) return;
    // Not reachable now: keep trying in the background, so a stopping lane is not held up.
    void (async () => {
      while (this.zk.epoch === this.epoch && !this.zk.isClosed) {
        await sleep(1000);
        if (await this.removeClaim()) return;
      }
    })();
  }

  /** True when settled: removed, gone, someone else's, or the session that owned it ended. False: ZooKeeper unreachable. */
  private removeClaim(): Promise<boolean> {
    return removeIfOurs(this.zk, this.claimPath, this.slicePath, this.identity, this.version);
  }
}

/** A bucket's summary with one more finished slice (done: counted; failed: listed for status and retry). */
export function addToSummary(s: SummaryNode, node: WorkNode): SummaryNode {
  const c = node.counts;
  return {
    ...s,
    done: s.done + (node.status === 'done' ? 1 : 0),
    failed: node.status === 'failed' ? [...new Set([...s.failed, node.index])].sort((a, b) => a - b) : s.failed,
    lastFinishedAt: Math.max(s.lastFinishedAt ?? 0, node.finishedAt ?? 0) || null,
    counts: addCounts(s.counts, c),
    ...keptTransformRejections(s, node),
  };
}

/** The bucket's first transform rejections, with those of the slice finished now (status lists them). */
function keptTransformRejections(s: SummaryNode, node: WorkNode): Pick<SummaryNode, 'transformRejections'> {
  const before = s.transformRejections ?? [];
  if (before.length >= SUMMARY_TRANSFORM_REJECTIONS) return { transformRejections: before };
  const more = node.rejections.filter((r) => r.by === 'transform');
  return before.length || more.length ? { transformRejections: [...before, ...more].slice(0, SUMMARY_TRANSFORM_REJECTIONS) } : {};
}
