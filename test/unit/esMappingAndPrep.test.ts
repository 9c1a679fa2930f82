import { expect } from 'chai';
import { fieldMapping, mappingProblems, unwrapMappings, unwrapSettings } from '../../src/backends/elasticsearch/mapping';
import { advance, BULK_LOAD, bulkLoadFor, initialRecord, nextAction, prepRecordProblem, type PrepRecord } from '../../src/prepare/steps';

const fields = { customer: 'customer', timestamp: 'meta.created', uniqueKey: 'id' };

const good = {
  properties: {
    id: { type: 'keyword' },
    customer: { type: 'keyword' },
    meta: { properties: { created: { type: 'date' } } },
    title: { type: 'text', fields: { raw: { type: 'keyword' } } },
    rev: { type: 'long' },
  },
};

describe('elasticsearch mapping checks', () => {
  it('finds fields through objects and multi-fields', () => {
    expect(fieldMapping(good, 'meta.created')).to.deep.equal({ type: 'date' });
    expect(fieldMapping(good, 'title.raw')).to.deep.equal({ type: 'keyword' });
    expect(fieldMapping(good, 'meta')!.type).to.equal(undefined);
    expect(fieldMapping(good, 'nope')).to.equal(undefined);
    expect(fieldMapping(good, 'id.nope')).to.equal(undefined);
    expect(fieldMapping({}, 'id')).to.equal(undefined);
  });

  it('accepts a mapping with a keyword id, a keyword customer and a date timestamp', () => {
    expect(mappingProblems(good, fields)).to.deep.equal([]);
    expect(mappingProblems(good, fields, 'rev')).to.deep.equal([]);
    expect(mappingProblems(good, { ...fields, uniqueKey: 'title.raw' })).to.deep.equal([]);
  });

  it('says what is wrong, field by field, and why it matters', () => {
    const bad = {
      _source: { enabled: false },
      properties: { id: { type: 'text' }, customer: { type: 'keyword', doc_values: false }, meta: { properties: {} }, rev: { type: 'keyword' } },
    };
    const problems = mappingProblems(bad, fields, 'rev');
    expect(problems).to.have.length(5);
    expect(problems[0]).to.match(/_source is disabled/);
    expect(problems[1]).to.equal('"id" (fields.uniqueKey) is a text field; paging sorts on it (search_after), so it must be a keyword field with doc values holding the document\'s _id');
    expect(problems[2]).to.match(/"customer" \(fields.customer\) has doc_values disabled/);
    expect(problems[3]).to.equal('no field "meta.created" (fields.timestamp) in its mapping');
    expect(problems[4]).to.match(/"rev" \(copy.versionField\) is a keyword field; .* long field/);
    expect(mappingProblems({ properties: { ...good.properties, meta: { type: 'object', properties: {} } } }, { ...fields, timestamp: 'meta' }))
      .to.deep.equal(['"meta" (fields.timestamp) is a object field; slices are time ranges on it, so it must be a date field']);
  });

  it('unwraps index definition files written either way', () => {
    expect(unwrapMappings({ mappings: good })).to.equal(good);
    expect(unwrapMappings(good)).to.equal(good);
    expect(unwrapSettings({ settings: { index: { number_of_shards: 2 } } })).to.deep.equal({ index: { number_of_shards: 2 } });
    expect(unwrapSettings({ number_of_shards: 2 })).to.deep.equal({ number_of_shards: 2 });
  });
});

describe('target preparation steps', () => {
  /** Runs the machine as targetPrep.ts does, without ZooKeeper or a cluster: the actions taken, in order. */
  function run(rec: PrepRecord, goal: 'prepare' | 'restore'): { rec: PrepRecord; actions: string[] } {
    const actions: string[] = [];
    for (let i = 0; i < 10; i++) {
      const a = nextAction(rec, goal);
      if (a.kind === 'none') return { rec, actions };
      actions.push(a.kind);
      rec = advance(rec, a.then, 'test', a.kind === 'save-settings' ? { original: { ix: { refresh_interval: null, number_of_replicas: '1' } } } : {});
    }
    throw new Error('the machine does not stop');
  }

  it('creates a missing index, saves the settings before tuning, restores them at the end', () => {
    const prepared = run(initialRecord('ix', false, true, 'planner'), 'prepare');
    expect(prepared.actions).to.deep.equal(['create-index', 'save-settings', 'apply-bulk-settings']);
    expect(prepared.rec.state).to.equal('tuned');
    expect(prepared.rec.createdIndex).to.equal(true);
    expect(prepared.rec.steps.map((s) => s.state)).to.deep.equal(['creating', 'created', 'tuning', 'tuned']);
    expect(prepRecordProblem(prepared.rec)).to.equal(null);
    // Preparing again (a second planner, a re-plan) changes nothing.
    expect(run(prepared.rec, 'prepare').actions).to.deep.equal([]);
    const restored = run(prepared.rec, 'restore');
    expect(restored.actions).to.deep.equal(['announce-restore', 'restore-settings']);
    expect(restored.rec.steps.map((s) => s.state)).to.deep.equal(['creating', 'created', 'tuning', 'tuned', 'restoring', 'restored']);
    expect(run(restored.rec, 'restore').actions).to.deep.equal([]);
    expect(run(restored.rec, 'prepare').actions, 'a re-plan after the copy does not tune again').to.deep.equal([]);
  });

  it('leaves an existing index untouched without tuneForBulk', () => {
    const rec = initialRecord('ix', true, false, 'planner');
    expect(rec.state).to.equal('created');
    expect(rec.createdIndex).to.equal(false);
    expect(run(rec, 'prepare').actions).to.deep.equal([]);
    expect(run(rec, 'restore').actions).to.deep.equal([]);
  });

  it('resumes the pending step from any recorded state (a crash between record and act)', () => {
    const tuning = advance(initialRecord('ix', true, true, 'p'), 'tuning', 'p', { original: { ix: { refresh_interval: '5s', number_of_replicas: '1' } } });
    expect(run(tuning, 'prepare').actions).to.deep.equal(['apply-bulk-settings']);
    // The copy finished while a planner had died mid-tuning: undo it rather than finish it.
    expect(run(tuning, 'restore').actions).to.deep.equal(['announce-restore', 'restore-settings']);
    const restoring = advance(advance(tuning, 'tuned', 'p'), 'restoring', 'w');
    expect(run(restoring, 'restore').actions).to.deep.equal(['restore-settings']);
    expect(run(restoring, 'prepare').actions).to.deep.equal([]);
    expect(run(initialRecord('ix', false, true, 'p'), 'restore').actions, 'nothing to restore before tuning').to.deep.equal([]);
  });

  it('tunes every index it saved settings for', () => {
    expect(bulkLoadFor({ a: { refresh_interval: '1s', number_of_replicas: '2' }, b: { refresh_interval: null, number_of_replicas: '1' } }))
      .to.deep.equal({ a: BULK_LOAD, b: BULK_LOAD });
    expect(BULK_LOAD).to.deep.equal({ refresh_interval: '-1', number_of_replicas: '0' });
  });

  it('names what is wrong with a corrupt record', () => {
    expect(prepRecordProblem({ index: 'ix', state: 'weird', steps: [] })).to.match(/state is "weird"/);
    expect(prepRecordProblem({ index: 'ix', state: 'tuned', steps: [], original: null })).to.match(/without the saved original settings/);
  });
});
