/**
 * Finds the next slice and claims it: a queue, not a scan. The queue holds only unfinished slices,
 * spread over buckets; a claim is one listing of a random bucket, one read of a random free slice in
 * it and one multi (claim + work node), whatever the number of customers or slices. Buckets seen
 * without free slices are skipped until the process's list of buckets runs out and is read again.
 *
 * Fencing is the claim's (claim.ts): the multi that claims is the one that bumps the work node.
 */
import type { SliceAddress } from '../coordination/layout';
import { SliceClaim } from '../coordination/claim';
import { MigrationStore } from '../coordination/migration';
import { metrics } from '../metrics';

export interface ScanResult {
  claim: SliceClaim | null;
  /** Unfinished slices that other workers (or other lanes) hold, or a plan not written yet. */
  othersHold: boolean;
  /** Gave up after losing several races: free slices may remain, ask again at once. */
  more?: boolean;
}

/** Races lost per call before the lane is told to ask again (it may check whether it should stop). */
const LOST_RACES = 8;

export class Scheduler {
  /** Buckets of the queue this process has not yet found without free slices. */
  private buckets: string[] = [];
  private planned = false;
  /** Slices a lane of this process is claiming or holding (reserved before the first await). */
  readonly mine = new Set<string>();

  constructor(private readonly store: MigrationStore, private readonly workerId: string, private readonly migration: string) {}

  /**
   * Forget what was learned about the queue: the next call reads the plan node and the bucket list
   * again (new work, a re-plan; and a plan node turned corrupt is met there, not missed).
   */
  refresh(): void {
    this.buckets = [];
    this.planned = false;
  }

  async next(stopping: () => boolean): Promise<ScanResult> {
    // Workers take no slice before the plan is complete (its node is written last): a planner that died
    // half-way leaves slices the next one clears, and no worker has touched them.
    if (!this.planned) this.planned = (await this.store.readPlan()) !== null;
    if (!this.planned) return { claim: null, othersHold: true };
    let othersHold = false;
    let listed = false;
    let lost = 0;
    while (!stopping()) {
      if (this.buckets.length === 0) {
        if (listed) break; // every bucket of a fresh listing was full or empty
        this.buckets = await this.store.queueBuckets();
        listed = true;
        if (this.buckets.length === 0) break;
      }
      const bi = Math.floor(Math.random() * this.buckets.length);
      const bucket = this.buckets[bi];
      const { entries, claimed } = await this.store.queueEntries(bucket);
      const free = entries.filter((n) => !claimed.has(n) && !this.mine.has(n));
      if (free.length === 0) {
        this.buckets.splice(bi, 1);
        if (entries.length > 0) othersHold = true;
        else if (claimed.size === 0) void this.dropEmptyBucket(bucket);
        continue;
      }
      const address: SliceAddress = { bucket, name: free[Math.floor(Math.random() * free.length)] };
      // Reserved with no await between the check and the add: two lanes of this process never try the
      // same slice (the loser's cleanup would drop the winner's reservation).
      this.mine.add(address.name);
      let claim: SliceClaim | null = null;
      try {
        const current = await this.store.readSlice(address);
        if (!current) continue; // queued without a work node: only a hand-edited tree; validateAll names it
        claim = await SliceClaim.take(this.store.zk, this.store.layout, address, this.workerId, current);
      } finally {
        if (!claim) this.mine.delete(address.name);
      }
      if (claim) {
        metrics.claimsTaken.inc({ migration: this.migration });
        metrics.claimRetries.observe({ migration: this.migration }, lost);
        return { claim, othersHold };
      }
      // Another worker was first (or the slice was finished or released since the read).
      othersHold = true;
      if (++lost >= LOST_RACES) return { claim: null, othersHold, more: true };
    }
    return { claim: null, othersHold };
  }

  /** A bucket with no slice left goes, so the list of buckets shrinks as the copy ends (NOT_EMPTY: someone added one). */
  private async dropEmptyBucket(bucket: string): Promise<void> {
    await this.store.zk.remove(this.store.layout.queueBucket(bucket), -1).catch(() => undefined);
  }
}
