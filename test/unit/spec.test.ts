import { expect } from 'chai';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadSpec, publicSpec, specHash, validateSpec } from '../../src/config/spec';
import { UserError } from '../../src/errors';

const minimal = {
  migration: 'm1',
  zookeeper: { connect: '127.0.0.1:2181' },
  source: { kind: 'solr', url: 'http://127.0.0.1:8983/solr', collection: 'events' },
  target: { kind: 'solr', url: 'http://127.0.0.1:8984/solr', collection: 'events' },
};

function problems(raw: unknown): string {
  try {
    validateSpec(raw);
  } catch (e) {
    expect(e).to.be.instanceOf(UserError);
    return (e as Error).message;
  }
  throw new Error('expected the spec to be refused');
}

describe('spec', () => {
  it('fills defaults and parses sizes and durations', () => {
    const s = validateSpec({ ...minimal, batch: { bytes: '2MB' }, retention: { default: '90d', perCustomer: { acme: 'derived' } } });
    expect(s.batch.bytes).to.equal(2 * 1024 * 1024);
    expect(s.batch.docs).to.equal(500);
    expect(s.retention.default).to.equal(90 * 86_400_000);
    expect(s.retention.perCustomer.acme).to.equal('derived');
    expect(s.fields).to.deep.equal({ customer: 'customer', timestamp: 'timestamp', uniqueKey: 'id' });
    expect(s.zookeeper.root).to.equal('/bluegreen');
  });

  it('names every problem: unknown fields, wrong types, missing fields, bad values', () => {
    const msg = problems({ ...minimal, migraton: 'x', batch: { docs: 'many', bytes: '5 parsecs' }, source: { kind: 'mongo', collection: 'e' } });
    expect(msg).to.match(/unknown field\(s\) "migraton"/);
    expect(msg).to.match(/batch\.docs: Expected number, received string/);
    expect(msg).to.match(/batch\.bytes: "5 parsecs" is not a size/);
    expect(msg).to.match(/source\.kind: Invalid enum value/);
    expect(msg).to.match(/source\.url: required/);
  });

  it('refuses a source and target that are the same collection', () => {
    expect(problems({ ...minimal, target: minimal.source })).to.match(/same collection on the same cluster/);
  });

  it('requires a list when discovery is off', () => {
    expect(problems({ ...minimal, customers: { discover: false } })).to.match(/customers\.list/);
  });

  it('refuses a bad migration name', () => {
    expect(problems({ ...minimal, migration: '../etc' })).to.match(/migration: letters, digits/);
  });

  it('reads YAML, then env overrides, then flags; a malformed file is a clear error', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bg-spec-'));
    const file = join(dir, 'spec.yaml');
    writeFileSync(file, `migration: m1\nzookeeper:\n  connect: zk-from-file:2181\nsource:\n  kind: solr\n  url: http://a:8983/solr\n  collection: e\ntarget:\n  kind: solr\n  url: http://b:8983/solr\n  collection: e\n`);
    const s = loadSpec(file, { migration: 'from-flag' }, { BLUEGREEN_ZK_CONNECT: 'zk-from-env:2181', BLUEGREEN_TARGET_PASSWORD: 'hunter2', BLUEGREEN_TARGET_USERNAME: 'u' });
    expect(s.zookeeper.connect).to.equal('zk-from-env:2181');
    expect(s.migration).to.equal('from-flag');
    expect(s.target.auth?.password).to.equal('hunter2');
    expect(JSON.stringify(publicSpec(s))).not.to.contain('hunter2');
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'migration: [unclosed\n');
    expect(() => loadSpec(bad)).to.throw(UserError, /cannot be read/);
    expect(() => loadSpec(join(dir, 'missing.yaml'))).to.throw(UserError, /Cannot read the spec file .*ENOENT/);
  });

  it('hashes what decides the plan, not the batch sizes or URLs', () => {
    const a = validateSpec(minimal);
    const b = validateSpec({ ...minimal, batch: { docs: 50 }, source: { ...minimal.source, url: 'http://other:8983/solr' } });
    const c = validateSpec({ ...minimal, slicing: { targetDocsPerSlice: 5 } });
    expect(specHash(a)).to.equal(specHash(b));
    expect(specHash(a)).not.to.equal(specHash(c));
  });
});
