/**
 * A Solr target's writes go straight to each shard's leader (issue 15, shardRouting.ts): the shard
 * computed here for every id must be the one Solr itself puts the document in (Solr 8 and 9, plain
 * and composite ids, non-ASCII ids), and a batch of one shard's documents must cost that shard one
 * update request and no other core any (through the endpoint, the node's first core takes it and
 * forwards it: two). Counted by Solr's own request metrics, placement read back with `[shard]`.
 */
import { expect } from 'chai';
import { SolrBackend } from '../../src/backends/solr/solrBackend';
import { routeOf, shardRoutes, type ShardRoute } from '../../src/backends/solr/shardRouting';
import type { SourceDoc } from '../../src/backends/types';
import { SolrAdmin } from '../../src/demo/solrAdmin';
import { stack, uniqueName } from '../support/stack';

const fields = { customer: 'customer', timestamp: 'timestamp', uniqueKey: 'id' };

function doc(id: string): SourceDoc {
  const f = { id, customer: 'acme', timestamp: '2025-01-01T00:00:00Z', title: `doc ${id}` };
  return { id, fields: f, bytes: Buffer.byteLength(JSON.stringify(f)) };
}

/** Ids of every shape the compositeId router knows. */
function ids(): string[] {
  const out: string[] = [];
  for (let i = 0; i < 120; i++) out.push(`doc-${i}`);
  for (const t of ['acme', 'globex', 'initech', 'umbrella']) for (let i = 0; i < 20; i++) out.push(`${t}!${i}`);
  for (let i = 0; i < 20; i++) out.push(`acme/4!b${i}`, `acme/2!c${i}`, `r${i % 3}!u${i % 5}!d${i}`, `r${i}/3!u/2!e${i}`);
  for (let i = 0; i < 20; i++) out.push(`ünï-cødé-${i}`, `日本-${i}`, `emoji-😀-${i}`, `tenant${i}!`);
  return out;
}

for (const [name, url] of [['Solr 8', stack.solrLegacy], ['Solr 9', stack.solrNew]] as const) {
  describe(`writes straight to the shard leaders of a ${name} target`, function () {
    this.timeout(120_000);
    const admin = new SolrAdmin(url);
    const collection = uniqueName('bgtest_route');
    const target = new SolrBackend({ kind: 'solr', url, collection, requestTimeout: 30_000 } as any, fields);
    let routes: ShardRoute[];

    async function clusterRoutes(): Promise<ShardRoute[]> {
      const st = (await (await fetch(`${url}/admin/collections?action=CLUSTERSTATUS&collection=${collection}&wt=json`)).json()) as any;
      return shardRoutes(st.cluster.collections[collection], new Set(st.cluster.live_nodes), (r) => r.base_url ?? `http://${String(r.node_name).replace('_', '/')}`)!;
    }

    /** Update requests each core of the collection has served (Solr's metrics), by core name. */
    async function updateRequests(): Promise<Map<string, number>> {
      const res = await fetch(`${url}/admin/metrics?group=core&prefix=UPDATE./update.requests&wt=json`);
      const metrics = ((await res.json()) as any).metrics as Record<string, Record<string, number>>;
      const out = new Map<string, number>();
      for (const [key, m] of Object.entries(metrics)) {
        // solr.core.<collection>.<shard>.<replica>: the core <collection>_<shard>_<replica>.
        if (key.startsWith(`solr.core.${collection}.`)) out.set(key.slice('solr.core.'.length).replaceAll('.', '_'), Number(m['UPDATE./update.requests'] ?? 0));
      }
      return out;
    }

    before(async () => {
      await admin.createCollection(collection, 3);
      routes = await clusterRoutes();
      expect(routes, 'CLUSTERSTATUS of a 3-shard compositeId collection gives a route per shard').to.have.length(3);
    });
    after(async () => {
      await admin.deleteCollection(collection);
    });

    it('every document lands in the shard computed for it, and every one is written once', async () => {
      const all = ids();
      const r = await target.writeBatch(all.map(doc));
      expect(r).to.deep.equal({ written: all.length, skipped: 0, rejected: [] });
      await target.refresh();
      const placed = await admin.all(collection, 'id,[shard]');
      expect(placed.size).to.equal(all.length);
      const wrong: string[] = [];
      for (const id of all) {
        const shard = String(placed.get(id)?.['[shard]'] ?? '');
        // [shard] names the shard (Solr 8 and 9 on one node), or a replica's URL ending in its core.
        const route = routeOf(routes, id)!;
        if (shard !== route.name && !shard.includes(decodeURIComponent(route.leader.split('/').pop()!))) wrong.push(`${id} → ${shard}, computed ${route.name}`);
      }
      expect(wrong, 'documents Solr placed in another shard than the one computed').to.deep.equal([]);
      for (const id of all.slice(0, 5)) expect(placed.get(id)!.id).to.equal(id);
    });

    it('documents a live write put there first (not yet committed) are skipped, counted skipped, and keep their content', async () => {
      const live = Array.from({ length: 12 }, (_, i) => ({ id: `live-${i}`, customer: 'acme', timestamp: '2025-01-01T00:00:00Z', title: 'live' }));
      await admin.index(collection, live, false);
      const batch = [...live.map((d) => doc(d.id)), ...Array.from({ length: 20 }, (_, i) => doc(`fresh-${i}`))];
      const r = await target.writeBatch(batch);
      expect(r).to.deep.equal({ written: 20, skipped: live.length, rejected: [] });
      await target.refresh();
      const got = await admin.all(collection, 'id,title');
      for (const d of live) expect(got.get(d.id)?.title, d.id).to.equal('live');
      expect(got.get('fresh-3')?.title).to.equal('doc fresh-3');
    });

    it('a batch of one shard\'s documents costs that shard one update request and no other core any', async () => {
      for (const route of routes) {
        const mine: SourceDoc[] = [];
        for (let i = 0; mine.length < 30; i++) {
          const id = `one-shard-${i}`;
          if (routeOf(routes, id)!.name === route.name) mine.push(doc(id));
        }
        const before = await updateRequests();
        const r = await target.writeBatch(mine);
        expect(r.written).to.equal(mine.length);
        const after = await updateRequests();
        const core = decodeURIComponent(route.leader.split('/').pop()!);
        const grew = [...after].filter(([c, n]) => n !== (before.get(c) ?? 0)).map(([c, n]) => [c, n - (before.get(c) ?? 0)]);
        expect(grew, `update requests by core for a batch of ${route.name}'s documents`).to.deep.equal([[core, 1]]);
      }
      await target.refresh();
      expect(await admin.count(collection)).to.equal(ids().length + 32 + 30 * routes.length);
    });

    it('a leader replaced after the routes were read: its shard\'s documents go through the endpoint, each written once, and the next batch goes to the new leader', async () => {
      // Routes held for an hour: the replaced leader is still the one this writer knows.
      const writer = new SolrBackend({ kind: 'solr', url, collection, requestTimeout: 30_000 } as any, fields, [], 10_000, { routesTtlMs: 3_600_000 });
      const route = routes[0];
      const ofShard = (prefix: string, n: number, shard: string) => {
        const out: SourceDoc[] = [];
        for (let i = 0; out.length < n; i++) if (routeOf(routes, `${prefix}-${i}`)!.name === shard) out.push(doc(`${prefix}-${i}`));
        return out;
      };
      expect(await writer.writeBatch(ofShard('moved-a', 10, route.name))).to.deep.equal({ written: 10, skipped: 0, rejected: [] });

      const oldCore = decodeURIComponent(route.leader.split('/').pop()!);
      const collections = async (params: string) => {
        const res = await fetch(`${url}/admin/collections?${params}&wt=json`);
        const body = (await res.json()) as any;
        expect(res.status, `${params}: ${JSON.stringify(body.error ?? body)}`).to.equal(200);
        return body;
      };
      const replicas = async () => (await collections(`action=CLUSTERSTATUS&collection=${collection}`)).cluster.collections[collection].shards[route.name].replicas as Record<string, any>;
      const oldReplica = Object.entries(await replicas()).find(([, r]) => r.core === oldCore)![0];
      await target.refresh(); // the new replica copies what is committed
      await collections(`action=ADDREPLICA&collection=${collection}&shard=${route.name}&waitForFinalState=true`);
      await collections(`action=DELETEREPLICA&collection=${collection}&shard=${route.name}&replica=${oldReplica}`);
      let fresh: ShardRoute[] | null = routes;
      for (const deadline = Date.now() + 60_000; ; ) {
        fresh = await clusterRoutes(); // null while a shard has no active leader
        const now = fresh?.find((r) => r.name === route.name);
        if (now && !now.leader.endsWith(`/${oldCore}`)) break;
        if (Date.now() > deadline) throw new Error(`shard ${route.name} has no new leader 60 s after its leader's replica was deleted`);
        await new Promise((r) => setTimeout(r, 250));
      }
      const newCore = decodeURIComponent(fresh!.find((r) => r.name === route.name)!.leader.split('/').pop()!);

      // The writer still sends this shard's documents to the deleted core: refused, then the endpoint.
      const moved = [...ofShard('moved-b', 10, route.name), ...ofShard('moved-b-other', 5, routes[1].name)];
      expect(await writer.writeBatch(moved)).to.deep.equal({ written: moved.length, skipped: 0, rejected: [] });
      // Routes read again after the failure: the next batch of the shard is one request at its new leader.
      const before = await updateRequests();
      const next = ofShard('moved-c', 10, route.name);
      expect(await writer.writeBatch(next)).to.deep.equal({ written: 10, skipped: 0, rejected: [] });
      const after = await updateRequests();
      const grew = [...after].filter(([c, n]) => n !== (before.get(c) ?? 0)).map(([c, n]) => [c, n - (before.get(c) ?? 0)]);
      expect(grew, 'update requests by core for the next batch').to.deep.equal([[newCore, 1]]);

      await target.refresh();
      const got = await admin.all(collection, 'id,title');
      for (const d of [...moved, ...next]) expect(got.get(d.id)?.title, d.id).to.equal(`doc ${d.id}`);
      expect(got.size).to.equal(ids().length + 32 + 30 * routes.length + 10 + moved.length + next.length);
    });
  });
}
