import { expect } from 'chai';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RawNumber, exactJson } from '../../src/backends/exactJson';
import { selectBody, withSelection } from '../../src/backends/elasticsearch/queries';
import type { SourceDoc } from '../../src/backends/types';
import { specHash, validateSpec } from '../../src/config/spec';
import { UserError } from '../../src/errors';
import { log } from '../../src/log';
import { applyTransform } from '../../src/transform/apply';
import { defineTransform, transformProblem } from '../../src/transform/define';
import { REJECTED_MARK, expectedOutputs } from '../../src/transform/expected';
import { describeApplied, fieldDiff } from '../../src/transform/testRun';
import { contentHash, diffExpected, type Candidate } from '../../src/verifier/diff';

const fields = { customer: 'customer', timestamp: 'timestamp', uniqueKey: 'id' };
const ctx = { slice: 0, log };
const doc = (id: string, f: Record<string, unknown>): SourceDoc => ({ id, fields: { id, customer: 'c', timestamp: '2024-01-01T00:00:00Z', ...f }, bytes: 10 });

describe('transforms (pure parts)', () => {
  it('defineTransform checks the shape', () => {
    expect(() => defineTransform({ version: '', map: (d) => d })).to.throw(/version/);
    expect(() => defineTransform({ version: '1' } as any)).to.throw(/map/);
    expect(transformProblem(null)).to.match(/null/);
    expect(transformProblem({ version: '1', map: () => null })).to.equal(null);
  });

  it('keeps what the transform does not touch exactly as read (number text included)', () => {
    const t = defineTransform({ version: '1', map: ({ title, ...rest }) => ({ ...rest, headline: title }) });
    const src = doc('a', exactJson.parse('{"title":"x","big":12345678901234567890,"d":1.0,"e":1E+2}') as Record<string, unknown>);
    const r = applyTransform(t, src, fields, ctx);
    if ('reason' in r) throw new Error(r.reason);
    expect(r.outputs).to.have.length(1);
    expect(r.outputs[0].id).to.equal('a');
    expect(exactJson.stringify(r.outputs[0].fields)).to.equal('{"id":"a","customer":"c","timestamp":"2024-01-01T00:00:00Z","big":12345678901234567890,"d":1.0,"e":1E+2,"headline":"x"}');
    expect(r.outputs[0].fields.d).to.be.instanceOf(RawNumber);
  });

  it('null skips, an array fans out (each with its own id), a throw or a broken rule rejects', () => {
    const t = defineTransform({
      version: '3',
      map(d, c) {
        if (d.kind === 'skip') return null;
        if (d.kind === 'boom') throw new Error(`no ${c.id}`);
        if (d.kind === 'fan') return [{ ...d, id: `${c.id}-1` }, { ...d, id: `${c.id}-2` }];
        if (d.kind === 'noid') return [{ ...d, id: undefined }];
        if (d.kind === 'dup') return [{ ...d }, { ...d }];
        if (d.kind === 'move') return { ...d, customer: 'other' };
        if (d.kind === 'undef') return undefined as any;
        return d;
      },
    });
    const run = (kind: string) => applyTransform(t, doc('x', { kind }), fields, ctx);
    expect(run('skip')).to.deep.equal({ outputs: [] });
    expect(run('boom')).to.deep.equal({ reason: 'transform 3 threw: no x' });
    const fan = run('fan');
    expect('outputs' in fan && fan.outputs.map((o) => o.id)).to.deep.equal(['x-1', 'x-2']);
    expect((run('noid') as any).reason).to.match(/has no id: each document of a fan-out must set its own "id"/);
    expect((run('dup') as any).reason).to.match(/repeats the id "x"/);
    expect((run('move') as any).reason).to.match(/changes "customer"/);
    expect((run('undef') as any).reason).to.match(/returned undefined/);
  });

  it('gives the uniqueKey back to a single output that dropped it', () => {
    const t = defineTransform({ version: '1', map: ({ id, ...rest }) => rest });
    const r = applyTransform(t, doc('k', {}), fields, ctx) as { outputs: SourceDoc[] };
    expect(r.outputs[0].id).to.equal('k');
    expect(r.outputs[0].fields.id).to.equal('k');
  });

  it('expected outputs mark rejected documents so that no target document equals them', () => {
    const t = defineTransform({ version: '1', map: (d) => { if (d.n === 2) throw new Error('two'); return d.n === 3 ? null : d; } });
    const e = expectedOutputs(t, fields, [doc('a', { n: 1 }), doc('b', { n: 2 }), doc('c', { n: 3 })], 0, log);
    expect([...e.keys()]).to.deep.equal(['a', 'b']);
    expect(e.get('b')!.rejected).to.match(/two/);
    expect(e.get('b')!.doc.fields[REJECTED_MARK]).to.be.a('string');
  });

  it('diffExpected reports missing, extra and different against the target stream', async () => {
    const ignore = new Set<string>();
    const same = doc('a', { v: 1 });
    const expected = new Map([
      ['a', { hash: contentHash(same.fields, ignore), sourceId: 'a' }],
      ['b', { hash: contentHash(doc('b', { v: 1 }).fields, ignore), sourceId: 's' }],
      ['c', { hash: 'x', sourceId: 'c' }],
    ]);
    async function* target() { yield same; yield doc('c', {}); yield doc('z', {}); }
    const counts = { source: 0, target: 0 };
    const out: Candidate[] = [];
    for await (const c of diffExpected(expected, target(), ignore, counts)) out.push(c);
    expect(out.map((c) => [c.id, c.kind, c.sourceId])).to.deep.equal([['c', 'different', 'c'], ['z', 'extra', undefined], ['b', 'missing', 's']]);
    expect(counts).to.deep.equal({ source: 3, target: 3 });
  });

  it('narrows Elasticsearch queries by the selection', () => {
    const sel = { term: { status: 'old' } };
    expect(withSelection(undefined, undefined)).to.equal(undefined);
    expect(withSelection({ match_all: {} }, undefined)).to.deep.equal({ match_all: {} });
    expect(withSelection(undefined, sel)).to.deep.equal({ bool: { filter: [sel] } });
    expect(selectBody({ size: 0, query: { term: { c: 'x' } } }, sel)).to.deep.equal({ size: 0, query: { bool: { filter: [{ term: { c: 'x' } }, sel] } } });
  });

  it('prints a field diff', () => {
    expect(fieldDiff({ a: 1, b: 'x', c: true }, { a: 2, c: true, d: null })).to.deep.equal(['~ a: 1 → 2', '- b: "x"', '+ d: null']);
    expect(describeApplied('q', { a: 1 }, { outputs: [] })).to.deep.equal(['q: skipped (the transform returned null: not copied)']);
    expect(describeApplied('q', { a: 1 }, { reason: 'bad' })).to.deep.equal(['q: REJECTED: bad']);
  });

  describe('in the spec', () => {
    const base = {
      migration: 'm1',
      zookeeper: { connect: '127.0.0.1:2181' },
      source: { kind: 'solr', url: 'http://127.0.0.1:8983/solr', collection: 'events' },
      target: { kind: 'solr', url: 'http://127.0.0.1:8984/solr', collection: 'events' },
    };
    const dir = mkdtempSync(join(tmpdir(), 'bg-unit-transform-'));
    const module = (version: string) => {
      const f = join(dir, `t${version}.cjs`);
      writeFileSync(f, `module.exports = { version: ${JSON.stringify(version)}, map: (d) => d };\n`);
      return f;
    };
    const refused = (raw: unknown, dirName = dir) => {
      try {
        validateSpec(raw, '(test)', {}, dirName);
      } catch (e) {
        expect(e).to.be.instanceOf(UserError);
        return (e as Error).message;
      }
      throw new Error('expected a refusal');
    };

    it('validates source.query by kind, and refuses it on the target', () => {
      expect(refused({ ...base, source: { ...base.source, query: { term: { a: 1 } } } })).to.match(/source\.query: a Solr source takes a filter query string/);
      expect(refused({ ...base, source: { ...base.source, kind: 'elasticsearch', url: 'http://h:9200', query: 'a:b' } })).to.match(/source\.query: an Elasticsearch source takes a query object/);
      expect(refused({ ...base, target: { ...base.target, query: 'a:b' } })).to.match(/target\.query: query is for the source only/);
    });

    it('resolves the module against the spec folder, and puts its version and the query in the hash', () => {
      const v1 = validateSpec({ ...base, transform: { module: 't1.cjs' } }, '(test)', {}, (module('1'), dir));
      expect(v1.transform).to.deep.equal({ module: join(dir, 't1.cjs'), version: '1' });
      const v2 = validateSpec({ ...base, transform: { module: module('2') } });
      const plain = validateSpec(base);
      expect(new Set([specHash(v1), specHash(v2), specHash(plain)]).size).to.equal(3);
      expect(specHash(validateSpec({ ...base, source: { ...base.source, query: 'a:b' } }))).not.to.equal(specHash(plain));
      expect(refused({ ...base, transform: { module: 'missing.ts' } })).to.match(/does not exist/);
      expect(refused({ ...base, transform: { module: 'x.py' } })).to.match(/is not a/);
    });
  });
});
