import { expect } from 'chai';
import { LIFECYCLE_STATES, mayCopy, transition, type Lifecycle, type LifecycleEvent, type LifecycleState } from '../../src/lifecycle/machine';

const by = 'test';
let clock = 1000;
/** Applies events in order; throws on the first refusal. */
function run(events: LifecycleEvent[], from: Lifecycle | null = null): Lifecycle {
  let cur = from;
  for (const e of events) {
    const t = transition(cur, e, clock++, by);
    if (!t.ok) throw new Error(`${e.type} refused in ${t.state}: ${t.refusal}`);
    cur = t.next;
  }
  return cur!;
}
const refusal = (cur: Lifecycle | null, e: LifecycleEvent) => {
  const t = transition(cur, e, clock++, by);
  if (t.ok) throw new Error(`${e.type} was accepted in ${cur?.state}`);
  return t;
};
const planned = (gen = 1): LifecycleEvent => ({ type: 'plan-finished', generation: gen, customers: 3, slices: 9 });
const passed: LifecycleEvent = { type: 'verification-passed', run: 'r1', startedAt: 5 };

describe('lifecycle state machine', () => {
  it('walks the operator\'s day: planning → planned → copying → copied → verified → cut over → completed', () => {
    const seen: LifecycleState[] = [];
    let cur: Lifecycle | null = null;
    for (const e of [{ type: 'plan-started' }, planned(), { type: 'copy-started' }, { type: 'copy-finished', generation: 1 }, passed,
      { type: 'cut-over', to: 'new' }, { type: 'completed' }] as LifecycleEvent[]) {
      cur = run([e], cur);
      seen.push(cur.state);
    }
    expect(seen).to.deep.equal(['planning', 'planned', 'copying', 'copied', 'verified', 'cut-over', 'completed']);
    expect(cur!.history.map((h) => h.event)).to.deep.equal(['plan-started', 'plan-finished', 'copy-started', 'copy-finished', 'verification-passed', 'cut-over', 'completed']);
    expect(cur!.planned).to.include({ customers: 3, slices: 9 });
    expect(cur!.verification).to.include({ run: 'r1', startedAt: 5 });
  });

  it('a plan that did not finish stays planning: the copy cannot finish, nothing can be verified or cut over', () => {
    const cur = run([{ type: 'plan-started' }, { type: 'copy-started' }]);
    expect(cur.state).to.equal('planning');
    expect(refusal(cur, { type: 'copy-finished', generation: 1 }).refusal).to.match(/planning is not finished/);
    expect(refusal(cur, passed).refusal).to.match(/copy is not finished \(the migration is planning\)/);
    const cut = refusal(cur, { type: 'cut-over', to: 'new' });
    expect(cut.refusal).to.match(/planning, not verified/);
    expect(cut.hint).to.match(/bluegreen plan/);
  });

  it('a second planner starting while the first finishes keeps the migration planning (every start is a write)', () => {
    const a = run([{ type: 'plan-started' }]);
    const b = transition(a, { type: 'plan-started' }, clock++, 'planner-b');
    expect(b.ok && b.changed).to.equal(true); // the conditional write of planner A's finish then fails and it looks again
    const replan = run([planned(), { type: 'plan-started' }], a);
    expect(replan).to.include({ state: 'planning', generation: 2 });
    // A late "finished" of the first round does not end the second one.
    expect(run([planned(1)], replan).state).to.equal('planning');
    expect(run([planned(2)], replan).state).to.equal('planned');
  });

  it('new work after the copy (a re-plan, a retried slice) invalidates the verification', () => {
    const verified = run([{ type: 'plan-started' }, planned(), { type: 'copy-finished', generation: 1 }, passed]);
    expect(verified.state).to.equal('verified');
    expect(run([{ type: 'copy-started' }], verified).state).to.equal('copying');
    expect(run([{ type: 'verification-failed', run: 'r2' }], verified)).to.include({ state: 'copied', verification: undefined });
  });

  it('rollback goes back to verified; cancel is refused while reads go to new, accepted before', () => {
    const cut = run([{ type: 'plan-started' }, planned(), { type: 'copy-finished', generation: 1 }, passed, { type: 'cut-over', to: 'new' }]);
    expect(refusal(cut, { type: 'cancelled', reason: 'x' }).hint).to.match(/cutover --to legacy/);
    expect(refusal(cut, { type: 'plan-started' }).refusal).to.match(/cut over/);
    expect(refusal(cut, { type: 'copy-started' }).refusal).to.match(/no more copying/);
    const back = run([{ type: 'cut-over', to: 'legacy' }], cut);
    expect(back.state).to.equal('verified');
    const cancelled = run([{ type: 'cancelled', reason: 'wrong mapping' }], back);
    expect(cancelled.cancelled).to.include({ reason: 'wrong mapping' });
  });

  it('completed and cancelled are final: every event is refused', () => {
    const done = run([{ type: 'plan-started' }, planned(), { type: 'copy-finished', generation: 1 }, passed, { type: 'cut-over', to: 'new' }, { type: 'completed' }]);
    const cancelled = run([{ type: 'plan-started' }, { type: 'cancelled', reason: 'r' }]);
    for (const cur of [done, cancelled]) {
      for (const e of [{ type: 'plan-started' }, { type: 'copy-started' }, passed, { type: 'cut-over', to: 'legacy' }, { type: 'cancelled', reason: 'again' }] as LifecycleEvent[]) {
        expect(refusal(cur, e).refusal, `${cur.state} ${e.type}`).to.equal(`the migration is ${cur.state}`);
      }
    }
  });

  it('a forced cutover is recorded with its reason; complete needs a cut over', () => {
    const copied = run([{ type: 'plan-started' }, planned(), { type: 'copy-finished', generation: 1 }]);
    expect(refusal(copied, { type: 'completed' }).refusal).to.match(/only a cut-over migration/);
    const forced = run([{ type: 'cut-over', to: 'new', forced: 'verified by hand' }], copied);
    expect(forced.state).to.equal('cut-over');
    expect(forced.history.at(-1)).to.include({ detail: 'forced: verified by hand' });
  });

  it('workers may copy in every state before the cut over, and in none after', () => {
    expect(LIFECYCLE_STATES.filter(mayCopy)).to.deep.equal(['planning', 'planned', 'copying', 'copied', 'verified']);
    expect(mayCopy(null)).to.equal(false);
  });

  it('keeps a bounded history', () => {
    let cur = run([{ type: 'plan-started' }, planned()]);
    for (let i = 0; i < 150; i++) cur = run([{ type: 'copy-started' }, { type: 'copy-finished', generation: 1 }], cur);
    expect(cur.history.length).to.equal(100);
  });
});
