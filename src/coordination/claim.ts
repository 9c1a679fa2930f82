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
import { Layout } from './layout';
import type { WorkNode } from './workNode';
import { workNodeProblem } from './workNode';
import { CreateMode, MultiError, ZkSession, decodeJson, encodeJson, isBadVersion, isNoNode, isNodeExists, type Stat } from './zk';

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

  private constructor(
    private readonly zk: ZkSession,
    /** "<customer node>/<slice name>": the slice's name across the migration. */
    readonly key: string,
    readonly claimPath: string,
    readonly slicePath: string,
    /** The work node as this claim last wrote it. */
    public node: WorkNode,
    private version: number,
    private readonly identity: ClaimIdentity,
  ) {
    this.epoch = identity.epoch;
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
   * Tries to claim a slice. Returns null when another worker holds it or it is already finished.
   * `isFinished` nodes are reported through `onFinished` so callers can remember them.
   */
  static async tryClaim(zk: ZkSession, layout: Layout, customerNode: string, sliceName: string, workerId: string,
    onFinished?: (node: WorkNode) => void): Promise<SliceClaim | null> {
    const claimPath = layout.claim(customerNode, sliceName);
    const slicePath = layout.slice(customerNode, sliceName);
    const info: ClaimInfo = { worker: workerId, session: zk.sessionId, since: Date.now() };
    const id: ClaimIdentity = { epoch: zk.epoch };
    try {
      await zk.create(claimPath, encodeJson(info), CreateMode.EPHEMERAL);
    } catch (e) {
      if (isNodeExists(e)) return null;
      if (isNoNode(e)) await zk.mkdirp(layout.claims(customerNode)).then(() => zk.create(claimPath, encodeJson(info), CreateMode.EPHEMERAL));
      else throw e;
    }
    let sliceVersion: number | undefined;
    try {
      // The work node first, then whose the claim is: a release after this look moves the work node's
      // version (the multi below fails); one before it shows here as a claim that is not ours.
      const { data, stat } = await zk.getData(slicePath);
      sliceVersion = stat.version;
      const own = await zk.exists(claimPath);
      // Released (and perhaps claimed by another worker) since our create: nothing of ours to remove.
      if (!own || !isOurs(zk, own, id)) return null;
      id.czxid = Buffer.from(own.czxid);
      const node = decodeJson<WorkNode>(data, slicePath, workNodeProblem);
      if (node.status !== 'todo') {
        onFinished?.(node);
        await removeIfOurs(zk, claimPath, slicePath, id, sliceVersion);
        return null;
      }
      // Taking the slice is itself a fenced write: it bumps the version any stale holder still has.
      const claimed: WorkNode = { ...node, owner: workerId, attempts: node.attempts + 1, stalls: (node.stalls ?? 0) + 1, startedAt: node.startedAt ?? Date.now() };
      const [, set] = await zk.multi([
        { op: 'check', path: claimPath, version: 0 },
        { op: 'set', path: slicePath, data: encodeJson(claimed), version: stat.version },
      ]);
      return new SliceClaim(zk, `${customerNode}/${sliceName}`, claimPath, slicePath, claimed, set.stat!.version, id);
    } catch (e) {
      // Only this very claim is ours to take back (after a release, or a renewal, it may be another's).
      await removeIfOurs(zk, claimPath, slicePath, id, e instanceof MultiError ? undefined : sliceVersion);
      throw e;
    }
  }

  /** Throws FencedError unless this worker may still act on the slice. Call before every write. */
  assertHeld(): void {
    const lost = this.problem();
    if (lost) throw lost;
  }

  /**
   * Writes the work node, only if this claim still exists and nobody else wrote the node since.
   * Throws FencedError otherwise (and then this claim is dead: the caller must drop the slice).
   */
  async checkpoint(update: (node: WorkNode) => WorkNode): Promise<WorkNode> {
    this.assertHeld();
    const next = update(structuredClone(this.node));
    try {
      const [, set] = await this.zk.multi([
        { op: 'check', path: this.claimPath, version: 0 },
        { op: 'set', path: this.slicePath, data: encodeJson(next), version: this.version },
      ]);
      this.node = next;
      this.version = set.stat!.version;
      return next;
    } catch (e) {
      if (e instanceof MultiError && (isNoNode({ code: e.code }) || isBadVersion({ code: e.code }))) {
        throw this.lose(`lost the claim on ${this.slicePath}: ${e.op.op === 'check' ? 'the claim node is gone' : 'another worker wrote the work node'}`);
      }
      throw e;
    }
  }

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
    if (await this.removeClaim()) return;
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
