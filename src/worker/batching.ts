/** Bounded batches, free of I/O: the worker's memory stays flat whatever the document sizes. */
import type { SourceDoc } from '../backends/types';
import { chunked } from '../util';

/** Splits a page into write batches of at most maxDocs documents and maxBytes bytes (a lone larger document goes alone). */
export function splitByBytes(docs: SourceDoc[], maxDocs: number, maxBytes: number): SourceDoc[][] {
  return chunked(docs, maxDocs, maxBytes, (d) => d.bytes);
}

/**
 * Rows to ask for in the next page, so that a page stays near maxBytes: large documents shrink the
 * page, small ones let it grow back up to maxDocs.
 */
export function nextPageRows(page: SourceDoc[], maxDocs: number, maxBytes: number): number {
  if (page.length === 0) return maxDocs;
  const avg = page.reduce((s, d) => s + d.bytes, 0) / page.length;
  return Math.max(1, Math.min(maxDocs, Math.floor(maxBytes / Math.max(1, avg))));
}

/**
 * The largest answer a page read may give, from batch.bytes: pages aim at batch.bytes (nextPageRows),
 * this only catches the page whose documents turned out much bigger than the ones before.
 */
export const PAGE_CAP_FACTOR = 1.5;
export function pageByteCap(maxBytes: number): number {
  return Math.floor(PAGE_CAP_FACTOR * maxBytes);
}

/**
 * Rows to read a page again with, after it was too big to read (over the cap, or more than the
 * process could hold): half, down to one. Null: one row was already too big.
 */
export function fewerRows(rows: number): number | null {
  return rows > 1 ? Math.floor(rows / 2) : null;
}

/**
 * How a reader pages a slice within batch.bytes: starts small (or at what the slice taught before),
 * follows the sizes seen, and reads fewer rows when a page is too big. A single row is read without
 * a cap: one document is read whole, however big (it is then copied alone).
 */
export class PageSizer {
  rows: number;
  /** Average bytes of a document of the last page seen (0: none seen yet). */
  private avgBytes = 0;
  constructor(private readonly maxDocs: number, private readonly maxBytes: number, start = 100) {
    this.rows = Math.max(1, Math.min(start, maxDocs));
  }

  /** The byte cap of the next read (none for a single row). */
  get cap(): number | undefined {
    return this.rows > 1 ? pageByteCap(this.maxBytes) : undefined;
  }

  /** The next read follows the sizes seen, growing at most twofold a page (sizes come in runs: don't bet on the small ones). */
  seen(page: SourceDoc[]): void {
    if (page.length) this.avgBytes = page.reduce((n, d) => n + d.bytes, 0) / page.length;
    this.rows = Math.min(nextPageRows(page, this.maxDocs, this.maxBytes), Math.max(2, this.rows * 2));
  }

  /**
   * What the next page is expected to weigh: its rows at the sizes last seen, no more than the cap
   * (a single row: the last document's size; unknown before any page: the cap).
   */
  get expectedBytes(): number {
    const cap = pageByteCap(this.maxBytes);
    if (this.avgBytes === 0) return cap;
    const bytes = Math.ceil(this.rows * this.avgBytes);
    return this.rows > 1 ? Math.min(cap, bytes) : bytes;
  }

  /** After a read that failed for its size: true if there is a smaller read to try. */
  shrink(): boolean {
    const next = fewerRows(this.rows);
    if (next === null) return false;
    this.rows = next;
    return true;
  }
}

/**
 * The bytes of pages a worker process holds across its lanes, against a limit: a lane always holds
 * the page it writes (take), but reads the next one ahead only if that page is expected to fit
 * (tryTake). Counted in the documents' JSON bytes (SourceDoc.bytes), as batch.bytes is.
 */
export class PageBudget {
  private used = 0;
  constructor(readonly limit: number) {}

  get held(): number {
    return this.used;
  }

  /** Takes n bytes if they fit under the limit; false (nothing taken) otherwise. */
  tryTake(n: number): boolean {
    if (this.used + n > this.limit) return false;
    this.used += n;
    return true;
  }

  /** Takes n bytes whatever the limit (a page already read: it is held anyway). */
  take(n: number): void {
    this.used += n;
  }

  give(n: number): void {
    this.used = Math.max(0, this.used - n);
  }
}

/**
 * Pages written whose tail — the look for live deletes and the checkpoint — has not started: a lane
 * lets a few join before their tail runs (for at most worker.checkpointEvery), so the look at the source and the ZooKeeper write are one
 * request each for several pages (a real-time get of 4,000 ids costs about what one of 500 does: the
 * request, not the ids, is the cost). A crash before the group's checkpoint resumes at the one before,
 * as a crash between a write and its checkpoint always did (the pages are written again, create-only).
 */
export const TAIL_GROUP = {
  /** Pages at most in one tail. */
  pages: 16,
  /** Of the lane's share of the page budget, what waiting pages may hold (the rest: the page written, one read ahead). */
  share: 0.5,
};

export interface TailGroupState {
  /** Pages waiting, and their bytes (held in the budget). */
  pages: number;
  bytes: number;
  /** Milliseconds since the first of them was written, and how long they may wait (worker.checkpointEvery). */
  ageMs: number;
  everyMs: number;
  /** The lane's share of the budget: the budget over worker.slicesInFlight. */
  laneShare: number;
}

/**
 * True when a group of pages written should have its tail start now (the slice's last page, in place
 * and a lane with no page read ahead do not wait for this: their pages go one step after the other).
 */
export function tailDue(g: TailGroupState): boolean {
  return g.pages >= TAIL_GROUP.pages || g.ageMs >= g.everyMs || g.bytes > g.laneShare * TAIL_GROUP.share;
}
