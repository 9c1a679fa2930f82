/**
 * The lifecycle of a migration, as one pure state machine (Vitess' MoveTables: named, stored states;
 * every command is a transition). `transition(state, event)` gives the next state, or a refusal that
 * says which state the migration is in and what to do. No I/O here: the store (coordination/
 * migration.ts) keeps the state in ZooKeeper and applies events with a conditional write.
 *
 *   planning ──plan finished──▶ planned ──first claim──▶ copying ──every slice done──▶ copied
 *      ▲  (a re-plan goes back to planning; so does new work after the copy)             │
 *      │                                                        verification passed ─────▶ verified
 *      │                                                        (a failed one: back to copied)   │
 *      │                                                                      cutover --to new ──▶ cut over
 *      │                                                      (--to legacy: back to verified)        │
 *   cancelled ◀── cancel (any state before a cut over) ──                              complete ──▶ completed
 *
 * `planning` is also what a planner that died part-way leaves: the plan is complete only once one
 * planner saw every customer planned and no other planner at work.
 */

export const LIFECYCLE_STATES = ['planning', 'planned', 'copying', 'copied', 'verified', 'cut-over', 'completed', 'cancelled'] as const;
export type LifecycleState = (typeof LIFECYCLE_STATES)[number];

export type LifecycleEvent =
  | { type: 'plan-started' }
  | { type: 'plan-finished'; generation: number; customers: number; slices: number }
  | { type: 'copy-started' }
  | { type: 'copy-finished'; generation: number }
  | { type: 'verification-passed'; run: string; startedAt: number }
  | { type: 'verification-failed'; run: string }
  | { type: 'cut-over'; to: 'new' | 'legacy'; forced?: string }
  | { type: 'completed' }
  | { type: 'cancelled'; reason: string };

export interface LifecycleRecord {
  from: LifecycleState | null;
  to: LifecycleState;
  event: LifecycleEvent['type'];
  at: number;
  by: string;
  detail?: string;
}

export interface Lifecycle {
  state: LifecycleState;
  /** Bumped each time planning starts again over a planned migration: a late "finished" of an older round is ignored. */
  generation: number;
  since: number;
  /** Set when a plan finished: customers and slices planned. */
  planned?: { customers: number; slices: number; at: number };
  /** The verification run that moved the migration to `verified`. */
  verification?: { run: string; startedAt: number; passedAt: number };
  cancelled?: { reason: string; at: number; by: string };
  /** When a planner last started: written by every start, so a planner finishing meanwhile sees it. */
  planStartedAt?: number;
  /** The last transitions, newest last. */
  history: LifecycleRecord[];
}

export type Transition =
  | { ok: true; next: Lifecycle; changed: boolean }
  | { ok: false; state: LifecycleState | null; refusal: string; hint: string };

const KEEP_HISTORY = 100;

/** What an operator does next, per state (the hint of a refusal). */
export const NEXT_STEP: Record<LifecycleState, string> = {
  planning: 'let `bluegreen plan` finish (or run it again: it plans only what is missing).',
  planned: 'run workers (`bluegreen work`).',
  copying: 'let the workers finish (`bluegreen status`).',
  copied: 'run `bluegreen verify-integrity` until it passes.',
  verified: 'cut over (`bluegreen cutover --to new`), or verify again.',
  'cut-over': 'watch the new cluster; `bluegreen cutover --to legacy` rolls back, `bluegreen complete` records the end.',
  completed: 'nothing: the migration is complete (its history and read flag are kept).',
  cancelled: 'nothing: the migration was cancelled; plan a new one under another name.',
};

function refuse(state: LifecycleState | null, refusal: string, hint?: string): Transition {
  return { ok: false, state, refusal, hint: hint ?? (state ? NEXT_STEP[state] : 'run `bluegreen plan` first.') };
}

function move(cur: Lifecycle | null, to: LifecycleState, event: LifecycleEvent, at: number, by: string, patch: Partial<Lifecycle> = {}, detail?: string): Transition {
  const base: Lifecycle = cur ?? { state: to, generation: 1, since: at, history: [] };
  const record: LifecycleRecord = { from: cur?.state ?? null, to, event: event.type, at, by, ...(detail ? { detail } : {}) };
  const next: Lifecycle = {
    ...base,
    ...patch,
    state: to,
    since: cur?.state === to ? base.since : at,
    history: [...base.history, record].slice(-KEEP_HISTORY),
  };
  return { ok: true, next, changed: cur?.state !== to || Object.keys(patch).length > 0 };
}

/** The state unchanged, nothing to write (an event that is already true: a second worker's "copy started"). */
function stay(cur: Lifecycle): Transition {
  return { ok: true, next: cur, changed: false };
}

const FINAL: LifecycleState[] = ['completed', 'cancelled'];

/** The next lifecycle after `event`, or why the event is refused in the current state. Pure. */
export function transition(cur: Lifecycle | null, event: LifecycleEvent, at: number, by: string): Transition {
  const state = cur?.state ?? null;
  if (state && FINAL.includes(state)) {
    return refuse(state, `the migration is ${state}`);
  }
  switch (event.type) {
    case 'plan-started':
      if (cur === null) return move(null, 'planning', event, at, by, { planStartedAt: at });
      if (state === 'cut-over') return refuse(state, 'the migration is cut over: its plan is final', 'roll back first (`bluegreen cutover --to legacy`) to plan again.');
      // Always a write, even planning → planning: a planner finishing meanwhile must see that another started.
      return move(cur, 'planning', event, at, by, state === 'planning' ? { planStartedAt: at } : { planStartedAt: at, generation: cur.generation + 1 });
    case 'plan-finished':
      if (state !== 'planning') return cur && state ? stay(cur) : refuse(state, 'no plan was started');
      if (event.generation !== cur!.generation) return stay(cur!); // an older round: the newer one finishes
      return move(cur, 'planned', event, at, by, { planned: { customers: event.customers, slices: event.slices, at } });
    case 'copy-started':
      if (cur === null) return refuse(null, 'the migration has not been planned');
      if (state === 'planned' || state === 'copied' || state === 'verified') return move(cur, 'copying', event, at, by);
      if (state === 'cut-over') return refuse(state, 'the migration is cut over: no more copying', 'roll back first (`bluegreen cutover --to legacy`) if documents are missing, or repair with `verify-integrity --repair`.');
      return stay(cur); // planning (workers copy what is planned already) or copying
    case 'copy-finished':
      if (cur === null) return refuse(null, 'the migration has not been planned');
      if (state === 'planning') return refuse(state, 'planning is not finished: more slices may come');
      if (event.generation !== cur.generation) return stay(cur);
      if (state === 'planned' || state === 'copying') return move(cur, 'copied', event, at, by);
      return stay(cur);
    case 'verification-passed':
      if (state === 'copied' || state === 'verified') {
        return move(cur, 'verified', event, at, by, { verification: { run: event.run, startedAt: event.startedAt, passedAt: at } }, event.run);
      }
      if (state === 'cut-over') return stay(cur!);
      return refuse(state, `the copy is not finished (the migration is ${state ?? 'not planned'}): a verification now proves nothing`);
    case 'verification-failed':
      if (state === 'verified') return move(cur, 'copied', event, at, by, { verification: undefined }, event.run);
      return cur ? stay(cur) : refuse(null, 'the migration has not been planned');
    case 'cut-over':
      if (event.to === 'legacy') return state === 'cut-over' ? move(cur, 'verified', event, at, by, {}, 'rolled back') : cur ? stay(cur) : refuse(null, 'the migration has not been planned');
      if (state === 'verified' || state === 'cut-over') return state === 'cut-over' ? stay(cur!) : move(cur, 'cut-over', event, at, by);
      if (event.forced && cur) return move(cur, 'cut-over', event, at, by, {}, `forced: ${event.forced}`);
      return refuse(state, `the migration is ${state ?? 'not planned'}, not verified`);
    case 'completed':
      if (state === 'cut-over') return move(cur, 'completed', event, at, by);
      return refuse(state, `the migration is ${state ?? 'not planned'}: only a cut-over migration can be completed`);
    case 'cancelled':
      if (state === 'cut-over') return refuse(state, 'reads go to the new cluster: a cancel would strand them', 'roll back first (`bluegreen cutover --to legacy`), then cancel.');
      return move(cur, 'cancelled', event, at, by, { cancelled: { reason: event.reason, at, by } }, event.reason);
  }
}

/** True when workers may copy (claim and write slices) in this state. */
export function mayCopy(state: LifecycleState | null): boolean {
  return state === 'planning' || state === 'planned' || state === 'copying' || state === 'copied' || state === 'verified';
}
