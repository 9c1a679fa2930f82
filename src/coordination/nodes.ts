/**
 * The one validating reader of the migration's ZooKeeper nodes: a schema per node kind, and one
 * error for a node that does not fit it (which path, what is wrong, what to do). Every read of a
 * spec, plan, work node, claim, worker, cutover, verification or target-preparation node decodes here,
 * so a corrupt node is refused the same way by every command, before anything is written.
 *
 * The schemas check what the code relies on and keep whatever else a node holds (passthrough): a
 * newer bluegreen may add fields, and a decode → change → encode must not drop them.
 */
import { z } from 'zod';
import { UserError } from '../errors';
import { LIFECYCLE_STATES } from '../lifecycle/machine';

/** A node that cannot be decoded. Exit 2; `changed` says what this process had done before it met it. */
export class CorruptNodeError extends UserError {
  constructor(readonly path: string, readonly problem: string, readonly kind: NodeKind, readonly changed = 'bluegreen changed nothing.') {
    super(`The ZooKeeper node ${path} is corrupt (${KIND_LABEL[kind]}): ${problem}.`, `Inspect it (zkCli.sh get ${path}); ${repair(kind, path)} ${changed}`);
    this.name = 'CorruptNodeError';
  }

  /** The same error, saying truthfully what was changed before it was met. */
  withChanges(changed: string): CorruptNodeError {
    return new CorruptNodeError(this.path, this.problem, this.kind, changed);
  }
}

/** What an operator can do about a corrupt node of this kind. */
function repair(kind: NodeKind, path: string): string {
  const base = /^(.*)\/(?:slices|customers|summary|plan)(?:\/|$)/.exec(path)?.[1];
  const run = /^(.*\/verify\/[^/]+)/.exec(path)?.[1];
  switch (kind) {
    case 'slice':
    case 'plan':
    case 'customerIndex':
    case 'summary':
      return `restore it from a backup (zkCli.sh set), or plan again: delete the plan (zkCli.sh deleteall ${base ?? '<migration>'}/plan, then /slices, /queue, /summary, /customers) and run \`bluegreen plan\` (documents already copied are skipped, never overwritten).`;
    case 'claim':
    case 'planning':
    case 'worker':
      return 'if no live process holds it (its session is gone), delete it (zkCli.sh delete); it is re-created by the next claim or registration.';
    case 'verifyRun':
    case 'verifyResult':
    case 'verifyClaim':
    case 'verifyTally':
      return `delete that verification run (zkCli.sh deleteall ${run ?? '<run node>'}) and run \`bluegreen verify-integrity --new\`.`;
    case 'spec':
      return 'restore it from a backup (zkCli.sh set), or plan the migration again under a new name.';
    case 'cutover':
      return 'restore it from a backup (zkCli.sh set) with "read" set to where reads go now; the read router keeps its last good state meanwhile.';
    case 'lifecycle':
      return 'restore it from a backup (zkCli.sh set), or delete it and run `bluegreen plan` again (it re-records the state as planning, then planned).';
    case 'checked':
      return 'delete it (zkCli.sh delete): the next worker reads every unfinished work node again and records it anew.';
    case 'optimized':
      return 'delete it (zkCli.sh delete): the next worker that sees the copy finished optimizes the target again.';
    case 'planner':
      return 'if no live planner holds it (its session is gone), delete it (zkCli.sh delete).';
    case 'dualWrite':
      return 'delete it (zkCli.sh delete) after checking the document by hand on both clusters: the record only says which id a dual write may have left unequal.';
    case 'target':
      return 'restore it from a backup (zkCli.sh set); check the target index\'s refresh_interval and number_of_replicas by hand.';
  }
}

const int = (min = 0) => z.number().int().min(min);
const finite = z.number().finite();
const stamp = z.number().int().nonnegative();
const nullableStamp = stamp.nullable();
const time = finite.nullable();

const bounds = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('range'), from: time, to: time }).passthrough(),
  z.object({ kind: z.literal('no-timestamp') }).passthrough(),
  z.object({ kind: z.literal('all') }).passthrough(),
]);

const counts = z.object({ read: int(), written: int(), skipped: int(), rejected: int() }).passthrough();

export const workNodeSchema = z.object({
  customers: z.array(z.string().nullable()).min(1),
  index: int(),
  bounds,
  estimate: finite.nonnegative(),
  status: z.enum(['todo', 'done', 'failed']),
  cursor: z.string().nullable(),
  counts,
  attempts: int(),
  stalls: int().optional(),
  failures: int(),
  lastError: z.string().nullable(),
  rejections: z.array(z.object({ id: z.string(), reason: z.string() }).passthrough()),
  owner: z.string().nullable(),
  pageRows: int(1).optional(),
  progressAt: nullableStamp,
  startedAt: nullableStamp,
  finishedAt: nullableStamp,
}).passthrough();

export const planNodeSchema = z.object({
  generation: int(1),
  customers: int(),
  slices: int(),
  buckets: int(1).max(4096),
  customerBuckets: int(1).max(4096),
  estimate: finite.nonnegative(),
  plannedAt: stamp,
  plannedBy: z.string(),
  specHash: z.string().min(1),
  summary: z.object({ docs: finite, min: finite, median: finite, max: finite }).passthrough(),
  top: z.array(z.string().nullable()),
}).passthrough();

const customerEntry = z.object({
  first: int(), count: int(), docs: int(), noTimestamp: int(), minTimestamp: time, maxTimestamp: time, retentionFrom: time,
}).passthrough();

export const customerIndexSchema = z.object({ customers: z.record(customerEntry) }).passthrough();

export const summarySchema = z.object({ done: int(), failed: z.array(int()), counts, lastFinishedAt: nullableStamp.optional() }).passthrough();

export const specNodeSchema = z.object({
  hash: z.string().min(1),
  spec: z.object({ migration: z.string() }).passthrough(),
  createdAt: stamp,
  createdBy: z.string(),
}).passthrough();

export const claimSchema = z.object({ worker: z.string().min(1), session: z.string(), since: stamp }).passthrough();

export const planningSchema = z.object({ by: z.string(), since: stamp }).passthrough();

export const workerSchema = z.object({
  id: z.string().min(1), host: z.string(), pid: int(), updatedAt: stamp,
  copied: finite.nonnegative(), docsPerSecond: finite.nonnegative(), slices: z.array(z.string()),
}).passthrough();

const side = z.enum(['legacy', 'new']);
const cutoverRecord = z.object({
  to: side, customer: z.string().nullable(), by: z.string(), at: stamp, verification: z.string().nullable(), forced: z.string().optional(),
}).passthrough();

export const cutoverSchema = z.object({
  read: side,
  customers: z.record(side),
  updatedAt: stamp,
  pending: cutoverRecord.optional(),
  history: z.array(cutoverRecord),
}).passthrough();

/**
 * An id whose dual write reached one side only (dualwrite/): `truth` is the side written first, which
 * holds the document as the application last wrote it; `behind` may lack that write.
 */
export const dualWriteSchema = z.object({
  id: z.string().min(1),
  op: z.enum(['index', 'delete']),
  customer: z.string().nullable(),
  routing: z.string().optional(),
  truth: side,
  behind: side,
  at: stamp,
  by: z.string(),
  error: z.string(),
}).passthrough().superRefine((r, ctx) => {
  if (r.truth === r.behind) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['behind'], message: 'the same side as truth' });
});

const bulkSettings = z.object({ refresh_interval: z.string().nullable(), number_of_replicas: z.string().nullable() }).passthrough();
const PREP_STATES = ['creating', 'created', 'tuning', 'tuned', 'restoring', 'restored'] as const;

export const prepRecordSchema = z.object({
  index: z.string().min(1),
  state: z.enum(PREP_STATES),
  createdIndex: z.boolean(),
  tuneForBulk: z.boolean(),
  original: z.record(bulkSettings).nullable(),
  steps: z.array(z.object({ state: z.enum(PREP_STATES), at: stamp, by: z.string() }).passthrough()),
}).passthrough().superRefine((r, ctx) => {
  if (['tuning', 'tuned', 'restoring'].includes(r.state) && !r.original) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['original'], message: `state ${r.state} without the saved original settings` });
  }
});

const totals = z.object({
  slices: int(), clean: int(), missing: int(), extra: int(), different: int(), unstable: int(), repaired: int(),
}).passthrough();

export const verifyRunSchema = z.object({
  id: z.string().min(1),
  startedAt: stamp,
  startedBy: z.string(),
  scope: z.union([z.literal('all'), z.object({ failedOf: z.string() }).passthrough()]),
  repair: z.boolean(),
  status: z.enum(['running', 'passed', 'failed']),
  finishedAt: stamp.optional(),
  totals: totals.optional(),
}).passthrough();

const perCustomerDiff = z.object({ missing: int(), extra: int(), different: int(), ids: z.array(z.string()) }).passthrough();

export const verifyResultSchema = z.object({
  customers: z.array(z.string().nullable()),
  byCustomer: z.record(perCustomerDiff).optional(),
  index: int(),
  bounds,
  sourceCount: int(), targetCount: int(), missingCount: int(), extraCount: int(), differentCount: int(),
  unstableCount: int(), resolvedInFlight: int(),
  missing: z.array(z.string()), extra: z.array(z.string()), different: z.array(z.string()),
  clean: z.boolean(),
  runStartedAt: stamp,
  checkedAt: stamp,
  by: z.string(),
}).passthrough();

export const verifyClaimSchema = planningSchema;

const lifecycleState = z.enum(LIFECYCLE_STATES);
export const lifecycleSchema = z.object({
  state: lifecycleState,
  generation: int(1),
  since: stamp,
  planned: z.object({ customers: int(), slices: int(), at: stamp }).passthrough().optional(),
  verification: z.object({ run: z.string(), startedAt: stamp, passedAt: stamp }).passthrough().optional(),
  cancelled: z.object({ reason: z.string(), at: stamp, by: z.string() }).passthrough().optional(),
  planStartedAt: stamp.optional(),
  history: z.array(z.object({ from: lifecycleState.nullable(), to: lifecycleState, event: z.string(), at: stamp, by: z.string() }).passthrough()),
}).passthrough();

export const NODE_SCHEMAS = {
  spec: specNodeSchema,
  plan: planNodeSchema,
  slice: workNodeSchema,
  claim: claimSchema,
  planning: planningSchema,
  worker: workerSchema,
  cutover: cutoverSchema,
  target: prepRecordSchema,
  verifyRun: verifyRunSchema,
  verifyResult: verifyResultSchema,
  verifyClaim: verifyClaimSchema,
  verifyTally: z.object({ checked: z.array(int()), clean: int(), sourceDocs: int(), targetDocs: int(), oldestCheckAt: nullableStamp, finished: z.boolean() }).passthrough(),
  lifecycle: lifecycleSchema,
  planner: planningSchema,
  customerIndex: customerIndexSchema,
  summary: summarySchema,
  checked: z.object({ generation: int(1), by: z.string(), at: stamp, slices: int() }).passthrough(),
  dualWrite: dualWriteSchema,
  optimized: z.object({ mode: z.enum(['expunge-deletes', 'force-merge']), by: z.string(), at: stamp, ms: int(), segmentsBefore: int().nullable(), segmentsAfter: int().nullable(), deletedBefore: int().nullable(), deletedAfter: int().nullable() }).passthrough(),
} as const;

export type NodeKind = keyof typeof NODE_SCHEMAS;

const KIND_LABEL: Record<NodeKind, string> = {
  spec: 'the migration\'s spec node',
  plan: 'the plan node',
  slice: 'a work node',
  claim: 'a slice claim',
  planning: 'a planning barrier',
  worker: 'a worker registration',
  cutover: 'the cutover node',
  target: 'the target preparation record',
  verifyRun: 'a verification run',
  verifyResult: 'a slice verification result',
  verifyClaim: 'a verification claim',
  verifyTally: 'a verification tally',
  lifecycle: 'the lifecycle node',
  planner: 'a planner registration',
  customerIndex: 'a bucket of the customer index',
  summary: 'a bucket summary of finished slices',
  checked: 'the record of the plan\'s work nodes checked',
  optimized: 'the record of the target\'s optimization',
  dualWrite: 'a dual-write record (an id written to one side only)',
};

/** The node kind a path of the layout holds (for readers that name a path, not a kind), else null. */
export function nodeKindOf(path: string): NodeKind | null {
  if (/\/dualwrite\/[^/]+\/[^/]+$/.test(path)) return 'dualWrite';
  if (/\/verify\/[^/]+\/results\/[^/]+$/.test(path)) return 'verifyResult';
  if (/\/verify\/[^/]+\/queue\/[^/]+\/[^/]+~claim$/.test(path)) return 'verifyClaim';
  if (/\/verify\/[^/]+\/tally\/[^/]+$/.test(path)) return 'verifyTally';
  if (/\/verify\/[^/]+$/.test(path)) return 'verifyRun';
  if (/\/slices\/[^/]+\/[^/]+$/.test(path)) return 'slice';
  if (/\/queue\/[^/]+\/[^/]+~claim$/.test(path)) return 'claim';
  if (/\/customers\/[^/]+$/.test(path)) return 'customerIndex';
  if (/\/summary\/[^/]+$/.test(path)) return 'summary';
  if (/\/plan$/.test(path)) return 'plan';
  if (/\/planning$/.test(path)) return 'planning';
  if (/\/workers\/[^/]+$/.test(path)) return 'worker';
  if (/\/spec$/.test(path)) return 'spec';
  if (/\/cutover$/.test(path)) return 'cutover';
  if (/\/target$/.test(path)) return 'target';
  if (/\/lifecycle$/.test(path)) return 'lifecycle';
  if (/\/planners\/[^/]+$/.test(path)) return 'planner';
  if (/\/checked$/.test(path)) return 'checked';
  if (/\/optimized$/.test(path)) return 'optimized';
  return null;
}

function describeIssue(issue: z.ZodIssue, value: unknown): string {
  const where = issue.path.length ? issue.path.join('.') : '';
  let at: any = value;
  for (const k of issue.path) at = at?.[k];
  const shown = at === undefined ? 'missing' : JSON.stringify(at)?.slice(0, 80) ?? String(at);
  if (!where) {
    if (issue.code === z.ZodIssueCode.invalid_type) return value === null ? 'it holds null, not an object' : `it holds ${Array.isArray(value) ? 'a list' : `a ${typeof value}`} (${shown}), not an object`;
    return issue.message;
  }
  if (issue.code === z.ZodIssueCode.invalid_type && issue.received === 'undefined') return `${where} is missing`;
  return `${where} is ${shown}: ${issue.message}`;
}

/** Decodes one node as `kind`, or throws CorruptNodeError naming the path and every problem (the first few). */
export function decodeNode<K extends NodeKind>(kind: K, data: Buffer, path: string): z.output<(typeof NODE_SCHEMAS)[K]> {
  let value: unknown;
  const text = data.toString('utf8');
  if (!text.trim()) throw new CorruptNodeError(path, 'it is empty, not JSON', kind);
  try {
    value = JSON.parse(text);
  } catch {
    throw new CorruptNodeError(path, `it does not hold JSON (starts with ${JSON.stringify(text.slice(0, 40))})`, kind);
  }
  const result = NODE_SCHEMAS[kind].safeParse(value);
  if (result.success) return result.data as any;
  // What is there but wrong first (it tells most), then what is missing, by name.
  const issues = result.error.issues;
  const isMissing = (i: z.ZodIssue) => i.path.length > 0 && i.code === z.ZodIssueCode.invalid_type && i.received === 'undefined';
  const wrong = issues.filter((i) => !isMissing(i));
  const missing = issues.filter(isMissing).map((i) => i.path.join('.'));
  const problems = wrong.slice(0, 3).map((i) => describeIssue(i, value));
  if (wrong.length > 3) problems.push(`${wrong.length - 3} more wrong value(s)`);
  if (missing.length) problems.push(`missing: ${missing.slice(0, 8).join(', ')}${missing.length > 8 ? `, and ${missing.length - 8} more` : ''}`);
  throw new CorruptNodeError(path, problems.join('; '), kind);
}
