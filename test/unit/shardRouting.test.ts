/** Solr's compositeId routing, computed here (shardRouting.ts); its agreement with Solr's own placement is tested on the real servers (solrShardRouting). */
import { expect } from 'chai';
import { compositeIdHash, murmur3, parseRange, routeOf, shardRoutes } from '../../src/backends/solr/shardRouting';

describe('shard routing (compositeId)', () => {
  it('murmur3 x86 32 with seed 0 gives the published values', () => {
    expect(murmur3('')).to.equal(0);
    expect(murmur3('hello') >>> 0).to.equal(0x248bfa47);
    expect(murmur3('The quick brown fox jumps over the lazy dog') >>> 0).to.equal(0x2e4ff723);
  });

  it('a plain id hashes whole; tenant!doc shares its top 16 bits with the tenant\'s other documents', () => {
    expect(compositeIdHash('doc-1')).to.equal(murmur3('doc-1'));
    const a = compositeIdHash('acme!1');
    const b = compositeIdHash('acme!2');
    expect(a >>> 16).to.equal(b >>> 16).and.to.equal(murmur3('acme') >>> 16);
    expect(a & 0xffff).to.equal(murmur3('1') & 0xffff);
    expect(a).to.not.equal(b);
  });

  it('tenant/N!doc takes N bits from the tenant; a!b!c takes 8 + 8', () => {
    const h = compositeIdHash('acme/4!1');
    expect(h >>> 28).to.equal(murmur3('acme') >>> 28);
    expect(h & 0x0fffffff).to.equal(murmur3('1') & 0x0fffffff);
    const t = compositeIdHash('a!b!c');
    expect(t >>> 24).to.equal(murmur3('a') >>> 24);
    expect((t >>> 16) & 0xff).to.equal((murmur3('b') >>> 16) & 0xff);
    expect(t & 0xffff).to.equal(murmur3('c') & 0xffff);
    expect(compositeIdHash('acme/0!1')).to.equal(murmur3('1'));
  });

  it('an id ending in ! has an empty last part', () => {
    expect(compositeIdHash('acme!')).to.equal(((murmur3('acme') & 0xffff0000) | (murmur3('') & 0xffff)) | 0);
  });

  it('ranges are signed 32-bit, as Solr writes them', () => {
    expect(parseRange('80000000-ffffffff')).to.deep.equal({ min: -0x80000000, max: -1 });
    expect(parseRange('0-7fffffff')).to.deep.equal({ min: 0, max: 0x7fffffff });
    expect(parseRange('x-y')).to.equal(null);
    expect(parseRange(undefined)).to.equal(null);
    expect(parseRange('7fffffff-0')).to.equal(null);
  });

  const state = (over: Record<string, unknown> = {}) => ({
    router: { name: 'compositeId' },
    shards: {
      shard1: { range: '80000000-ffffffff', state: 'active', replicas: { r1: { core: 'c_shard1_replica_n1', node_name: 'h:8983_solr', base_url: 'http://h:8983/solr', state: 'active', leader: 'true' } } },
      shard2: { range: '0-7fffffff', state: 'active', replicas: { r2: { core: 'c_shard2_replica_n2', node_name: 'h:8983_solr', base_url: 'http://h:8983/solr', state: 'active', leader: 'true' } } },
    },
    ...over,
  });
  const live = new Set(['h:8983_solr']);
  const baseOf = (r: any) => r.base_url;

  it('routes every id to the active shard whose range holds its hash, at the leader core', () => {
    const routes = shardRoutes(state(), live, baseOf)!;
    expect(routes.map((r) => r.leader)).to.deep.equal(['http://h:8983/solr/c_shard1_replica_n1', 'http://h:8983/solr/c_shard2_replica_n2']);
    for (const id of ['a', 'b', 'acme!1', 'zeta!9!x', 'doc-123']) {
      const r = routeOf(routes, id)!;
      const h = compositeIdHash(id);
      expect(h >= r.min && h <= r.max, id).to.equal(true);
      expect(r.name).to.equal(h < 0 ? 'shard1' : 'shard2');
    }
  });

  it('does not route what Solr routes otherwise or cannot take directly', () => {
    expect(shardRoutes(state({ router: { name: 'implicit' } }), live, baseOf)).to.equal(null);
    expect(shardRoutes(state({ router: { name: 'compositeId', field: 'customer' } }), live, baseOf)).to.equal(null);
    expect(shardRoutes(state(), new Set(['other:8983_solr']), baseOf), 'leader on a node that is not live').to.equal(null);
    const noLeader = state();
    (noLeader.shards as any).shard2.replicas.r2.leader = 'false';
    expect(shardRoutes(noLeader, live, baseOf)).to.equal(null);
    const down = state();
    (down.shards as any).shard1.replicas.r1.state = 'recovering';
    expect(shardRoutes(down, live, baseOf)).to.equal(null);
  });

  it('a shard split under way: the inactive parent is left out; an id no active range holds has no route', () => {
    const s = state();
    (s.shards as any).shard2.state = 'inactive';
    const routes = shardRoutes(s, live, baseOf)!;
    expect(routes.map((r) => r.name)).to.deep.equal(['shard1']);
    const positive = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'].find((id) => compositeIdHash(id) >= 0)!;
    expect(routeOf(routes, positive)).to.equal(null);
  });
});
