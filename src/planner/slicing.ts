/**
 * Slicing arithmetic, free of I/O: cut one customer's documents into time slices of about the same
 * number of documents. A busy stretch gets narrow slices, a quiet one wide slices (seed 001).
 *
 * Coverage is the invariant: the range slices, taken in order, tile (-inf, +inf) with no gap and no
 * overlap, and one more slice holds the documents with no timestamp. So every document of the customer
 * is in exactly one slice, whatever its timestamp (older than retention, in the future, or none).
 */
import type { SliceBounds } from '../coordination/workNode';

import type { Bucket, CustomerShape } from '../backends/types';

export type { Bucket, CustomerShape };

/** Counts of documents in `buckets` equal-width buckets over [from, to). */
export type Histogram = (from: number, to: number, buckets: number) => Promise<Bucket[]>;

export interface PlannedSlice {
  bounds: SliceBounds;
  estimate: number;
}

export interface SlicingOptions {
  targetDocs: number;
  minWidthMs: number;
  /** Most sub-buckets asked for when refining one bucket. */
  fanout: number;
}

/** Splits every bucket that holds more than the target into finer buckets, as far as minWidth allows. */
export async function refineBuckets(buckets: Bucket[], histogram: Histogram, opts: SlicingOptions, depth = 0): Promise<Bucket[]> {
  const out: Bucket[] = [];
  for (const b of buckets) {
    const width = b.to - b.from;
    const maxParts = Math.floor(width / opts.minWidthMs);
    if (b.count <= opts.targetDocs || maxParts < 2 || depth > 12) {
      out.push(b);
      continue;
    }
    const parts = Math.min(opts.fanout, maxParts, Math.max(2, Math.ceil((b.count / opts.targetDocs) * 4)));
    const sub = await histogram(b.from, b.to, parts);
    assertTiles(sub, b.from, b.to);
    out.push(...(await refineBuckets(sub, histogram, opts, depth + 1)));
  }
  return out;
}

/** Greedy packing: contiguous buckets are joined until one more would push the slice past the target. */
export function packBuckets(buckets: Bucket[], targetDocs: number): Bucket[] {
  const slices: Bucket[] = [];
  let current: Bucket | null = null;
  for (const b of buckets) {
    if (current && current.count > 0 && current.count + b.count > targetDocs) {
      slices.push(current);
      current = null;
    }
    current = current ? { from: current.from, to: b.to, count: current.count + b.count } : { ...b };
  }
  if (current) slices.push(current);
  return slices;
}

/**
 * The complete slice list of one customer: range slices that tile (-inf, +inf), then the
 * no-timestamp slice. `buckets` must tile some window [start, end); counts outside it belong to the
 * open-ended first and last slices.
 */
export function toSlices(packed: Bucket[], noTimestamp: number): PlannedSlice[] {
  const ranges: PlannedSlice[] = packed.map((b, i) => ({
    bounds: { kind: 'range', from: i === 0 ? null : b.from, to: i === packed.length - 1 ? null : b.to },
    estimate: b.count,
  }));
  if (ranges.length === 0) ranges.push({ bounds: { kind: 'range', from: null, to: null }, estimate: 0 });
  ranges.push({ bounds: { kind: 'no-timestamp' }, estimate: noTimestamp });
  return ranges;
}

/** Equal-width buckets over [from, to): the layout asked of the server first. */
export function bucketEdges(from: number, to: number, buckets: number, minWidthMs: number): { gap: number; count: number } {
  const span = Math.max(1, to - from);
  const gap = Math.max(minWidthMs, Math.ceil(span / buckets));
  return { gap, count: Math.ceil(span / gap) };
}

export function assertTiles(buckets: Bucket[], from: number, to: number): void {
  if (buckets.length === 0) throw new Error(`histogram over [${from}, ${to}) returned no buckets`);
  if (buckets[0].from !== from || buckets[buckets.length - 1].to !== to) {
    throw new Error(`histogram buckets do not cover [${from}, ${to}): got [${buckets[0].from}, ${buckets[buckets.length - 1].to})`);
  }
  for (let i = 1; i < buckets.length; i++) {
    if (buckets[i].from !== buckets[i - 1].to) throw new Error(`histogram buckets ${i - 1} and ${i} do not meet`);
  }
}


/**
 * Plans one customer. With a retention start inside the data, the window before it is one bucket
 * (refined like any other if it is large), so slice edges line up with the retention boundary.
 */
export async function planCustomer(shape: CustomerShape, retentionFrom: number | null, histogram: Histogram,
  opts: SlicingOptions & { initialBuckets: number }): Promise<PlannedSlice[]> {
  if (shape.minTs === null || shape.maxTs === null || shape.total - shape.noTimestamp <= 0) {
    return toSlices([], shape.noTimestamp);
  }
  const end = shape.maxTs + 1;
  const windowStart = retentionFrom !== null && retentionFrom > shape.minTs && retentionFrom < end ? retentionFrom : shape.minTs;
  // Packed apart, so no slice straddles the retention boundary.
  const old: Bucket[] = [];
  if (windowStart > shape.minTs) {
    const [all] = await histogram(shape.minTs, windowStart, 1);
    old.push(...(await refineBuckets([{ from: shape.minTs, to: windowStart, count: all.count }], histogram, opts)));
  }
  const { gap, count } = bucketEdges(windowStart, end, opts.initialBuckets, opts.minWidthMs);
  const window = await refineBuckets(await histogram(windowStart, windowStart + gap * count, count), histogram, opts);
  return toSlices([...packBuckets(old, opts.targetDocs), ...packBuckets(window, opts.targetDocs)], shape.noTimestamp);
}

export function summarize(estimates: number[]): { min: number; median: number; max: number; total: number } {
  if (estimates.length === 0) return { min: 0, median: 0, max: 0, total: 0 };
  const sorted = [...estimates].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 ? sorted[mid] : Math.round((sorted[mid - 1] + sorted[mid]) / 2);
  return { min: sorted[0], median, max: sorted[sorted.length - 1], total: sorted.reduce((a, b) => a + b, 0) };
}

/** True when timestamp t (or a missing one) falls in the slice: the same rule the backends turn into filters. */
export function inSlice(bounds: SliceBounds, t: number | null): boolean {
  if (bounds.kind === 'no-timestamp') return t === null;
  if (bounds.kind === 'all') return true;
  if (t === null) return false;
  return (bounds.from === null || t >= bounds.from) && (bounds.to === null || t < bounds.to);
}

export interface PackOptions {
  targetDocs: number;
  /** Most customers in one packed slice (its work node lists them). */
  maxCustomers: number;
  /** Most bytes of customer names in one packed slice (ZooKeeper node size). */
  maxNameBytes: number;
}

/**
 * Packs small customers (in the order given) into groups of about `targetDocs` documents: a group
 * closes when the next customer would push it past the target, or past the caps. A customer with
 * more than the target alone is a group of its own. Customers without documents are in no group.
 * Every customer with documents is in exactly one group, groups keep the order given.
 */
export function packCustomers<T extends { customer: string | null; total: number }>(customers: T[], opts: PackOptions): T[][] {
  const groups: T[][] = [];
  let pack: T[] = [];
  let docs = 0;
  let bytes = 0;
  for (const c of customers) {
    if (c.total <= 0) continue;
    const size = Buffer.byteLength(c.customer ?? '') + 8;
    if (pack.length && (docs + c.total > opts.targetDocs || pack.length >= opts.maxCustomers || bytes + size > opts.maxNameBytes)) {
      groups.push(pack);
      pack = [];
      docs = 0;
      bytes = 0;
    }
    pack.push(c);
    docs += c.total;
    bytes += size;
  }
  if (pack.length) groups.push(pack);
  return groups;
}
