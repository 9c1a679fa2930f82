/**
 * The local stack is real: each server answers, stores and returns data, and reports its version.
 */
import { expect } from 'chai';
import { Client as Es7 } from 'es7';
import { Client as Es8 } from 'es8';
import { CreateMode, ZkSession } from '../../src/coordination/zk';
import { SolrAdmin } from '../../src/demo/solrAdmin';
import { connectZk, stack, uniqueName, versionsSeen } from '../support/stack';

describe('local stack', function () {
  this.timeout(120_000);

  describe('ZooKeeper', () => {
    let a: ZkSession;
    let b: ZkSession;
    const root = `/${uniqueName('bgtest_stack')}`;
    before(async () => {
      a = await connectZk();
      b = await connectZk();
    });
    after(async () => {
      await a.removeRecursive(root);
      a.close();
      b.close();
    });

    it('creates persistent nodes, and ephemeral ones that vanish with their session', async () => {
      await a.mkdirp(`${root}/p`);
      const c = await connectZk();
      await c.create(`${root}/e`, Buffer.from('mine'), CreateMode.EPHEMERAL);
      expect((await a.getData(`${root}/e`)).data.toString()).to.equal('mine');
      const stat = await a.exists(`${root}/e`);
      expect(stat).to.not.equal(null);
      c.close();
      for (let i = 0; i < 50 && (await a.exists(`${root}/e`)); i++) await new Promise((r) => setTimeout(r, 100));
      expect(await a.exists(`${root}/e`)).to.equal(null);
      expect(await a.exists(`${root}/p`)).to.not.equal(null);
    });

    it('fires a watch in another session when data changes', async () => {
      await a.create(`${root}/w`, Buffer.from('1'));
      let fire: (name: string) => void = () => undefined;
      const fired = new Promise<string>((resolve) => (fire = resolve));
      await b.getData(`${root}/w`, (event) => fire(event.getName()));
      await a.setData(`${root}/w`, Buffer.from('2'), -1);
      expect(await fired).to.equal('NODE_DATA_CHANGED');
    });

    it('reports its version', async () => {
      const srvr = await fourLetter('srvr');
      const m = /Zookeeper version: ([0-9.]+)/.exec(srvr);
      expect(m, srvr).to.not.equal(null);
      expect(m![1]).to.match(/^3\.9\./);
      versionsSeen.set('ZooKeeper', m![1]);
    });
  });

  for (const [label, url, major] of [['Solr legacy', stack.solrLegacy, '8.'], ['Solr new', stack.solrNew, '9.']] as const) {
    describe(label, () => {
      const admin = new SolrAdmin(url);
      const coll = uniqueName('bgtest_stack');
      after(() => admin.deleteCollection(coll));

      it('reports its version', async () => {
        const v = await admin.version();
        expect(v.startsWith(major), v).to.equal(true);
        versionsSeen.set(label, v);
      });

      it('creates a collection from the project configset, indexes, commits and queries', async () => {
        await admin.createCollection(coll, 2);
        await admin.index(coll, [
          { id: 'a', customer: 'c1', timestamp: '2024-01-01T00:00:00Z', title: 'blue green', tags: ['x', 'y'], price: 1.5, quantity: 3 },
          { id: 'b', customer: 'c2', timestamp: '2024-02-01T00:00:00Z', title: 'legacy cluster' },
        ], true);
        expect(await admin.count(coll)).to.equal(2);
        expect(await admin.count(coll, 'title:green')).to.equal(1);
        const docs = await admin.all(coll, 'id,tags,price');
        expect(docs.get('a')).to.deep.include({ tags: ['x', 'y'], price: 1.5 });
      });
    });
  }

  for (const [label, url, major, Client] of [['Elasticsearch legacy', stack.esLegacy, '7.', Es7], ['Elasticsearch new', stack.esNew, '8.', Es8]] as const) {
    describe(label, () => {
      const client: any = new (Client as any)({ node: url });
      const index = uniqueName('bgtest_stack');
      after(async () => {
        await client.indices.delete({ index, ignore_unavailable: true });
        await client.close();
      });

      it('reports its version from GET /', async () => {
        const info = await client.info();
        const v = (info.body ?? info).version.number as string;
        expect(v.startsWith(major), v).to.equal(true);
        versionsSeen.set(label, v);
      });

      it('creates an index, bulk-loads, and searches', async () => {
        const mappings = { properties: { customer: { type: 'keyword' }, timestamp: { type: 'date' }, title: { type: 'text' }, n: { type: 'long' } } };
        await client.indices.create(major === '7.' ? { index, body: { mappings } } : { index, mappings });
        const ops = [
          { create: { _index: index, _id: '1' } }, { customer: 'c1', timestamp: '2024-01-01T00:00:00Z', title: 'blue green', n: 1 },
          { create: { _index: index, _id: '2', routing: 'r1' } }, { customer: 'c2', timestamp: '2024-02-01T00:00:00Z', title: 'legacy', n: 2 },
        ];
        const res = await client.bulk(major === '7.' ? { body: ops, refresh: 'true' } : { operations: ops, refresh: 'true' });
        expect((res.body ?? res).errors).to.equal(false);
        const found = await client.search(major === '7.' ? { index, body: { query: { match: { title: 'green' } } } } : { index, query: { match: { title: 'green' } } });
        const hits = (found.body ?? found).hits.hits;
        expect(hits.map((h: any) => h._id)).to.deep.equal(['1']);
      });
    });
  }
});

function fourLetter(cmd: string): Promise<string> {
  const [host, port] = stack.zk.split(':');
  return new Promise((resolve, reject) => {
    const net = require('node:net') as typeof import('node:net');
    const sock = net.connect(Number(port), host, () => sock.write(cmd));
    let out = '';
    sock.on('data', (d) => (out += d));
    sock.on('end', () => resolve(out));
    sock.on('error', reject);
  });
}
