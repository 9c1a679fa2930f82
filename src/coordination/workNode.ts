/**
 * The persistent work node of one slice, the plan node, the per-bucket summary of finished slices and
 * the customer index: their shapes and checks.
 */
import type { z } from 'zod';
import { workNodeSchema } from './nodes';

/** A slice's time range on the timestamp field, half-open [from, to); null = unbounded on that side. */
export interface TimeRange {
  from: number | null;
  to: number | null;
}

/**
 * Which documents of its customers a slice holds: a time range, the documents with no timestamp, or
 * all of them (small customers packed together: their whole data, timestamp or not).
 */
export type SliceBounds = ({ kind: 'range' } & TimeRange) | { kind: 'no-timestamp' } | { kind: 'all' };

export type SliceStatus = 'todo' | 'done' | 'failed';

export interface SliceCounts {
  /** Documents read from the source. */
  read: number;
  /** Documents created in the target. */
  written: number;
  /** Documents the target already had (a live write won, or a re-copy after a crash). */
  skipped: number;
  /** Documents refused for themselves: by the target (bad field, too large) or by the transform. */
  rejected: number;
  /** Of `rejected`: those the transform refused (it threw, or broke a rule): dead letters. Absent: 0. */
  transformRejected?: number;
  /** copy.mode in-place: conditional writes refused because a live write landed (the document re-read). Absent: 0. */
  conflicts?: number;
}

export interface Rejection {
  id: string;
  reason: string;
  /** 'transform': the transform refused the document (a dead letter); absent: the target refused it. */
  by?: 'transform';
}

export interface WorkNode {
  /**
   * The customers whose documents the slice holds (null: documents with no customer): one for a slice
   * of a big customer cut by time, several for small customers packed together.
   */
  customers: Array<string | null>;
  /** The slice's number across the migration (its node name). */
  index: number;
  bounds: SliceBounds;
  estimate: number;
  status: SliceStatus;
  /** Where the copy stands; null = not started. Only ever moves forward (fenced writes). */
  cursor: string | null;
  counts: SliceCounts;
  /** Claims taken on this slice so far (each claim that did work is one attempt). */
  attempts: number;
  /**
   * Claims since the cursor last moved. A slice that kills its workers (out of memory on a huge page,
   * say) never records a failure; this counter still grows, and the worker gives up on it (worker.ts).
   */
  stalls?: number;
  /** Failed attempts since the cursor last moved; at spec.worker.maxAttempts the slice is marked failed. */
  failures: number;
  lastError: string | null;
  rejections: Rejection[];
  /** Who holds it now (informational; the claim node is the authority). */
  owner: string | null;
  /** Rows of the next page, as learned from document sizes (absent: start small). */
  pageRows?: number;
  /** Last time the cursor moved (ms since epoch): stuck-slice detection. */
  progressAt: number | null;
  startedAt: number | null;
  finishedAt: number | null;
}

export interface PlanNode {
  /** The plan generation (lifecycle) it was made in. */
  generation: number;
  customers: number;
  slices: number;
  /** Buckets of slices/, queue/ and summary/; of the customer index. */
  buckets: number;
  customerBuckets: number;
  estimate: number;
  plannedAt: number;
  plannedBy: string;
  specHash: string;
  /** Slice estimates: documents in all, smallest, median, largest slice. */
  summary: { docs: number; min: number; median: number; max: number };
  /** The biggest customers (by documents): the only ones with series of their own in metrics. */
  top: Array<string | null>;
}

/** One customer in the index: where its documents are and what planning saw. */
export interface CustomerEntry {
  /** Its slices: `first` and the `count` that follow (a customer's slices are numbered together). */
  first: number;
  count: number;
  docs: number;
  noTimestamp: number;
  minTimestamp: number | null;
  maxTimestamp: number | null;
  retentionFrom: number | null;
}

/** A bucket of the customer index (immutable once the plan is written). */
export interface CustomerIndexNode {
  customers: Record<string, CustomerEntry>;
}

/**
 * What the finished slices of one bucket did: written in the same multi that finishes a slice, so
 * status and the gauges read buckets, not work nodes. `failed` lists the failed slices' numbers.
 */
export interface SummaryNode {
  done: number;
  failed: number[];
  counts: SliceCounts;
  /** The latest finishedAt of its done slices (a verification must have started after it). */
  lastFinishedAt?: number | null;
  /** The first transform rejections of its finished slices (SUMMARY_TRANSFORM_REJECTIONS at most): what status shows. */
  transformRejections?: Rejection[];
}

/** Transform rejections a bucket summary keeps (their count is exact in counts.transformRejected). */
export const SUMMARY_TRANSFORM_REJECTIONS = 5;

/** a + sign·b, the optional counts (transformRejected, conflicts) kept only when not 0, so nodes of runs without a transform keep their shape. */
export function addCounts(a: SliceCounts, b: Partial<SliceCounts>, sign: 1 | -1 = 1): SliceCounts {
  const out: SliceCounts = { read: 0, written: 0, skipped: 0, rejected: 0 };
  for (const k of ['read', 'written', 'skipped', 'rejected', 'transformRejected', 'conflicts'] as const) {
    const v = (a[k] ?? 0) + sign * (b[k] ?? 0);
    if (v !== 0 || k === 'read' || k === 'written' || k === 'skipped' || k === 'rejected') out[k] = v;
  }
  return out;
}

/** The optional counts of a work node after a page: its transform rejections and in-place conflicts added (kept absent while 0). */
export function transformCounts(before: SliceCounts, rejected: Rejection[], conflicts = 0): Pick<SliceCounts, 'transformRejected' | 'conflicts'> {
  const t = (before.transformRejected ?? 0) + rejected.filter((r) => r.by === 'transform').length;
  const c = (before.conflicts ?? 0) + conflicts;
  return { ...(t ? { transformRejected: t } : {}), ...(c ? { conflicts: c } : {}) };
}

export function emptyCounts(): SliceCounts {
  return { read: 0, written: 0, skipped: 0, rejected: 0 };
}

export function emptySummary(): SummaryNode {
  return { done: 0, failed: [], counts: emptyCounts() };
}

export function newWorkNode(customers: Array<string | null>, index: number, bounds: SliceBounds, estimate: number): WorkNode {
  return {
    customers, index, bounds, estimate,
    status: 'todo', cursor: null, counts: emptyCounts(),
    attempts: 0, failures: 0, lastError: null, rejections: [], owner: null,
    progressAt: null, startedAt: null, finishedAt: null,
  };
}

/** Null when the value is a well-formed work node, else what is wrong with it (the schema of nodes.ts). */
export function workNodeProblem(v: any): string | null {
  return schemaProblem(workNodeSchema, v);
}


function schemaProblem(schema: z.ZodTypeAny, v: unknown): string | null {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return 'not an object';
  const r = schema.safeParse(v);
  if (r.success) return null;
  const i = r.error.issues[0];
  return `${i.path.join('.') || '(node)'}: ${i.message}`;
}

export function describeBounds(b: SliceBounds): string {
  if (b.kind === 'no-timestamp') return '(no timestamp)';
  if (b.kind === 'all') return '(all documents)';
  const f = (t: number | null, open: string) => (t === null ? open : new Date(t).toISOString());
  return `[${f(b.from, '-inf')}, ${f(b.to, '+inf')})`;
}

/** "acme", "acme + 41 more": a slice's customers in a log line or a table cell. */
export function describeCustomers(customers: Array<string | null>): string {
  const name = (c: string | null) => (c === null ? '(no customer)' : c === '' ? '(empty)' : c);
  if (customers.length === 0) return '(none)';
  return customers.length === 1 ? name(customers[0]) : `${name(customers[0])} + ${customers.length - 1} more`;
}
