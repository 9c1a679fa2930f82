import { expect } from 'chai';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { normalizeUrl, parseZkConnect, sameNodes, zkConnectKey } from '../../src/config/endpoints';
import { loadSpec, publicSpec, specHash, validateSpec } from '../../src/config/spec';
import { numberFlag } from '../../src/cli';
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

  it('takes kind: opensearch as source and target (beside solr and elasticsearch), and names the kinds for an unknown one', () => {
    const s = validateSpec({
      ...minimal,
      source: { kind: 'elasticsearch', url: 'http://127.0.0.1:9200', collection: 'events' },
      target: { kind: 'opensearch', url: 'http://127.0.0.1:9203', collection: 'events' },
    });
    expect([s.source.kind, s.target.kind]).to.deep.equal(['elasticsearch', 'opensearch']);
    expect(problems({ ...minimal, target: { ...minimal.target, kind: 'opensearch2' } })).to.match(/'solr' \| 'elasticsearch' \| 'opensearch'/);
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

  it('takes target.optimize (opt-in, not part of the plan) and refuses it on the source', () => {
    const s = validateSpec({ ...minimal, target: { ...minimal.target, optimize: 'expunge-deletes' } });
    expect(s.target.optimize).to.equal('expunge-deletes');
    expect(specHash(s), 'optimizing changes neither the plan nor the copy').to.equal(specHash(validateSpec(minimal)));
    expect(problems({ ...minimal, source: { ...minimal.source, optimize: 'force-merge' } })).to.match(/optimize is for the target only/);
    expect(problems({ ...minimal, target: { ...minimal.target, optimize: 'defrag' } })).to.match(/optimize/);
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

  describe('source == target, however the URLs are spelled', () => {
    const same = (url: string | string[]) => problems({ ...minimal, target: { ...minimal.source, url } });
    it('refuses a trailing slash, localhost vs 127.0.0.1, upper case, default ports, dot segments and URL lists', () => {
      for (const url of ['http://127.0.0.1:8983/solr/', 'http://localhost:8983/solr', 'http://LOCALHOST:8983//solr//', 'http://[::1]:8983/solr',
        'http://127.0.0.2:8983/solr', 'http://0.0.0.0:8983/solr', 'http://127.0.0.1:8983/x/../solr', ['http://127.0.0.1:8984/solr', 'http://localhost:8983/solr/']]) {
        expect(same(url), JSON.stringify(url)).to.match(/target\.collection: source and target are the same collection on the same cluster/);
      }
      expect(problems({ ...minimal, source: { ...minimal.source, url: 'http://es:80' }, target: { ...minimal.source, url: 'http://ES/' } })).to.match(/same collection/);
    });
    it('allows the same cluster with another collection (a shadow index), and another cluster with the same name', () => {
      expect(validateSpec({ ...minimal, target: { ...minimal.source, collection: 'events_v2' } }).target.collection).to.equal('events_v2');
      expect(validateSpec({ ...minimal, target: { ...minimal.source, url: 'http://127.0.0.1:8984/solr' } }).target.collection).to.equal('events');
      expect(validateSpec({ ...minimal, target: { ...minimal.source, url: 'https://127.0.0.1:8983/solr' } }).target.kind).to.equal('solr');
    });
    it('normalizes URLs', () => {
      expect(normalizeUrl('HTTP://Example.COM./solr/')).to.deep.equal({ scheme: 'http', host: 'example.com', port: 80, path: '/solr' });
      expect(normalizeUrl('https://[::ffff:127.0.0.1]/')).to.deep.equal({ scheme: 'https', host: 'loopback', port: 443, path: '' });
      expect(sameNodes(['http://a:1', 'http://b:2'], ['http://B:2/'])).to.equal(true);
      expect(sameNodes('http://a:1', 'http://a:2')).to.equal(false);
    });
  });

  describe('ZooKeeper connect strings', () => {
    it('accepts host:port lists, IPv6 in brackets, a missing port (2181) and a chroot', () => {
      expect(parseZkConnect('zk-1:2181,zk-2.example.com:2182/bluegreen/prod')).to.deep.equal({
        servers: [{ host: 'zk-1', port: 2181 }, { host: 'zk-2.example.com', port: 2182 }], chroot: '/bluegreen/prod',
      });
      expect(parseZkConnect('[::1]:2181,10.0.0.1')).to.deep.equal({ servers: [{ host: '::1', port: 2181 }, { host: '10.0.0.1', port: 2181 }], chroot: null });
      expect(validateSpec({ ...minimal, zookeeper: { connect: '[fe80::1]:2181/x' } }).zookeeper.connect).to.equal('[fe80::1]:2181/x');
      expect(parseZkConnect('zk:2181/')).to.deep.equal({ servers: [{ host: 'zk', port: 2181 }], chroot: null }, 'a lone "/" is no chroot, as in ZooKeeper');
    });
    it('refuses what the client would quietly turn into localhost:2181', () => {
      for (const bad of ['::::', '', ' ', ':2181', 'zk:', 'zk:0', 'zk:65536', 'zk:21a', '::1:2181', '[::1', '[zk]:2181', 'a,,b', ',zk:2181', 'zk:2181//x',
        'zk:2181/a/../b', 'zk:2181/zookeeper', 'zk 1:2181', 'zk_:2181:1', '/chroot', '999.1.1.1:2181', '-zk:2181']) {
        expect(typeof parseZkConnect(bad), JSON.stringify(bad)).to.equal('string');
        expect(problems({ ...minimal, zookeeper: { connect: bad } }), JSON.stringify(bad)).to.match(/zookeeper\.connect: .*(is not a ZooKeeper connect string|String must contain)|zookeeper\.connect: ".*" is not/);
      }
    });
    it('names where a bad connect string came from: BLUEGREEN_ZK_CONNECT or --zk', () => {
      const dir = mkdtempSync(join(tmpdir(), 'bg-spec-'));
      const file = join(dir, 'spec.json');
      writeFileSync(file, JSON.stringify(minimal));
      expect(() => loadSpec(file, {}, { BLUEGREEN_ZK_CONNECT: '::::' })).to.throw(UserError, /zookeeper\.connect \(from BLUEGREEN_ZK_CONNECT\): "::::" is not a ZooKeeper connect string/);
      expect(() => loadSpec(file, { zk: '::::' }, {})).to.throw(UserError, /zookeeper\.connect \(from --zk\): "::::"/);
      expect(() => loadSpec(file, { zk: '' }, {})).to.throw(UserError, /zookeeper\.connect \(from --zk\): "" is not a ZooKeeper connect string: empty/);
      expect(loadSpec(file, { zk: 'a:1,b:2/c' }, { BLUEGREEN_ZK_CONNECT: '::::' }).zookeeper.connect).to.equal('a:1,b:2/c');
    });
    it('compares ensembles whatever the order, loopback spelling or default port', () => {
      expect(zkConnectKey('b:2181,localhost/solr')).to.equal(zkConnectKey('127.0.0.1:2181,b/solr'));
      expect(zkConnectKey('a:2181/solr-legacy')).not.to.equal(zkConnectKey('a:2181/solr-new'));
    });
  });

  describe('numbers, durations and sizes have ranges, named with the value', () => {
    const cases: Array<[object, RegExp]> = [
      [{ zookeeper: { connect: 'zk:2181', sessionTimeout: 0 } }, /zookeeper\.sessionTimeout: 0 ms is out of range: allowed 2s to 10m/],
      [{ zookeeper: { connect: 'zk:2181', sessionTimeout: '1h' } }, /zookeeper\.sessionTimeout: "1h" \(3600000 ms\) is out of range: allowed 2s to 10m/],
      [{ zookeeper: { connect: 'zk:2181', connectTimeout: -1 } }, /zookeeper\.connectTimeout: -1 is not a duration in milliseconds/],
      [{ zookeeper: { connect: 'zk:2181', connectTimeout: 1.5 } }, /zookeeper\.connectTimeout: 1\.5 is not a duration/],
      [{ batch: { bytes: '0KB' } }, /batch\.bytes: "0KB" \(0 bytes\) is out of range: allowed 1KB to 100MB/],
      [{ batch: { bytes: 0 } }, /batch\.bytes: 0 bytes is out of range: allowed 1KB to 100MB/],
      [{ batch: { bytes: '2GB' } }, /batch\.bytes: "2GB" \(2147483648 bytes\) is out of range/],
      [{ batch: { bytes: NaN } }, /batch\.bytes: NaN is not a size/],
      [{ batch: { docs: 0 } }, /batch\.docs: 0 is out of range: allowed an integer from 1 to 100000/],
      [{ batch: { docs: 1e9 } }, /batch\.docs: 1000000000 is out of range/],
      [{ batch: { docs: 'many' } }, /batch\.docs: Expected number, received string \("many"\); allowed: an integer from 1 to 100000/],
      [{ slicing: { targetDocsPerSlice: Infinity } }, /slicing\.targetDocsPerSlice: Infinity is out of range/],
      [{ slicing: { targetDocsPerSlice: NaN } }, /slicing\.targetDocsPerSlice: Expected number, received nan/],
      [{ slicing: { histogramBuckets: 1 } }, /slicing\.histogramBuckets: 1 is out of range: allowed an integer from 2 to 10000/],
      [{ slicing: { minSliceWidth: '0s' } }, /slicing\.minSliceWidth: "0s" \(0 ms\) is out of range/],
      [{ worker: { docsPerSecond: -1 } }, /worker\.docsPerSecond: -1 is out of range: allowed a number from 0 to 10000000 \(0: no limit\)/],
      [{ worker: { slicesInFlight: 2.5 } }, /worker\.slicesInFlight: 2\.5 is out of range/],
      [{ worker: { maxAttempts: 0 } }, /worker\.maxAttempts: 0 is out of range/],
      [{ worker: { requestRetries: 1000 } }, /worker\.requestRetries: 1000 is out of range: allowed an integer from 0 to 100/],
      [{ verify: { rechecks: 0 } }, /verify\.rechecks: 0 is out of range/],
      [{ verify: { gracePeriod: '2d' } }, /verify\.gracePeriod: "2d" \(172800000 ms\) is out of range: allowed 0ms to 1d/],
      [{ retention: { default: 0 } }, /retention\.default: .*0 ms is out of range/],
      [{ retention: { perCustomer: { acme: '999999y' } } }, /retention\.perCustomer\.acme: .*is out of range/],
      [{ cutover: { maxVerificationAge: '1s' } }, /cutover\.maxVerificationAge: "1s" \(1000 ms\) is out of range: allowed 1m to 1y/],
      [{ status: { stuckAfter: 0 } }, /status\.stuckAfter: 0 ms is out of range/],
      [{ source: { ...minimal.source, requestTimeout: '0s' } }, /source\.requestTimeout: "0s" \(0 ms\) is out of range: allowed 1s to 1h/],
      [{ worker: { checkpointEvery: '2m' } }, /worker\.checkpointEvery: "2m" \(120000 ms\) is out of range/],
    ];
    for (const [patch, message] of cases) {
      it(JSON.stringify(patch), () => expect(problems({ ...minimal, ...patch })).to.match(message));
    }
    it('accepts the edges of every range', () => {
      const s = validateSpec({
        ...minimal, zookeeper: { connect: 'zk:2181', sessionTimeout: '2s', connectTimeout: 500 }, batch: { docs: 1, bytes: '1KB' },
        worker: { docsPerSecond: 0, slicesInFlight: 64, requestRetries: 0, keepRejections: 0, maxAttempts: 1, checkpointEvery: '0s' }, verify: { gracePeriod: 0, rechecks: 10 },
        slicing: { targetDocsPerSlice: 1, histogramBuckets: 10_000, minSliceWidth: '1ms' }, retention: { default: '200y' },
      });
      expect(s.zookeeper.sessionTimeout).to.equal(2000);
      expect(s.batch.bytes).to.equal(1024);
      expect(s.verify.gracePeriod).to.equal(0);
    });
    it('checks command-line numbers the same way (NaN, fractions, negative, out of range, twice)', () => {
      const c = numberFlag('concurrency', 1, 64);
      expect(c('8')).to.equal(8);
      expect(c(4)).to.equal(4);
      for (const bad of ['abc', 'NaN', 'Infinity', '', '2.5', '0', '65', '-1', '1e3', NaN, ['2', '3']]) {
        expect(() => c(bad), String(bad)).to.throw(UserError, /--concurrency (is|is given)/);
      }
      expect(() => c('abc')).to.throw(/--concurrency is "abc": allowed a whole number from 1 to 64/);
      expect(numberFlag('interval', 0.5, 3600, { integer: false })('0.5')).to.equal(0.5);
    });
  });
});
