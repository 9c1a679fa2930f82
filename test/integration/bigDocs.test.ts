/**
 * Memory bounded by configuration, not by the data (issue 15), on the real stack (Solr 8 → Solr 9):
 * a mix with 5 MB documents copied and verified by processes held to a 256 MB heap; a document larger
 * than batch.bytes written alone; a document larger than the target accepts rejected with its size
 * while the slice goes on.
 */
import { expect } from 'chai';
import { HttpClient } from '../../src/backends/http';
import { Layout } from '../../src/coordination/layout';
import type { ZkSession } from '../../src/coordination/zk';
import { SolrAdmin } from '../../src/demo/solrAdmin';
import type { VerifyReport } from '../../src/verifier/verifier';
import { logLines, run, writeSpec } from '../support/cli';
import { allSlices } from '../support/fleet';
import { connectZk, stack, uniqueName } from '../support/stack';

const MB = 1024 * 1024;
const http = new HttpClient({ timeoutMs: 120_000, json: 'plain' });
/** A worker process as the Helm chart's memory limit would hold it. */
const SMALL_HEAP = { NODE_OPTIONS: '--max-old-space-size=256' };
const WORDS = ['search', 'cluster', 'shard', 'replica', 'cursor', 'slice', 'migration', 'verify', 'green', 'blue', 'legacy', 'index'];

/** About `bytes` of words, different for every seed. */
function text(bytes: number, seed: number): string {
  const parts: string[] = [];
  let n = 0;
  for (let i = 0; n < bytes; i++) {
    const w = `${WORDS[(i * 7 + seed) % WORDS.length]}${(i * 31 + seed) % 997}`;
    parts.push(w);
    n += w.length + 1;
  }
  return parts.join(' ');
}

const small = (customer: string, i: number) => ({
  id: `${customer}-${String(i).padStart(6, '0')}`, customer, timestamp: new Date(Date.UTC(2024, 0, 1) + i * 60_000).toISOString(),
  title: `document ${i}`, price: i / 4,
});
const big = (customer: string, i: number, bytes: number) => ({ ...small(customer, i), body: text(bytes, i) });

describe('big documents: memory bounded by batch.bytes (Solr 8 → 9)', function () {
  this.timeout(900_000);
  const legacy = new SolrAdmin(stack.solrLegacy);
  const next = new SolrAdmin(stack.solrNew);
  const root = `/${uniqueName('bgtest_big')}`;
  const collections: string[] = [];
  const configsets: string[] = [];
  let zk: ZkSession;

  const createPair = async (prefix: string, targetConfigSet = 'bluegreen') => {
    const c = uniqueName(prefix);
    collections.push(c);
    await Promise.all([legacy.createCollection(c, 2), next.createCollection(c, 2, targetConfigSet)]);
    return c;
  };
  const index = async (collection: string, docs: Array<Record<string, unknown>>) => {
    // Large documents one per request (the Solr heap is small), the rest in bulk.
    await legacy.index(collection, docs.filter((d) => d.body === undefined));
    for (const d of docs.filter((x) => x.body !== undefined)) await legacy.index(collection, [d]);
    await legacy.commit(collection);
  };
  const migration = (collection: string, extra: object = {}) => {
    const name = uniqueName('big');
    const spec = writeSpec({
      migration: name,
      zookeeper: { connect: stack.zk, root },
      source: { kind: 'solr', url: stack.solrLegacy, collection },
      target: { kind: 'solr', url: stack.solrNew, collection },
      slicing: { targetDocsPerSlice: 1000 },
      verify: { gracePeriod: '1s' },
      ...extra,
    });
    return { name, spec, layout: new Layout(root, name) };
  };

  before(async () => {
    zk = await connectZk();
  });

  after(async () => {
    await zk.removeRecursive(root);
    zk.close();
    for (const c of collections) await Promise.all([legacy.deleteCollection(c), next.deleteCollection(c)]);
    for (const name of configsets) await http.request('GET', `${stack.solrNew}/admin/configs?action=DELETE&name=${name}&wt=json`).catch(() => undefined);
  });

  it('copies and verifies 6 × 5 MB documents among 2,000 small ones, worker and verifier under --max-old-space-size=256, default batch settings', async () => {
    const c = await createPair('bgtest_bigmix');
    const docs: Array<Record<string, unknown>> = [];
    // The big documents sit among the small ones (every 400th), two of them next to each other.
    for (let i = 0; i < 2000; i++) docs.push(i % 400 === 7 || i === 1208 ? big('mix', i, 5 * MB) : small('mix', i));
    const bigCount = docs.filter((d) => d.body !== undefined).length;
    expect(bigCount).to.equal(6);
    await index(c, docs);
    const m = migration(c);
    const plan = await run(['plan', '--spec', m.spec]);
    expect(plan.code, plan.stderr).to.equal(0);

    const work = await run(['work', '--spec', m.spec], { ...SMALL_HEAP, BLUEGREEN_LOG_LEVEL: 'debug' });
    expect(work.code, work.stderr.slice(-3000)).to.equal(0);
    const slices = await allSlices(zk, m.layout);
    expect(slices.every((s) => s.node.status === 'done')).to.equal(true);
    expect(slices.reduce((n, s) => n + s.node.counts.written, 0)).to.equal(docs.length);
    expect(slices.reduce((n, s) => n + s.node.counts.rejected, 0)).to.equal(0);
    // No write carried more than batch.bytes unless it was one document alone.
    const writes = logLines(work.stderr).filter((l) => l.msg === 'writing a batch' || l.msg === 'writing a document larger than batch.bytes alone');
    expect(writes.reduce((n, w) => n + w.docs, 0)).to.equal(docs.length);
    for (const w of writes) if (w.docs > 1) expect(w.bytes, `batch ${w.from}..${w.to}`).to.be.at.most(8 * MB);

    const verify = await run(['verify-integrity', '--spec', m.spec, '--json'], SMALL_HEAP);
    expect(verify.code, verify.stderr.slice(-3000)).to.equal(0);
    const report = JSON.parse(verify.stdout) as VerifyReport;
    expect(report.run.status).to.equal('passed');
    expect(report.run.totals).to.include({ missing: 0, extra: 0, different: 0 });
    const copied = await next.all(c, 'id,body');
    expect(copied.size).to.equal(docs.length);
    for (const d of docs.filter((x) => x.body !== undefined)) expect(copied.get(String(d.id))?.body, String(d.id)).to.equal(d.body);
  });

  it('writes a document larger than batch.bytes alone, the documents around it in batches', async () => {
    const c = await createPair('bgtest_bigalone');
    const docs = Array.from({ length: 61 }, (_, i) => (i === 30 ? big('alone', i, 2 * MB) : small('alone', i)));
    const bigId = String(docs[30].id);
    await index(c, docs);
    const m = migration(c, { batch: { docs: 500, bytes: '1MB' } });
    expect((await run(['plan', '--spec', m.spec])).code).to.equal(0);
    const work = await run(['work', '--spec', m.spec], { BLUEGREEN_LOG_LEVEL: 'debug' });
    expect(work.code, work.stderr.slice(-3000)).to.equal(0);
    const writes = logLines(work.stderr).filter((l) => l.msg === 'writing a batch' || l.msg === 'writing a document larger than batch.bytes alone');
    const covering = writes.filter((w) => w.from <= bigId && bigId <= w.to);
    expect(covering, JSON.stringify(writes)).to.have.length(1);
    expect(covering[0]).to.include({ docs: 1, from: bigId, to: bigId, msg: 'writing a document larger than batch.bytes alone' });
    expect(covering[0].bytes).to.be.above(2 * MB - 1000);
    // The small ones before and after it still travel together.
    expect(writes.filter((w) => w.docs > 1).length).to.be.at.least(1);
    expect(writes.reduce((n, w) => n + w.docs, 0)).to.equal(docs.length);
    await next.commit(c);
    expect(await next.count(c)).to.equal(docs.length);
  });

  it('records a document larger than the target accepts as rejected with its size, and finishes the slice', async () => {
    // The target refuses documents over 512 KB (Solr's IgnoreLargeDocumentProcessorFactory as the
    // default of /update, set through the Config API on a configset of its own).
    const configset = uniqueName('bgtest_maxdoc');
    configsets.push(configset);
    await http.request('GET', `${stack.solrNew}/admin/configs?action=CREATE&name=${configset}&baseConfigSet=bluegreen&wt=json`);
    const c = await createPair('bgtest_bigrefused', configset);
    await http.request('POST', `${stack.solrNew}/${c}/config?wt=json`, JSON.stringify({
      'add-updateprocessor': { name: 'maxdoc', class: 'solr.IgnoreLargeDocumentProcessorFactory', limit: 512 },
      'update-requesthandler': { name: '/update', class: 'solr.UpdateRequestHandler', defaults: { processor: 'maxdoc' } },
    }));
    const docs = Array.from({ length: 120 }, (_, i) => (i === 50 ? big('refused', i, MB) : small('refused', i)));
    const bigId = String(docs[50].id);
    await index(c, docs);
    // The limit is in force on the target (the Config API applies it asynchronously, core by core).
    const probe = { ...big('probe', 0, MB), id: 'probe-too-large' };
    for (let i = 0; ; i++) {
      const refused = await next.index(c, [probe]).then(() => false, (e: Error) => /too large/.test(e.message));
      if (refused) break;
      await next.deleteById(c, [probe.id]);
      if (i > 60) throw new Error('the target never applied its document size limit');
      await new Promise((r) => setTimeout(r, 500));
    }
    const m = migration(c);
    expect((await run(['plan', '--spec', m.spec])).code).to.equal(0);
    const work = await run(['work', '--spec', m.spec]);
    expect(work.code, work.stderr.slice(-3000)).to.equal(0);
    const slices = await allSlices(zk, m.layout);
    expect(slices.every((s) => s.node.status === 'done'), JSON.stringify(slices.map((s) => s.node.lastError))).to.equal(true);
    const counts = slices.reduce((a, s) => ({ written: a.written + s.node.counts.written, rejected: a.rejected + s.node.counts.rejected }), { written: 0, rejected: 0 });
    expect(counts).to.deep.equal({ written: docs.length - 1, rejected: 1 });
    const rejection = slices.flatMap((s) => s.node.rejections)[0];
    expect(rejection.id).to.equal(bigId);
    expect(rejection.reason).to.match(/^document of 1(\.\d+)?MB \(\d+ bytes\) too large for the target: Size of the document .* is too large/);
    expect(slices.reduce((n, s) => n + (s.node.failures ?? 0), 0), 'not retried').to.equal(0);
    await next.commit(c);
    expect(await next.count(c)).to.equal(docs.length - 1);
  });
});
