import { expect } from 'chai';
import { bulkRequest } from '../../src/backends/elasticsearch/bulk';
import { dateMs, indexPatternProblem, inWildcard, parseIndexPattern } from '../../src/config/indexPattern';
import { RawNumber } from '../../src/backends/exactJson';
import type { SourceDoc } from '../../src/backends/types';
import { validateSpec } from '../../src/config/spec';
import { UserError } from '../../src/errors';

const doc = (id: string, fields: Record<string, unknown>): SourceDoc => ({ id, fields, bytes: 10 });

describe('target.indexPattern (one index into many)', () => {
  const p = parseIndexPattern('events-{timestamp:yyyy.MM.dd}');

  it('names the daily index of a date in UTC, from an ISO string (with or without zone) or epoch milliseconds', () => {
    expect(p.wildcard).to.equal('events-*');
    expect(p.indexOf(doc('a', { timestamp: '2025-01-31T23:30:00Z' }))).to.deep.equal({ index: 'events-2025.01.31' });
    expect(p.indexOf(doc('b', { timestamp: '2025-01-31T23:30:00-02:00' }))).to.deep.equal({ index: 'events-2025.02.01' });
    expect(p.indexOf(doc('c', { timestamp: '2025-01-31T23:30:00' }))).to.deep.equal({ index: 'events-2025.01.31' });
    expect(p.indexOf(doc('d', { timestamp: Date.UTC(2024, 1, 29, 12) }))).to.deep.equal({ index: 'events-2024.02.29' });
    expect(p.indexOf(doc('e', { timestamp: new RawNumber('1709208000000') }))).to.deep.equal({ index: 'events-2024.02.29' });
    expect(parseIndexPattern('logs-{ts:yyyy-MM}-x-{ts:HH}').indexOf(doc('f', { ts: '2025-03-04T05:06:07Z' }))).to.deep.equal({ index: 'logs-2025-03-x-05' });
  });

  it('gives a reason for a document whose field is missing or not a date', () => {
    expect(p.indexOf(doc('a', {}))).to.have.property('reason').that.matches(/no value in "timestamp"/);
    expect(p.indexOf(doc('b', { timestamp: 'yesterday' }))).to.have.property('reason').that.matches(/"timestamp" \("yesterday"\) is not a date/);
    expect(dateMs('2025-13-45')).to.equal(null);
  });

  it('refuses patterns that cannot name an index, with what to write instead', () => {
    expect(indexPatternProblem('events')).to.match(/no placeholder/);
    expect(indexPatternProblem('events-{timestamp}')).to.match(/no date format/);
    expect(indexPatternProblem('Events-{timestamp:yyyy}')).to.match(/may not/);
    expect(indexPatternProblem('{timestamp:yyyy}-events')).to.match(/fixed prefix/);
    expect(indexPatternProblem('events-{timestamp:yyyy')).to.match(/unbalanced/);
    expect(inWildcard('events-*', 'events-2025.01.01')).to.equal(true);
    expect(inWildcard('events-*', 'eventsx')).to.equal(false);
  });

  it('bulk: each action names its index; a document without one is refused with its reason, the rest is sent', () => {
    const r = bulkRequest([doc('a', { timestamp: '2025-01-01T00:00:00Z' }), doc('b', {}), doc('c', { timestamp: '2025-01-02T00:00:00Z' })], undefined, (d) => p.indexOf(d));
    expect(r.sent.map((d) => d.id)).to.deep.equal(['a', 'c']);
    expect(r.refused).to.have.length(1);
    expect(r.refused[0].id).to.equal('b');
    expect([...r.indices].sort()).to.deep.equal(['events-2025.01.01', 'events-2025.01.02']);
    expect(r.body.toString('utf8').split('\n')[0]).to.equal('{"create":{"_id":"a","_index":"events-2025.01.01"}}');
  });

  const es = { kind: 'elasticsearch', url: 'http://127.0.0.1:9200' };
  const spec = (target: object) => ({ migration: 'm1', zookeeper: { connect: '127.0.0.1:2181' }, source: { ...es, collection: 'monthly' }, target });
  const refusal = (raw: unknown): string => {
    try {
      validateSpec(raw);
    } catch (e) {
      expect(e).to.be.instanceOf(UserError);
      return (e as Error).message;
    }
    throw new Error('expected the spec to be refused');
  };

  it('spec: taken for an Elasticsearch and a Solr target; refused on the source, when collection is one of the set, and when the source is', () => {
    expect(validateSpec(spec({ ...es, url: 'http://127.0.0.1:9201', collection: 'events-template0', indexPattern: 'daily-{timestamp:yyyy.MM.dd}' })).target.indexPattern).to.equal('daily-{timestamp:yyyy.MM.dd}');
    expect(validateSpec(spec({ kind: 'solr', url: 'http://127.0.0.1:8983/solr', collection: 'e', indexPattern: 'daily-{timestamp:yyyy.MM.dd}' })).target.indexPattern).to.equal('daily-{timestamp:yyyy.MM.dd}');
    expect(refusal(spec({ kind: 'solr', url: 'http://127.0.0.1:8983/solr', collection: 'daily-x', indexPattern: 'daily-{timestamp:yyyy.MM.dd}' })))
      .to.match(/target\.collection: .*configset.*is itself one of the set daily-\*/);
    expect(refusal(spec({ kind: 'solr', url: 'http://127.0.0.1:8983/solr', collection: 'e', indexPattern: 'da+ily-{timestamp:yyyy.MM.dd}' })))
      .to.match(/target\.indexPattern: .*collections Solr refuses/);
    expect(refusal({ ...spec({ ...es, collection: 'tpl', indexPattern: 'monthly{timestamp:yyyy.MM.dd}' }) }))
      .to.match(/target\.indexPattern: the source index "monthly" on the same cluster is one of the set monthly\*/);
    const solr = { kind: 'solr', url: 'http://127.0.0.1:8983/solr', collection: 'e' };
    expect(refusal({ ...spec({ ...solr, indexPattern: 'daily-{timestamp:yyyy.MM.dd}' }), source: solr, copy: { mode: 'in-place' } }))
      .to.match(/target\.indexPattern: in place the documents stay where they are/);
    expect(refusal({ ...spec({ ...es, url: 'http://127.0.0.1:9201', collection: 'x' }), source: { ...es, collection: 'm', indexPattern: 'd-{t:yyyy}' } })).to.match(/source\.indexPattern: indexPattern is for the target only/);
    expect(refusal(spec({ ...es, url: 'http://127.0.0.1:9201', collection: 'daily-template', indexPattern: 'daily-{timestamp:yyyy.MM.dd}' }))).to.match(/target\.collection: .*is itself one of the set daily-\*/);
    expect(refusal(spec({ ...es, url: 'http://127.0.0.1:9201', collection: 'x', indexPattern: 'daily' }))).to.match(/target\.indexPattern: .*no placeholder/);
  });
});
