/**
 * The Elasticsearch backend alone against the real servers, on both majors: what the fleet tests do
 * not reach (10,000 customers, refused documents, exact 64-bit values, repairs of routed documents).
 */
import { expect } from 'chai';
import { EsApi } from '../../src/backends/elasticsearch/client';
import { ElasticsearchBackend } from '../../src/backends/elasticsearch/esBackend';
import type { Endpoint } from '../../src/config/spec';
import { EsAdmin, TEST_MAPPING } from '../support/esAdmin';
import { stack, uniqueName } from '../support/stack';

const fields = { customer: 'customer', timestamp: 'timestamp', uniqueKey: 'id' };
const endpoint = (url: string, collection: string): Endpoint => ({ kind: 'elasticsearch', url, collection, requestTimeout: 30_000 });
const all = { kind: 'range' as const, from: null, to: null };

describe('Elasticsearch backend', function () {
  this.timeout(120_000);

  it('a request aborted by its signal (a worker stopping during a read-ahead) rejects, and throws nothing else, parsed or read as bytes', async () => {
    // The v7 client's own abort error used to escape, uncaught, when abort() ran inside the signal's
    // listener: a SIGTERMed worker crashed (exit 1) instead of stopping at its checkpoint.
    const api = await EsApi.open(endpoint(stack.esLegacy, 'unused'));
    const uncaught: unknown[] = [];
    const listeners = process.listeners('uncaughtException');
    process.removeAllListeners('uncaughtException');
    const seen = (e: unknown) => uncaught.push(e);
    process.on('uncaughtException', seen);
    try {
      const outcomes: string[] = [];
      // Both ways a page is read: parsed by the client, and as the answer's bytes (a raw page, asStream).
      for (const read of [api.search.bind(api), api.searchBytes.bind(api)]) {
        for (let i = 0; i < 10; i++) {
          const stop = new AbortController();
          const answer = read('_all', { size: 10, query: { match_all: {} } }, {}, AbortSignal.any([stop.signal])).then(() => 'answered', (e: Error) => `rejected: ${e.name}`);
          setTimeout(() => stop.abort(), i);
          outcomes.push(await answer);
        }
      }
      // The abort error of the old path surfaced a tick or two after the rejection.
      await new Promise((r) => setTimeout(r, 300));
      expect(outcomes.filter((o) => o !== 'answered').every((o) => o === 'rejected: AbortError'), outcomes.join(', ')).to.equal(true);
      expect(outcomes.some((o) => o !== 'answered'), 'at least one request was aborted in flight').to.equal(true);
      expect(uncaught.map(String)).to.deep.equal([]);
    } finally {
      process.removeListener('uncaughtException', seen);
      for (const l of listeners) process.on('uncaughtException', l);
      await api.close();
    }
  });

  it('finds 10,000 customers (and the documents with none) with a paged composite aggregation', async () => {
    const es = new EsAdmin(stack.esLegacy);
    const index = uniqueName('bgtest_es_many');
    await es.createIndex(index, { settings: { number_of_shards: 2, number_of_replicas: 0 }, mappings: TEST_MAPPING });
    const backend = new ElasticsearchBackend(endpoint(stack.esLegacy, index), fields, { role: 'source', customersPageSize: 2500 });
    try {
      const docs = Array.from({ length: 10_000 }, (_, i) => ({ _id: `d${i}`, source: { id: `d${i}`, customer: `customer-${String(i).padStart(5, '0')}`, timestamp: '2024-01-01T00:00:00Z' } }));
      docs.push({ _id: 'x1', source: { id: 'x1', timestamp: '2024-01-01T00:00:00Z' } as any }, { _id: 'x2', source: { id: 'x2' } as any });
      docs.push({ _id: 'd-extra', source: { id: 'd-extra', customer: 'customer-00042', timestamp: '2024-01-02T00:00:00Z' } });
      await es.index(index, docs);
      await backend.check();
      const customers = await backend.customers();
      expect(customers).to.have.length(10_001);
      expect(new Set(customers.map((c) => c.customer)).size).to.equal(10_001);
      expect(customers.find((c) => c.customer === null)).to.deep.equal({ customer: null, count: 2 });
      expect(customers.find((c) => c.customer === 'customer-00042')!.count).to.equal(2);
      expect(customers.reduce((s, c) => s + c.count, 0)).to.equal(docs.length);
      expect(await backend.count(null, { kind: 'no-timestamp' })).to.equal(1);
    } finally {
      await backend.close();
      await es.deleteIndex(index);
    }
  });

  for (const [label, url] of [['7.17', stack.esLegacy], ['8.19', stack.esNew]] as const) {
    describe(`on ${label}`, () => {
      const es = new EsAdmin(url);
      const index = uniqueName('bgtest_es_backend');
      let backend: ElasticsearchBackend;

      before(async () => {
        await es.createIndex(index, { settings: { number_of_shards: 5, number_of_replicas: 0 }, mappings: TEST_MAPPING });
        backend = new ElasticsearchBackend(endpoint(url, index), fields, { role: 'target' });
        await backend.check();
        expect(await backend.version()).to.match(new RegExp(`^${label.replace('.', '\\.')}\\.`));
      });
      after(async () => {
        await backend.close();
        await es.deleteIndex(index);
      });

      it('writes create-only, skips what exists, and records the documents the mapping refuses', async () => {
        const docs = ['a', 'b', 'c'].map((id) => ({ id, fields: { id, customer: 'k', price: id === 'b' ? 'not a number' : 1.5 }, bytes: 50 }));
        const first = await backend.writeBatch(docs);
        expect(first.written).to.equal(2);
        expect(first.skipped).to.equal(0);
        expect(first.rejected).to.have.length(1);
        expect(first.rejected[0].id).to.equal('b');
        expect(first.rejected[0].reason).to.match(/parsing_exception.*price/);
        const again = await backend.writeBatch(docs);
        expect(again).to.deep.equal({ written: 0, skipped: 2, rejected: [again.rejected[0]] });
      });

      it('keeps 64-bit integers exact from source to target', async () => {
        const raw = '{"id":"big","customer":"k","quantity":9007199254740993,"timestamp":"2024-05-05T00:00:00Z"}';
        await fetch(`${url}/${index}/_doc/big?refresh=true`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: raw });
        const page = await backend.readPage('k', all, null, 10);
        const big = page.docs.find((d) => d.id === 'big')!;
        expect(String(big.fields.quantity)).to.equal('9007199254740993');
        const copy = new ElasticsearchBackend(endpoint(url, `${index}_copy`), fields, { role: 'target' });
        await es.createIndex(`${index}_copy`, { settings: { number_of_shards: 1, number_of_replicas: 0 }, mappings: TEST_MAPPING });
        try {
          expect((await copy.writeBatch([big])).written).to.equal(1);
          const text = await (await fetch(`${url}/${index}_copy/_doc/big`)).text();
          expect(text).to.contain('"quantity":9007199254740993');
        } finally {
          await copy.close();
          await es.deleteIndex(`${index}_copy`);
        }
      });

      it('finds routed documents that a plain mget misses, and repairs them only while unchanged', async () => {
        const ids = Array.from({ length: 20 }, (_, i) => `routed-${i}`);
        await es.index(index, ids.map((id, i) => ({ _id: id, routing: `tenant-${i}`, source: { id, customer: 'k', title: 'v1' } })));
        // Without routing, mget looks on the shard the id hashes to: some of these live elsewhere.
        const plain: any = await (await fetch(`${url}/${index}/_mget`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ids }) })).json();
        expect(plain.docs.filter((d: any) => !d.found).length, 'the fallback has something to find').to.be.greaterThan(0);

        const got = await backend.getByIds([...ids, 'nobody']);
        expect([...got.keys()].sort()).to.deep.equal([...ids].sort());
        const v = got.get('routed-3')!;
        expect(v.doc.routing).to.equal('tenant-3');
        expect(v.version).to.match(/^\d+:\d+$/);

        expect(await backend.replaceIfUnchanged({ ...v.doc, fields: { ...v.doc.fields, title: 'repaired' } }, v.version)).to.equal('applied');
        expect((await es.get(index, 'routed-3', 'tenant-3'))!.source.title).to.equal('repaired');
        // Our token is stale now: a second repair (or one racing a live write) is refused.
        expect(await backend.replaceIfUnchanged({ ...v.doc, fields: { ...v.doc.fields, title: 'clobber' } }, v.version)).to.equal('conflict');
        expect((await es.get(index, 'routed-3', 'tenant-3'))!.source.title).to.equal('repaired');

        const w = got.get('routed-4')!;
        await es.index(index, [{ _id: 'routed-4', routing: 'tenant-4', source: { id: 'routed-4', customer: 'k', title: 'live write' } }]);
        expect(await backend.deleteIfUnchanged('routed-4', w.version, 'tenant-4')).to.equal('conflict');
        expect(await es.get(index, 'routed-4', 'tenant-4')).to.not.equal(null);
        const fresh = (await backend.getByIds(['routed-4'])).get('routed-4')!;
        expect(await backend.deleteIfUnchanged('routed-4', fresh.version, 'tenant-4')).to.equal('applied');
        expect(await es.get(index, 'routed-4', 'tenant-4')).to.equal(null);
      });
    });
  }
});
