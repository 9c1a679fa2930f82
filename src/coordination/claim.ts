/**
 * The claim on one slice: an ephemeral node that gives one worker the right to work it, and the
 * fenced checkpoint that is the only way a worker changes the slice's work node.
 *
 * Fencing: taking a claim bumps the work node's version (owner, attempts). Every later write is a
 * multi of "claim still exists" and "work node still at the version I last wrote". A worker that was
 * paused past its session and woke up after another worker took the slice fails both checks, so it
 * can never move the cursor (backwards or otherwise). And `assertHeld()` makes it stop writing
 * documents once its session is suspect, even before ZooKeeper tells it anything.
 */
import { FencedError } from '../errors';
import { sleep } from '../retry';
import { Layout } from './layout';
import type { WorkNode } from './workNode';
import { workNodeProblem } from './workNode';
import { CreateMode, MultiError, ZkSession, decodeJson, encodeJson, isBadVersion, isNoNode, isNodeExists } from './zk';

export interface ClaimInfo {
  worker: string;
  session: string;
  since: number;
}

export class SliceClaim {
  private released = false;
  /** The session epoch the claim was taken in: a renewed session means the ephemeral claim is gone. */
  private readonly epoch: number;

  private constructor(
    private readonly zk: ZkSession,
    /** "<customer node>/<slice name>": the slice's name across the migration. */
    readonly key: string,
    readonly claimPath: string,
    readonly slicePath: string,
    /** The work node as this claim last wrote it. */
    public node: WorkNode,
    private version: number,
  ) {
    this.epoch = zk.epoch;
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
    const epoch = zk.epoch;
    try {
      await zk.create(claimPath, encodeJson(info), CreateMode.EPHEMERAL);
    } catch (e) {
      if (isNodeExists(e)) return null;
      if (isNoNode(e)) await zk.mkdirp(layout.claims(customerNode)).then(() => zk.create(claimPath, encodeJson(info), CreateMode.EPHEMERAL));
      else throw e;
    }
    try {
      const { data, stat } = await zk.getData(slicePath);
      const node = decodeJson<WorkNode>(data, slicePath, workNodeProblem);
      if (node.status !== 'todo') {
        onFinished?.(node);
        if (zk.epoch === epoch) await zk.remove(claimPath).catch(() => undefined);
        return null;
      }
      // Taking the slice is itself a fenced write: it bumps the version any stale holder still has.
      const claimed: WorkNode = { ...node, owner: workerId, attempts: node.attempts + 1, stalls: (node.stalls ?? 0) + 1, startedAt: node.startedAt ?? Date.now() };
      const [, set] = await zk.multi([
        { op: 'check', path: claimPath, version: 0 },
        { op: 'set', path: slicePath, data: encodeJson(claimed), version: stat.version },
      ]);
      return new SliceClaim(zk, `${customerNode}/${sliceName}`, claimPath, slicePath, claimed, set.stat!.version);
    } catch (e) {
      // Only a claim of this very session is ours to take back (after a renewal it may be another's).
      if (zk.epoch === epoch) await zk.remove(claimPath).catch(() => undefined);
      throw e;
    }
  }

  /** Throws FencedError unless this worker may still act on the slice. Call before every write. */
  assertHeld(): void {
    if (this.released) throw new FencedError(`claim ${this.claimPath} was released`);
    if (this.zk.epoch !== this.epoch) {
      this.released = true;
      throw new FencedError(`the ZooKeeper session that held ${this.claimPath} expired`);
    }
    if (this.zk.suspect()) {
      throw new FencedError(`no answer from ZooKeeper for ${Date.now() - this.zk.lastContactAt} ms: the session may have expired, so the claim on ${this.claimPath} may be gone`);
    }
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
        this.released = true;
        throw new FencedError(`lost the claim on ${this.slicePath}: ${e.op.op === 'check' ? 'the claim node is gone' : 'another worker wrote the work node'}`);
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
    this.released = true;
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
  private async removeClaim(): Promise<boolean> {
    if (this.zk.epoch !== this.epoch) return true;
    try {
      await this.zk.multi([
        { op: 'check', path: this.slicePath, version: this.version },
        { op: 'remove', path: this.claimPath, version: 0 },
      ]);
      return true;
    } catch (e) {
      return e instanceof MultiError;
    }
  }
}
