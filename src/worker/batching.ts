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
