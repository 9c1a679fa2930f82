import { expect } from 'chai';
import { exactJson } from '../../src/backends/exactJson';
import type { SourceDoc } from '../../src/backends/types';
import { specHash, validateSpec } from '../../src/config/spec';
import { UserError } from '../../src/errors';
import { log } from '../../src/log';
import { defineTransform } from '../../src/transform/define';
import { inPlaceOutcome } from '../../src/transform/inPlace';

const fields = { customer: 'customer', timestamp: 'timestamp', uniqueKey: 'id' };
const doc = (text: string): SourceDoc => ({ id: 'a', fields: exactJson.parse(`{"id":"a","customer":"c","timestamp":"2024-01-01T00:00:00Z",${text}}`) as Record<string, unknown>, bytes: 10 });
const outcome = (t: ReturnType<typeof defineTransform>, d: SourceDoc) => inPlaceOutcome(t, d, fields, 0, log);

describe('in place (pure parts)', () => {
  it('a document the transform leaves as it is (same exact text, keys in any order) is unchanged: not written', () => {
    expect(outcome(defineTransform({ version: '1', map: (d) => d }), doc('"n":1.0')).kind).to.equal('unchanged');
    // Rebuilt with another key order: the same content.
    expect(outcome(defineTransform({ version: '1', map: ({ n, ...rest }) => ({ n, ...rest }) }), doc('"n":1.0')).kind).to.equal('unchanged');
    // null: left as it is.
    expect(outcome(defineTransform({ version: '1', map: () => null }), doc('"n":1')).kind).to.equal('unchanged');
  });

  it('a change of number text is a change; the written document is the output', () => {
    const t = defineTransform({ version: '1', map: (d) => ({ ...d, n: 1 }) });
    const o = outcome(t, doc('"n":1.0'));
    expect(o.kind).to.equal('changed');
    if (o.kind === 'changed') expect(exactJson.stringify(o.doc.fields)).to.contain('"n":1}');
    expect(outcome(t, doc('"n":1')).kind).to.equal('unchanged');
  });

  it('rejects a fan-out, a new id, and a throw (in place, one document in, the same one out)', () => {
    const fan = outcome(defineTransform({ version: '1', map: (d) => [{ ...d, id: 'x' }, { ...d, id: 'y' }] }), doc('"n":1'));
    expect(fan.kind).to.equal('rejected');
    if (fan.kind === 'rejected') expect(fan.reason).to.contain('in place');
    expect(outcome(defineTransform({ version: '1', map: (d) => ({ ...d, id: 'other' }) }), doc('"n":1')).kind).to.equal('rejected');
    expect(outcome(defineTransform({ version: '1', map: () => { throw new Error('no'); } }), doc('"n":1')).kind).to.equal('rejected');
  });
});

describe('copy.mode in-place (spec)', () => {
  const same = { kind: 'solr', url: 'http://127.0.0.1:8983/solr', collection: 'events' };
  const raw = (over: Record<string, unknown> = {}) => ({ migration: 'm1', zookeeper: { connect: '127.0.0.1:2181' }, source: same, target: same, copy: { mode: 'in-place' }, ...over });
  const problems = (r: unknown) => {
    try {
      validateSpec(r);
      return '';
    } catch (e) {
      expect(e).to.be.instanceOf(UserError);
      return (e as Error).message;
    }
  };

  it('needs the source as target and a transform; without the mode, the source as target is refused', () => {
    expect(problems(raw())).to.contain('in-place needs a transform');
    expect(problems(raw({ target: { ...same, collection: 'other' } }))).to.contain('target must name the source itself');
    expect(problems(raw({ copy: {} }))).to.contain('same collection on the same cluster');
    expect(problems(raw({ copy: { mode: 'in-place', excludeFields: ['x'] } }))).to.contain('copy.excludeFields');
    expect(problems(raw({ target: { ...same, optimize: 'force-merge' } }))).to.contain('target.optimize');
  });

  it('is part of the spec hash only when set (copies keep their hash)', () => {
    const copy = validateSpec({ ...raw(), copy: {}, target: { ...same, url: 'http://127.0.0.1:8984/solr' } });
    expect(specHash(copy)).to.equal(specHash({ ...copy, copy: { ...copy.copy, mode: 'copy' } }));
    expect(specHash(copy)).not.to.equal(specHash({ ...copy, copy: { ...copy.copy, mode: 'in-place' } }));
  });
});
