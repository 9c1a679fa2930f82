/**
 * A resumed page the target already holds (issue 15): a worker killed after writing a page but before
 * its checkpoint reads that page again. On a Solr 8 target (which answers a whole batch with 409 when
 * one document exists on another shard's leader) the old worker halved the batch until each conflict
 * stood alone: 2n−1 update requests. Now each shard's documents go to its leader (shardRouting.ts),
 * which skips what it holds without a 409 and answers which documents it added: one request per shard,
 * every document counted skipped, none overwritten. Counted by Solr's own request metrics.
 */
import { expect } from 'chai';
import { SolrBackend } from '../../src/backends/solr/solrBackend';
import type { SourceDoc } from '../../src/backends/types';
import { SolrAdmin } from '../../src/demo/solrAdmin';
import { stack, uniqueName } from '../support/stack';

describe('a resumed page already in a Solr 8 target', function () {
  this.timeout(120_000);
  // The legacy node is Solr 8.11: here it plays a Solr 8 target.
  const solr8 = new SolrAdmin(stack.solrLegacy);
  const collection = uniqueName('bgtest_resumed');
  const fields = { customer: 'customer', timestamp: 'timestamp', uniqueKey: 'id' };
  const target = new SolrBackend({ kind: 'solr', url: stack.solrLegacy, collection, requestTimeout: 30_000 } as any, fields);

  /** Update requests the collection's cores have served (Solr's metrics), and the documents. */
  async function updateRequests(): Promise<number> {
    const res = await fetch(`${stack.solrLegacy}/admin/metrics?group=core&prefix=UPDATE./update.requests&wt=json`);
    const metrics = ((await res.json()) as any).metrics as Record<string, Record<string, number>>;
    return Object.entries(metrics).filter(([core]) => core.startsWith(`solr.core.${collection}.`))
      .reduce((n, [, m]) => n + Number(m['UPDATE./update.requests'] ?? 0), 0);
  }

  const docs: SourceDoc[] = Array.from({ length: 64 }, (_, i) => {
    const fieldsOf = { id: `r-${String(i).padStart(3, '0')}`, customer: 'acme', timestamp: '2025-01-01T00:00:00Z', title: `doc ${i}` };
    return { id: fieldsOf.id, fields: fieldsOf, bytes: JSON.stringify(fieldsOf).length };
  });

  before(async () => {
    await solr8.createCollection(collection, 2);
  });
  after(async () => {
    await solr8.deleteCollection(collection);
  });

  it('costs one update request per shard, counts every document skipped, and overwrites none', async () => {
    const start = await updateRequests();
    const first = await target.writeBatch(docs);
    expect(first).to.deep.include({ written: docs.length, skipped: 0 });
    expect((await updateRequests()) - start, 'the metric counts this collection\'s update requests').to.be.at.least(1);
    await target.refresh();
    // The application changed some of them since (a live write): they must keep that content.
    await solr8.index(collection, docs.slice(0, 5).map((d) => ({ ...d.fields, title: 'live' })), true);
    const before = await updateRequests();
    const again = await target.writeBatch(docs);
    const sent = (await updateRequests()) - before;
    expect(again).to.deep.equal({ written: 0, skipped: docs.length, rejected: [] });
    expect(sent, 'update requests for a page the target holds in full (2 shards)').to.equal(2);
    const all = await solr8.all(collection, 'id,title');
    expect(all.size).to.equal(docs.length);
    for (const d of docs.slice(0, 5)) expect(all.get(d.id)!.title).to.equal('live');
  });

  it('a page the target holds in part: one request per shard, only the missing documents counted written', async () => {
    const more: SourceDoc[] = Array.from({ length: 16 }, (_, i) => {
      const f = { id: `n-${String(i).padStart(3, '0')}`, customer: 'acme', timestamp: '2025-01-02T00:00:00Z', title: `new ${i}` };
      return { id: f.id, fields: f, bytes: JSON.stringify(f).length };
    });
    const before = await updateRequests();
    const r = await target.writeBatch([...docs, ...more]);
    const sent = (await updateRequests()) - before;
    expect(r).to.deep.equal({ written: more.length, skipped: docs.length, rejected: [] });
    // One request to each shard's leader, none forwarded.
    expect(sent).to.equal(2);
    await target.refresh();
    expect(await solr8.count(collection)).to.equal(docs.length + more.length);
  });
});
