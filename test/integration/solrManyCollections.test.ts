/**
 * One collection into many on a Solr target (issue 17, target.indexPattern): a Solr 8 collection
 * holding several days copied into daily Solr 9 collections chosen by the timestamp, each created on
 * demand (two workers at once; one day existing already) with the configset and shards of target.collection, the
 * template; every document in the collection of its day exactly as stored; verified across the set,
 * a document altered in one daily collection reported `different` and repaired there; the read alias
 * on every daily collection after cutover; a document without the field rejected with its reason;
 * target.optimize merging every collection of the set; Solr's "already exists" from a racing creator
 * taken in stride; a document deleted live taken out of its daily collection again.
 */
import { expect } from 'chai';
import { exactJson } from '../../src/backends/exactJson';
import { HttpClient } from '../../src/backends/http';
import { Layout } from '../../src/coordination/layout';
import type { ZkSession } from '../../src/coordination/zk';
import { generateDocs } from '../../src/demo/dataset';
import { SolrAdmin } from '../../src/demo/solrAdmin';
import { EXIT } from '../../src/errors';
import { canonicalContent } from '../../src/verifier/diff';
import { reportIds, run, start, verifyJson, writeSpec } from '../support/cli';
import { allSlices, waitFor } from '../support/fleet';
import { Gate } from '../support/gate';
import { connectZk, stack, uniqueName } from '../support/stack';

const none = new Set<string>();
const plain = new HttpClient({ timeoutMs: 60_000, json: 'plain' });

/** Every document of a collection as Solr gives it, parsed with its number texts kept (exactJson), without `_version_`. */
async function stored(base: string, collection: string): Promise<Map<string, Record<string, unknown>>> {
  const out = new Map<string, Record<string, unknown>>();
  let cursor = '*';
  for (;;) {
    const res = await fetch(`${base}/${collection}/select?q=*:*&sort=id+asc&rows=1000&fl=*&wt=json&cursorMark=${encodeURIComponent(cursor)}`);
    expect(res.status, `select ${collection}`).to.equal(200);
    const body = exactJson.parse(await res.text());
    for (const d of body.response.docs as Array<Record<string, unknown>>) {
      delete d._version_;
      out.set(String(d.id), d);
    }
    if (body.nextCursorMark === cursor) return out;
    cursor = String(body.nextCursorMark);
  }
}

describe('one collection into many: a Solr 8 collection into daily Solr 9 collections (target.indexPattern)', function () {
  this.timeout(300_000);
  const legacy = new SolrAdmin(stack.solrLegacy);
  const next = new SolrAdmin(stack.solrNew);
  const monthly = uniqueName('bgtest_smc_month');
  const template = uniqueName('bgtest_smc_template');
  const daily = uniqueName('bgtest_smc_day');
  const raced = uniqueName('bgtest_smc_race');
  const lived = uniqueName('bgtest_smc_live');
  const pattern = `${daily}-{timestamp:yyyy.MM.dd}`;
  const alias = uniqueName('bgtest_smc_read');
  const root = `/${uniqueName('bgtest')}`;
  const migration = uniqueName('smc');
  let zk: ZkSession;
  let spec: string;
  // Six days of January 2025 (UTC) ending at midnight, three documents without a timestamp, and one
  // whose numbers Solr answers with texts a JavaScript number would not keep.
  const EXACT = '{"id":"exact-1","customer":"acme","timestamp":"2025-01-27T08:00:00Z","big_l":9223372036854775807,"price":1.0,"k_d":1e22,"title":"caf\\u00e9"}';
  const docs = [...generateDocs([{ name: 'acme', docs: 500, spanDays: 6, noTimestamp: 3 }, { name: 'globex', docs: 120, spanDays: 4 }], Date.UTC(2025, 0, 31), 7)];
  const dated = docs.filter((d) => d.timestamp);
  const undated = docs.filter((d) => !d.timestamp);
  const dayOf = (ts: string) => `${daily}-${ts.slice(0, 10).replace(/-/g, '.')}`;
  const perDay = new Map<string, number>();
  for (const ts of [...dated.map((d) => d.timestamp!), '2025-01-27T08:00:00Z']) perDay.set(dayOf(ts), (perDay.get(dayOf(ts)) ?? 0) + 1);
  const days = [...perDay.keys()].sort();

  /** The collections of the set on the new cluster. */
  const dailyCollections = async (prefix = daily): Promise<string[]> => {
    const list = await plain.request('GET', `${stack.solrNew}/admin/collections?action=LIST&wt=json`);
    return (list.collections as string[]).filter((c) => c.startsWith(`${prefix}-`)).sort();
  };
  const specFor = (name: string, query: string, optimize?: string) => writeSpec({
    migration: name,
    zookeeper: { connect: stack.zk, root },
    source: { kind: 'solr', url: stack.solrLegacy, collection: monthly, query },
    target: { kind: 'solr', url: stack.solrNew, collection: template, indexPattern: pattern, ...(optimize ? { optimize } : {}) },
    slicing: { targetDocsPerSlice: 150 },
    batch: { docs: 50 },
    verify: { gracePeriod: '1s' },
    cutover: { readAlias: alias },
  });
  const verify = (...flags: string[]) => verifyJson(spec, ...flags);
  const ids = reportIds;

  before(async () => {
    expect(days.length, 'the data spans several days').to.be.greaterThan(3);
    zk = await connectZk();
    await Promise.all([legacy.createCollection(monthly, 2), next.createCollection(template, 2)]);
    await plain.request('POST', `${stack.solrLegacy}/${monthly}/update?wt=json`, `[${EXACT}]`);
    await legacy.index(monthly, docs, true);
    spec = specFor(migration, 'timestamp:[* TO *]', 'force-merge');
  });

  after(async () => {
    await next.deleteAlias(alias);
    await zk.removeRecursive(root);
    zk.close();
    const created = async () => [...await dailyCollections(), ...await dailyCollections(raced), ...await dailyCollections(lived)];
    for (const c of await created()) await next.deleteCollection(c);
    await Promise.all([legacy.deleteCollection(monthly), next.deleteCollection(template)]);
    expect(await created(), 'every daily collection deleted').to.deep.equal([]);
  });

  it('writes every document into the collection of its day (UTC), created like the template (one existing already used as it is), exactly as stored', async () => {
    expect((await run(['plan', '--spec', spec])).code).to.equal(0);
    // One day exists already (as if another worker had created it, with one shard): written into as it is.
    const existing = days[days.length - 1];
    await next.createCollection(existing, 1);
    // Two workers at once: both may find a day missing and create it ("already exists" is fine).
    const [a, b] = await Promise.all([run(['work', '--spec', spec, '--http-port', '0']), run(['work', '--spec', spec, '--http-port', '0'])]);
    expect([a.code, b.code].sort(), `${a.stderr.slice(-2000)}\n${b.stderr.slice(-2000)}`)
      .to.satisfy((codes: number[]) => codes.includes(EXIT.OK) && codes.every((c) => c === EXIT.OK || c === EXIT.ALL_CLAIMED));
    expect(await dailyCollections()).to.deep.equal(days);
    const source = await stored(stack.solrLegacy, monthly);
    for (const day of days) {
      await next.commit(day);
      const got = await stored(stack.solrNew, day);
      expect(got.size, day).to.equal(perDay.get(day));
      for (const [id, doc] of got) {
        expect(dayOf(String(doc.timestamp)), `${id} in the collection of its day`).to.equal(day);
        expect(canonicalContent(doc, none), `${id} exactly as stored`).to.equal(canonicalContent(source.get(id)!, none));
      }
    }
    const exactDay = dayOf('2025-01-27T08:00:00Z');
    const raw = await (await fetch(`${stack.solrNew}/${exactDay}/select?q=id:exact-1&fl=*&wt=json`)).text();
    for (const text of ['"big_l":9223372036854775807', '"price":1.0', '"k_d":1.0E22', '"title":"café"']) expect(raw).to.contain(text);
    // Created with the template's configset and shard count.
    const st = await plain.request('GET', `${stack.solrNew}/admin/collections?action=CLUSTERSTATUS&collection=${days[0]}&wt=json`);
    expect(st.cluster.collections[days[0]].configName).to.equal('bluegreen');
    expect(Object.keys(st.cluster.collections[days[0]].shards)).to.have.length(2);
    const kept = await plain.request('GET', `${stack.solrNew}/admin/collections?action=CLUSTERSTATUS&collection=${existing}&wt=json`);
    expect(Object.keys(kept.cluster.collections[existing].shards), 'the existing collection is used as it is').to.have.length(1);
    // target.optimize over the set: every daily collection merged (a shard to one segment), not the template.
    const record = JSON.parse((await zk.getData(new Layout(root, migration).optimized)).data.toString());
    expect(record).to.deep.include({ mode: 'force-merge', deletedAfter: 0 });
    expect(record.segmentsAfter, JSON.stringify(record)).to.be.within(days.length, 2 * days.length - 1);
    expect(await next.count(template), 'nothing is written into the template').to.equal(0);
    expect(await legacy.count(monthly), 'the source is untouched').to.equal(docs.length + 1);
  });

  it('verifies clean across the set, reports a document altered in one daily collection as different, and repairs it there', async () => {
    const clean = await verify();
    expect(clean.code, JSON.stringify(clean.report.run.totals)).to.equal(EXIT.OK);
    const victim = dated[42];
    const day = dayOf(victim.timestamp!);
    await next.index(day, [{ ...victim, title: 'altered in one daily collection' }], true);
    const found = await verify('--new');
    expect(found.code).to.equal(EXIT.DIFFERENCES);
    expect(ids(found.report, 'different')).to.deep.equal([victim.id]);
    expect(ids(found.report, 'missing')).to.deep.equal([]);
    expect(ids(found.report, 'extra')).to.deep.equal([]);
    const repaired = await verify('--new', '--repair');
    expect(repaired.report.run.totals!.repaired).to.equal(1);
    await next.commit(day);
    const back = (await stored(stack.solrNew, day)).get(victim.id)!;
    expect(back.title, 'the source content, back in the collection of its day').to.equal(victim.title);
    const again = await verify('--new');
    expect(again.code, JSON.stringify(again.report.run.totals)).to.equal(EXIT.OK);
  });

  it('cutover puts the read alias on every daily collection (and not on the template)', async () => {
    const r = await run(['cutover', '--spec', spec, '--to', 'new']);
    expect(r.code, r.stderr).to.equal(0);
    expect((await next.aliases())[alias]?.split(',').sort()).to.deep.equal(days);
    expect(await next.count(alias), 'the alias reads the whole set').to.equal(dated.length + 1);
  });

  it('rejects a document without the field with its reason; the slice goes on and no collection is created', async () => {
    const name = uniqueName('smcnots');
    const noTs = specFor(name, '-timestamp:[* TO *]');
    expect((await run(['plan', '--spec', noTs])).code).to.equal(0);
    const w = await run(['work', '--spec', noTs]);
    expect(w.code, w.stderr).to.equal(0);
    const slices = await allSlices(zk, new Layout(root, name));
    expect(slices.length).to.be.greaterThan(0);
    expect(slices.every((s) => s.node.status === 'done')).to.equal(true);
    const rejections = slices.flatMap((s) => s.node.rejections);
    expect(rejections.map((x) => x.id).sort()).to.deep.equal(undated.map((d) => d.id).sort());
    for (const x of rejections) expect(x.reason).to.contain('no value in "timestamp"');
    expect(await dailyCollections()).to.deep.equal(days);
  });

  it('refuses a template collection that is itself one of the set (exit 2, nothing in ZooKeeper, no collection)', async () => {
    const name = uniqueName('smcbad');
    const bad = writeSpec({
      migration: name, zookeeper: { connect: stack.zk, root },
      source: { kind: 'solr', url: stack.solrLegacy, collection: monthly },
      target: { kind: 'solr', url: stack.solrNew, collection: `${daily}-template`, indexPattern: pattern },
    });
    const r = await run(['plan', '--spec', bad]);
    expect(r.code).to.equal(EXIT.USAGE);
    expect(r.stderr).to.match(/target\.collection: .*is itself one of the set/);
    expect(await zk.exists(new Layout(root, name).base), 'nothing written to ZooKeeper').to.equal(null);
    expect(await dailyCollections()).to.deep.equal(days);
  });

  it('takes "already exists" from Solr when another worker created the collection between its look and its CREATE', async () => {
    // The worker's CREATE of one day waits at a gate in front of the real Solr 9 while the test creates
    // that day itself (one shard: not the template's two); then the CREATE goes on and Solr refuses it.
    const day = `${raced}-2025.01.26`;
    const gate = await Gate.open(stack.solrNew, new RegExp(`action=CREATE&name=${day.replace(/\./g, '\\.')}&`));
    const name = uniqueName('smcrace');
    const raceSpec = writeSpec({
      migration: name, zookeeper: { connect: stack.zk, root },
      source: { kind: 'solr', url: stack.solrLegacy, collection: monthly, query: 'timestamp:[2025-01-26T00:00:00Z TO 2025-01-27T00:00:00Z}' },
      target: { kind: 'solr', url: gate.url, collection: template, indexPattern: `${raced}-{timestamp:yyyy.MM.dd}` },
      batch: { docs: 50 },
    });
    try {
      expect((await run(['plan', '--spec', raceSpec])).code).to.equal(0);
      gate.hold();
      const w = start(['work', '--spec', raceSpec, '--http-port', '0']);
      await waitFor('the worker\'s CREATE at the gate', async () => {
        expect(w.child.exitCode, w.output().stderr.slice(-1500)).to.equal(null);
        return gate.arrived > 0;
      }, 120_000);
      await next.createCollection(day, 1);
      gate.release();
      const done = await w.done;
      expect(done.code, done.stderr.slice(-2000)).to.equal(EXIT.OK);
    } finally {
      await gate.close();
    }
    // Taken in stride: no attempt of a slice failed on the refused CREATE (a retried slice would hide it).
    const slices = await allSlices(zk, new Layout(root, name));
    expect(slices.map((x) => [x.node.status, x.node.attempts, x.node.lastError])).to.deep.equal(slices.map(() => ['done', 1, null]));
    const st = await plain.request('GET', `${stack.solrNew}/admin/collections?action=CLUSTERSTATUS&collection=${day}&wt=json`);
    expect(Object.keys(st.cluster.collections[day].shards), 'the collection the other one created, not a second').to.have.length(1);
    await next.commit(day);
    expect(await next.count(day)).to.equal(perDay.get(dayOf('2025-01-26T00:00:00Z')));
    expect(await dailyCollections(raced)).to.deep.equal([day]);
  });

  // Last: it deletes documents from the source.
  it('takes a document deleted live after the worker read it out of its daily collection again (before any commit)', async () => {
    // The worker's first create-only write waits at a gate while the test deletes that page's
    // documents in the source; the worker's look right after its write must find them in the day's
    // collection although nothing is committed yet (a search would not).
    const day = '2025-01-27';
    const ofDay = [...dated.map((d) => d.id), 'exact-1'].filter((id) => (id === 'exact-1' ? day : dated.find((d) => d.id === id)!.timestamp!.slice(0, 10)) === day).sort();
    expect(ofDay.length).to.be.greaterThan(20);
    const gate = await Gate.open(stack.solrNew, /\/update\?.*failOnVersionConflicts=false/);
    const name = uniqueName('smclive');
    const liveSpec = writeSpec({
      migration: name, zookeeper: { connect: stack.zk, root },
      source: { kind: 'solr', url: stack.solrLegacy, collection: monthly, query: `timestamp:[${day}T00:00:00Z TO ${day}T00:00:00Z+1DAY}` },
      target: { kind: 'solr', url: gate.url, collection: template, indexPattern: `${lived}-{timestamp:yyyy.MM.dd}` },
      batch: { docs: 10 }, worker: { slicesInFlight: 1 }, slicing: { targetDocsPerSlice: 1000 },
    });
    const collection = `${lived}-${day.replace(/-/g, '.')}`;
    const deleted = ofDay.slice(0, 10);
    try {
      expect((await run(['plan', '--spec', liveSpec])).code).to.equal(0);
      gate.hold();
      const w = start(['work', '--spec', liveSpec, '--http-port', '0'], { BLUEGREEN_LOG_LEVEL: 'info' });
      await waitFor('the worker\'s first write at the gate', async () => {
        expect(w.child.exitCode, w.output().stderr.slice(-1500)).to.equal(null);
        return gate.arrived > 0;
      }, 120_000);
      await legacy.deleteById(monthly, deleted);
      await legacy.commit(monthly);
      gate.release();
      const r = await w.done;
      expect(r.code, r.stderr.slice(-2000)).to.equal(EXIT.OK);
      const removed = r.stderr.split('\n').filter((l) => l.includes('"msg":"documents deleted live after they were read: removed from the target again"')).flatMap((l) => JSON.parse(l).ids as string[]);
      expect(removed.sort(), 'the held page\'s deleted documents were taken back').to.deep.equal(deleted);
    } finally {
      await gate.close();
    }
    await next.commit(collection);
    expect([...(await next.all(collection)).keys()].sort(), 'every other document of the day, none deleted').to.deep.equal(ofDay.slice(10));
  });
});
