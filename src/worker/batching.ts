/** Bounded batches, free of I/O: the worker's memory stays flat whatever the document sizes. */
import type { SourceDoc } from '../backends/types';

/** Splits a page into write batches of at most maxDocs documents and maxBytes bytes (a lone larger document goes alone). */
export function splitByBytes(docs: SourceDoc[], maxDocs: number, maxBytes: number): SourceDoc[][] {
  const batches: SourceDoc[][] = [];
  let current: SourceDoc[] = [];
  let bytes = 0;
  for (const d of docs) {
    if (current.length > 0 && (current.length >= maxDocs || bytes + d.bytes > maxBytes)) {
      batches.push(current);
      current = [];
      bytes = 0;
    }
    current.push(d);
    bytes += d.bytes;
  }
  if (current.length > 0) batches.push(current);
  return batches;
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
