/** The persistent work node of one slice, and the plan node of one customer: their shapes and checks. */
import type { z } from 'zod';
import { planNodeSchema, workNodeSchema } from './nodes';

/** A slice's time range on the timestamp field, half-open [from, to); null = unbounded on that side. */
export interface TimeRange {
  from: number | null;
  to: number | null;
}

/** Which documents of a customer a slice holds: a time range, or the documents with no timestamp. */
export type SliceBounds = ({ kind: 'range' } & TimeRange) | { kind: 'no-timestamp' } | { kind: 'all' };

export type SliceStatus = 'todo' | 'done' | 'failed';

export interface SliceCounts {
  /** Documents read from the source. */
  read: number;
  /** Documents created in the target. */
  written: number;
  /** Documents the target already had (a live write won, or a re-copy after a crash). */
  skipped: number;
  /** Documents the target refused for themselves (bad field, too large). */
  rejected: number;
}

export interface Rejection {
  id: string;
  reason: string;
}

export interface WorkNode {
  /** The customer value (null: documents with no customer). */
  customer: string | null;
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
  customer: string | null;
  slices: number;
  estimate: number;
  minTimestamp: number | null;
  maxTimestamp: number | null;
  noTimestamp: number;
  retentionFrom: number | null;
  plannedAt: number;
  plannedBy: string;
  specHash: string;
  /** Slice estimates: documents in all, smallest, median, largest slice. */
  summary: { docs: number; min: number; median: number; max: number };
}

export function emptyCounts(): SliceCounts {
  return { read: 0, written: 0, skipped: 0, rejected: 0 };
}

export function newWorkNode(customer: string | null, index: number, bounds: SliceBounds, estimate: number): WorkNode {
  return {
    customer, index, bounds, estimate,
    status: 'todo', cursor: null, counts: emptyCounts(),
    attempts: 0, failures: 0, lastError: null, rejections: [], owner: null,
    progressAt: null, startedAt: null, finishedAt: null,
  };
}

/** Null when the value is a well-formed work node, else what is wrong with it (the schema of nodes.ts). */
export function workNodeProblem(v: any): string | null {
  return schemaProblem(workNodeSchema, v);
}

export function planNodeProblem(v: any): string | null {
  return schemaProblem(planNodeSchema, v);
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
