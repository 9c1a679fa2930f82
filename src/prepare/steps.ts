/**
 * Target preparation as an explicit state machine (seed 003's crash safety), free of I/O. Each state
 * is written to ZooKeeper *before* the cluster change it announces, and every change is idempotent, so
 * whoever reads the record next — after a crash, or racing another process — redoes the pending step
 * and moves on:
 *
 *   creating ─create index→ created ─save settings→ tuning ─refresh -1, replicas 0→ tuned
 *            ─(copy done)→ restoring ─saved settings back→ restored
 *
 * An index that already existed starts at `created`; without tuneForBulk the machine stops there.
 */
export type PrepState = 'creating' | 'created' | 'tuning' | 'tuned' | 'restoring' | 'restored';

export const PREP_STATES: readonly PrepState[] = ['creating', 'created', 'tuning', 'tuned', 'restoring', 'restored'];

import type { BulkSettings } from '../backends/types';

export type { BulkSettings };

/** During the copy: no refreshes, no replicas to write twice (seed 004). */
export const BULK_LOAD: BulkSettings = { refresh_interval: '-1', number_of_replicas: '0' };

export interface PrepStep {
  state: PrepState;
  at: number;
  by: string;
}

/** The node `<root>/<migration>/target`. */
export interface PrepRecord {
  /** The target index (or alias) as the spec names it. */
  index: string;
  state: PrepState;
  /** True when bluegreen created the index; false when it existed already. */
  createdIndex: boolean;
  tuneForBulk: boolean;
  /** Per concrete index, the settings before tuning: saved before anything is changed, put back at the end. */
  original: Record<string, BulkSettings> | null;
  /** Every state entered, in order: the record of what was done, when, by whom. */
  steps: PrepStep[];
}

export type PrepAction =
  | { kind: 'none' }
  | { kind: 'create-index'; then: 'created' }
  | { kind: 'save-settings'; then: 'tuning' }
  | { kind: 'apply-bulk-settings'; then: 'tuned' }
  | { kind: 'announce-restore'; then: 'restoring' }
  | { kind: 'restore-settings'; then: 'restored' };

/**
 * What to do next from this record. `prepare` (the planner, before any slice exists) goes up to
 * `tuned`; `restore` (a worker that saw every slice finished) goes on to `restored`.
 */
export function nextAction(rec: PrepRecord, goal: 'prepare' | 'restore'): PrepAction {
  switch (rec.state) {
    case 'creating':
      return goal === 'prepare' ? { kind: 'create-index', then: 'created' } : { kind: 'none' };
    case 'created':
      return goal === 'prepare' && rec.tuneForBulk ? { kind: 'save-settings', then: 'tuning' } : { kind: 'none' };
    case 'tuning':
      // A planner died while tuning: the planner finishes it; if the copy is over already, undo it instead.
      return goal === 'prepare' ? { kind: 'apply-bulk-settings', then: 'tuned' } : { kind: 'announce-restore', then: 'restoring' };
    case 'tuned':
      return goal === 'restore' ? { kind: 'announce-restore', then: 'restoring' } : { kind: 'none' };
    case 'restoring':
      return goal === 'restore' ? { kind: 'restore-settings', then: 'restored' } : { kind: 'none' };
    case 'restored':
      return { kind: 'none' };
  }
}

export function initialRecord(index: string, exists: boolean, tuneForBulk: boolean, by: string, now = Date.now()): PrepRecord {
  const state: PrepState = exists ? 'created' : 'creating';
  return { index, state, createdIndex: !exists, tuneForBulk, original: null, steps: [{ state, at: now, by }] };
}

export function advance(rec: PrepRecord, state: PrepState, by: string, patch: Partial<PrepRecord> = {}, now = Date.now()): PrepRecord {
  return { ...rec, ...patch, state, steps: [...rec.steps, { state, at: now, by }] };
}

/** The bulk-load values for every index whose settings were saved. */
export function bulkLoadFor(original: Record<string, BulkSettings>): Record<string, BulkSettings> {
  return Object.fromEntries(Object.keys(original).map((name) => [name, BULK_LOAD]));
}

/** Null when the value is a well-formed record, else what is wrong with it. */
export function prepRecordProblem(v: any): string | null {
  if (!v || typeof v !== 'object') return 'not an object';
  if (!PREP_STATES.includes(v.state)) return `state is ${JSON.stringify(v.state)}, expected one of ${PREP_STATES.join('|')}`;
  if (typeof v.index !== 'string') return 'index is not a string';
  if (!Array.isArray(v.steps)) return 'steps is not a list';
  if (['tuning', 'tuned', 'restoring'].includes(v.state) && (!v.original || typeof v.original !== 'object')) {
    return `state ${v.state} without the saved original settings`;
  }
  return null;
}
