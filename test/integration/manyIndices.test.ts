/**
 * One index into many (issue 17, seed 004's monthly → daily indices): one monthly Elasticsearch 7
 * index copied into daily Elasticsearch 8 indices chosen by target.indexPattern over the timestamp,
 * created on demand with the mapping of target.collection; verified across the set, repaired into the
 * right index, the read alias on every index of the set after cutover; a document without the field
 * is rejected with its reason and the slice goes on. With target.prepare.tuneForBulk the daily indices
 * are tuned while the copy runs and get the collection's settings back after it.
 */
import { expect } from 'chai';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Layout } from '../../src/coordination/layout';
import type { ZkSession } from '../../src/coordination/zk';
import { generateDocs } from '../../src/demo/dataset';
import { EXIT } from '../../src/errors';
import { reportIds, run, start, verifyJson, writeSpec } from '../support/cli';
import { EsAdmin, TEST_MAPPING } from '../support/esAdmin';
import { allSlices, waitFor } from '../support/fleet';
import { Gate } from '../support/gate';
import { connectZk, stack, uniqueName } from '../support/stack';

describe('one index into many: a monthly ES 7 index into daily ES 8 indices (target.indexPattern)', function () {
  this.timeout(240_000);
  const legacy = new EsAdmin(stack.esLegacy);
  const es = new EsAdmin(stack.esNew);
  const monthly = uniqueName('bgtest_mi_month');
  const mappingIndex = uniqueName('bgtest_mi_mapping');
  const daily = uniqueName('bgtest_mi_day');
  const pattern = `${daily}-{timestamp:yyyy.MM.dd}`;
  const alias = uniqueName('bgtest_mi_read');
  const root = `/${uniqueName('bgtest')}`;
  const migration = uniqueName('mi');
  let zk: ZkSession;
  let spec: string;
  // Six days of January 2025 (UTC) ending at midnight, and three documents without a timestamp.
  const docs = [...generateDocs([{ name: 'acme', docs: 600, spanDays: 6, noTimestamp: 3 }, { name: 'globex', docs: 150, spanDays: 4 }], Date.UTC(2025, 0, 31), 7)];
  const dated = docs.filter((d) => d.timestamp);
  const undated = docs.filter((d) => !d.timestamp);
  const dayOf = (ts: string) => `${daily}-${ts.slice(0, 10).replace(/-/g, '.')}`;
  const perDay = new Map<string, number>();
  for (const d of dated) perDay.set(dayOf(d.timestamp!), (perDay.get(dayOf(d.timestamp!)) ?? 0) + 1);
  const days = [...perDay.keys()].sort();

  /** The indices of the set on the new cluster (name → document count), refreshed. */
  const dailyIndices = async (prefix = daily): Promise<Map<string, number>> => {
    await es.refresh(`${prefix}-*`);
    const res = await fetch(`${stack.esNew}/_cat/indices/${prefix}-*?format=json&h=index,docs.count`);
    const rows = (await res.json()) as Array<{ index: string; 'docs.count': string }>;
    return new Map(rows.map((r) => [r.index, Number(r['docs.count'])]));
  };
  const specFor = (name: string, query: object) => writeSpec({
    migration: name,
    zookeeper: { connect: stack.zk, root },
    source: { kind: 'elasticsearch', url: stack.esLegacy, collection: monthly, query },
    target: { kind: 'elasticsearch', url: stack.esNew, collection: mappingIndex, indexPattern: pattern },
    slicing: { targetDocsPerSlice: 200 },
    verify: { gracePeriod: '1s' },
    cutover: { readAlias: alias },
  });
  const verify = (...flags: string[]) => verifyJson(spec, ...flags);
  const ids = reportIds;

  before(async () => {
    expect(days.length, 'the data spans several days').to.be.greaterThan(3);
    zk = await connectZk();
    await legacy.createIndex(monthly, { settings: { number_of_shards: 2, number_of_replicas: 0 }, mappings: TEST_MAPPING });
    await legacy.index(monthly, docs.map((d) => ({ _id: d.id, source: d })));
    // The mapping every daily index is created with: an empty index outside the set.
    await es.createIndex(mappingIndex, { settings: { number_of_shards: 1, number_of_replicas: 0 }, mappings: TEST_MAPPING });
    spec = specFor(migration, { exists: { field: 'timestamp' } });
  });

  after(async () => {
    await zk.removeRecursive(root);
    zk.close();
    // One by name: Elasticsearch 8 refuses to delete by wildcard.
    for (const name of (await dailyIndices()).keys()) await es.deleteIndex(name);
    await Promise.all([legacy.deleteIndex(monthly), es.deleteIndex(mappingIndex)]);
  });

  it('writes every document into the index of its day (UTC), created with the mapping, as many per day as the source has', async () => {
    expect((await run(['plan', '--spec', spec])).code).to.equal(0);
    const w = await run(['work', '--spec', spec]);
    expect(w.code, w.stderr).to.equal(0);
    const got = await dailyIndices();
    expect([...got.keys()].sort()).to.deep.equal(days);
    for (const day of days) expect(got.get(day), day).to.equal(perDay.get(day));
    const mapping = await es.mapping(days[0]);
    expect(JSON.stringify(mapping)).to.contain('"timestamp":{"type":"date"}');
    const sample = dated[17];
    expect((await es.get(dayOf(sample.timestamp!), sample.id))?.source, 'arrives exactly as stored').to.deep.equal(sample);
    expect(await es.count(mappingIndex), 'nothing is written into the mapping index').to.equal(0);
    expect(await legacy.count(monthly), 'the source is untouched').to.equal(docs.length);
  });

  it('verifies clean across the set, finds a document removed from one daily index, and repairs it into that index', async () => {
    const clean = await verify();
    expect(clean.code, JSON.stringify(clean.report.run.totals)).to.equal(EXIT.OK);
    const gone = dated[42];
    await es.deleteDoc(dayOf(gone.timestamp!), gone.id);
    await es.refresh(dayOf(gone.timestamp!));
    const found = await verify('--new');
    expect(found.code).to.equal(EXIT.DIFFERENCES);
    expect(ids(found.report, 'missing')).to.deep.equal([gone.id]);
    expect(ids(found.report, 'extra')).to.deep.equal([]);
    const repaired = await verify('--new', '--repair');
    expect(repaired.report.run.totals!.repaired).to.equal(1);
    expect((await es.get(dayOf(gone.timestamp!), gone.id))?.source, 'back in the index of its day').to.deep.equal(gone);
    const again = await verify('--new');
    expect(again.code).to.equal(EXIT.OK);
  });

  it('cutover puts the read alias on every daily index (and not on the mapping index)', async () => {
    const r = await run(['cutover', '--spec', spec, '--to', 'new']);
    expect(r.code, r.stderr).to.equal(0);
    expect(await es.aliasTargets(alias)).to.deep.equal(days);
    const total = await fetch(`${stack.esNew}/${alias}/_count`).then((x) => x.json()) as { count: number };
    expect(total.count, 'the alias reads the whole set').to.equal(dated.length);
  });

  it('rejects a document without the field with its reason; the slice goes on and nothing else is written', async () => {
    const name = uniqueName('minots');
    const noTs = specFor(name, { bool: { must_not: { exists: { field: 'timestamp' } } } });
    const before = await dailyIndices();
    expect((await run(['plan', '--spec', noTs])).code).to.equal(0);
    const w = await run(['work', '--spec', noTs]);
    expect(w.code, w.stderr).to.equal(0);
    const slices = await allSlices(zk, new Layout(root, name));
    expect(slices.every((s) => s.node.status === 'done')).to.equal(true);
    const rejections = slices.flatMap((s) => s.node.rejections);
    expect(rejections.map((x) => x.id).sort()).to.deep.equal(undated.map((d) => d.id).sort());
    for (const x of rejections) expect(x.reason).to.contain('no value in "timestamp"');
    expect(await dailyIndices()).to.deep.equal(before);
  });

  it('with target.prepare.tuneForBulk the daily indices are tuned while the copy runs (created so, or tuned) and restored with the collection after it', async () => {
    const name = uniqueName('mitune');
    const tuned = uniqueName('bgtest_mi_tuned');
    const template = uniqueName('bgtest_mi_tmpl');
    const dir = mkdtempSync(join(tmpdir(), 'bg-mitune-'));
    const [reached, go, module] = [join(dir, 'reached'), join(dir, 'go'), join(dir, 'hold.ts')];
    // Identity, but holds (blocking the process) at the first document of a slice's second page or later:
    // that slice's first page, and the daily indices it needed, are written by then.
    writeFileSync(module, `import { existsSync, writeFileSync } from 'node:fs';
import { defineTransform } from ${JSON.stringify(resolve(__dirname, '../../src/index.js'))};
const seen = new Map<number, number>();
export default defineTransform({
  version: 'hold',
  map(doc, ctx) {
    const n = (seen.get(ctx.slice) ?? 0) + 1;
    seen.set(ctx.slice, n);
    if (n > 100 && !existsSync(${JSON.stringify(go)})) {
      writeFileSync(${JSON.stringify(reached)}, '');
      const cell = new Int32Array(new SharedArrayBuffer(4));
      while (!existsSync(${JSON.stringify(go)})) Atomics.wait(cell, 0, 0, 20);
    }
    return doc;
  },
});
`);
    const settingsOf = async (index: string): Promise<Record<string, [unknown, unknown]>> => {
      const got = await fetch(`${stack.esNew}/${index}/_settings?flat_settings=true`).then((x) => x.json()) as Record<string, { settings: Record<string, unknown> }>;
      return Object.fromEntries(Object.entries(got).map(([n, v]) => [n, [v.settings['index.refresh_interval'] ?? null, v.settings['index.number_of_replicas']]]));
    };
    await es.createIndex(template, { settings: { number_of_shards: 1, number_of_replicas: 0, refresh_interval: '7s' }, mappings: TEST_MAPPING });
    let w: ReturnType<typeof start> | null = null;
    try {
      const tuneSpec = writeSpec({
        migration: name,
        zookeeper: { connect: stack.zk, root, sessionTimeout: '20s' },
        source: { kind: 'elasticsearch', url: stack.esLegacy, collection: monthly, query: { exists: { field: 'timestamp' } } },
        target: { kind: 'elasticsearch', url: stack.esNew, collection: template, indexPattern: `${tuned}-{timestamp:yyyy.MM.dd}`, prepare: { tuneForBulk: true } },
        slicing: { targetDocsPerSlice: 200 },
        batch: { docs: 50 },
        transform: { module },
      });
      expect((await run(['plan', '--spec', tuneSpec])).code).to.equal(0);
      const worker = start(['work', '--spec', tuneSpec]);
      w = worker;
      await waitFor('the worker to hold in the middle of a slice', async () => existsSync(reached) || (worker.child.exitCode !== null && 'exited'));
      expect(existsSync(reached), worker.output().stderr).to.equal(true);
      // Mid-copy: the collection is tuned, and so is every daily index created so far.
      expect(await settingsOf(template)).to.deep.equal({ [template]: ['-1', '0'] });
      const during = await settingsOf(`${tuned}-*`);
      expect(Object.keys(during).length, 'a daily index exists mid-copy').to.be.greaterThan(0);
      for (const [index, v] of Object.entries(during)) expect(v, index).to.deep.equal(['-1', '0']);
      writeFileSync(go, '');
      const done = await worker.done;
      expect(done.code, done.stderr).to.equal(0);
      // After it: the collection's own settings back, on the collection and on every index of the set.
      const record = await zk.getData(`${new Layout(root, name).base}/target`);
      expect(JSON.parse(record.data.toString()).state).to.equal('restored');
      expect(await settingsOf(template)).to.deep.equal({ [template]: ['7s', '0'] });
      const after = await settingsOf(`${tuned}-*`);
      expect(Object.keys(after).sort()).to.deep.equal(days.map((d) => d.replace(daily, tuned)));
      for (const [index, v] of Object.entries(after)) expect(v, index).to.deep.equal(['7s', '0']);
      const got = await dailyIndices(tuned);
      for (const day of days) expect(got.get(day.replace(daily, tuned)), day).to.equal(perDay.get(day));
    } finally {
      // A failed assertion mid-copy must not leave the worker held.
      writeFileSync(go, '');
      if (w && w.child.exitCode === null && w.child.signalCode === null) await w.done;
      for (const index of (await dailyIndices(tuned)).keys()) await es.deleteIndex(index);
      await es.deleteIndex(template);
    }
  });
  // Last: it deletes documents from the source.
  it('takes a document deleted live after the worker read it out of its daily index again, though that index is not refreshed', async () => {
    // The worker's first bulk write waits at a gate while the test deletes that page's documents in the
    // source; its look right after the write must find them in the day's index, which never refreshes
    // by itself here (refresh_interval -1): a search over the set alone would miss them.
    const lived = uniqueName('bgtest_mi_live');
    const day = [...perDay.entries()].sort((a, b) => b[1] - a[1])[0][0].slice(daily.length + 1);
    const index = `${lived}-${day}`;
    const ofDay = dated.filter((d) => dayOf(d.timestamp!) === `${daily}-${day}`).map((d) => d.id).sort();
    expect(ofDay.length).to.be.greaterThan(20);
    await es.createIndex(index, { settings: { number_of_shards: 1, number_of_replicas: 0, refresh_interval: '-1' }, mappings: TEST_MAPPING });
    const gate = await Gate.open(stack.esNew, /\/_bulk/);
    const name = uniqueName('milive');
    const from = `${day.replace(/\./g, '-')}T00:00:00Z`;
    const liveSpec = writeSpec({
      migration: name, zookeeper: { connect: stack.zk, root },
      source: { kind: 'elasticsearch', url: stack.esLegacy, collection: monthly, query: { range: { timestamp: { gte: from, lt: `${from}||+1d` } } } },
      target: { kind: 'elasticsearch', url: gate.url, collection: mappingIndex, indexPattern: `${lived}-{timestamp:yyyy.MM.dd}` },
      batch: { docs: 10 }, worker: { slicesInFlight: 1 }, slicing: { targetDocsPerSlice: 1000 },
    });
    const deleted = ofDay.slice(0, 10);
    try {
      expect((await run(['plan', '--spec', liveSpec])).code).to.equal(0);
      gate.hold();
      const w = start(['work', '--spec', liveSpec], { BLUEGREEN_LOG_LEVEL: 'info' });
      await waitFor('the worker\'s first write at the gate', async () => {
        expect(w.child.exitCode, w.output().stderr.slice(-1500)).to.equal(null);
        return gate.arrived > 0;
      }, 120_000);
      for (const id of deleted) await legacy.deleteDoc(monthly, id);
      gate.release();
      const r = await w.done;
      expect(r.code, r.stderr.slice(-2000)).to.equal(EXIT.OK);
      const removed = r.stderr.split('\n').filter((l) => l.includes('"msg":"documents deleted live after they were read: removed from the target again"')).flatMap((l) => JSON.parse(l).ids as string[]);
      expect(removed.sort(), 'the held page\'s deleted documents were taken back').to.deep.equal(deleted);
      await es.refresh(index);
      expect([...(await es.all(index)).keys()].sort(), 'every other document of the day, none deleted').to.deep.equal(ofDay.slice(10));
    } finally {
      await gate.close();
      await es.deleteIndex(index);
    }
  });
});
