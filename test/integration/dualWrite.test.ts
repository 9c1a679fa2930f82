/**
 * The dual writer (src/dualwrite/dualWriter.ts) on the real stack, Solr 8 → 9 and Elasticsearch 7 → 8:
 * a second write the frozen side refuses (a Solr collection made read-only, an Elasticsearch index
 * with index.blocks.write: the condition is created and seen refusing a write before the test goes
 * on) is recorded under the migration in ZooKeeper and counted, `verify-integrity` fails on it and
 * `--repair` fixes it (a delete is never undone) and removes the record; the read flag decides the
 * side written first, per customer; concurrent writes to one id keep their order on both sides.
 */
import { expect } from 'chai';
import { openBackend } from '../../src/backends';
import type { Backend } from '../../src/backends/types';
import { loadSpec, type Spec } from '../../src/config/spec';
import { DualWriteRecords } from '../../src/coordination/dualWriteRecords';
import { Layout } from '../../src/coordination/layout';
import { MigrationStore } from '../../src/coordination/migration';
import { encodeJson, type ZkSession } from '../../src/coordination/zk';
import type { CutoverState, ReadSide } from '../../src/cutover/cutover';
import { generateDocs, type DemoDoc } from '../../src/demo/dataset';
import { SolrAdmin } from '../../src/demo/solrAdmin';
import { DualWriter } from '../../src/dualwrite/dualWriter';
import { EXIT } from '../../src/errors';
import { metrics } from '../../src/metrics';
import type { VerifyReport } from '../../src/verifier/verifier';
import { run, writeSpec } from '../support/cli';
import { EsAdmin, TEST_MAPPING } from '../support/esAdmin';
import { waitFor } from '../support/fleet';
import { connectZk, stack, uniqueName } from '../support/stack';

/** One kind of cluster: its collections, and how to freeze one side (and see it refuse a write). */
interface Kind {
  name: string;
  endpoints(collection: string): { source: object; target: object };
  create(collection: string, docs: DemoDoc[]): Promise<void>;
  drop(collection: string): Promise<void>;
  /** Makes the side refuse writes (or accept them again), and waits until a plain write is refused (accepted). */
  freeze(side: ReadSide, collection: string, on: boolean): Promise<void>;
}

const solrAdmin = { legacy: new SolrAdmin(stack.solrLegacy), new: new SolrAdmin(stack.solrNew) };
const esAdmin = { legacy: new EsAdmin(stack.esLegacy), new: new EsAdmin(stack.esNew) };

/** Does a plain write of a probe document to the side go through? (The probe is deleted again.) */
async function accepts(write: () => Promise<void>): Promise<boolean> {
  try {
    await write();
    return true;
  } catch {
    return false;
  }
}

const SOLR: Kind = {
  name: 'Solr',
  endpoints: (collection) => ({ source: { kind: 'solr', url: stack.solrLegacy, collection }, target: { kind: 'solr', url: stack.solrNew, collection } }),
  async create(collection, docs) {
    await Promise.all([solrAdmin.legacy.createCollection(collection), solrAdmin.new.createCollection(collection)]);
    await solrAdmin.legacy.index(collection, docs, true);
  },
  async drop(collection) {
    await Promise.all([solrAdmin.legacy.deleteCollection(collection), solrAdmin.new.deleteCollection(collection)]);
  },
  async freeze(side, collection, on) {
    const base = side === 'legacy' ? stack.solrLegacy : stack.solrNew;
    const res = await fetch(`${base}/admin/collections?action=MODIFYCOLLECTION&collection=${collection}&readOnly=${on ? 'true' : ''}&wt=json`);
    expect(res.status, await res.text()).to.equal(200);
    const probe = async () => {
      await solrAdmin[side].index(collection, [{ id: 'probe-frozen' }]);
      await solrAdmin[side].deleteById(collection, ['probe-frozen']);
    };
    await waitFor(`the ${side} collection to ${on ? 'refuse' : 'accept'} writes`, async () => (await accepts(probe)) !== on);
  },
};

const ES: Kind = {
  name: 'Elasticsearch',
  endpoints: (collection) => ({ source: { kind: 'elasticsearch', url: stack.esLegacy, collection }, target: { kind: 'elasticsearch', url: stack.esNew, collection } }),
  async create(collection, docs) {
    const definition = { settings: { number_of_shards: 1, number_of_replicas: 0 }, mappings: TEST_MAPPING };
    await Promise.all([esAdmin.legacy.createIndex(collection, definition), esAdmin.new.createIndex(collection, definition)]);
    await esAdmin.legacy.index(collection, docs.map((d) => ({ _id: d.id, source: d })));
  },
  async drop(collection) {
    await Promise.all([esAdmin.legacy.deleteIndex(collection), esAdmin.new.deleteIndex(collection)]);
  },
  async freeze(side, collection, on) {
    await esAdmin[side].setSettings(collection, { 'blocks.write': on ? true : null });
    const probe = async () => {
      await esAdmin[side].index(collection, [{ _id: 'probe-frozen', source: { id: 'probe-frozen' } }], false);
      await esAdmin[side].deleteDoc(collection, 'probe-frozen');
    };
    await waitFor(`the ${side} index to ${on ? 'refuse' : 'accept'} writes`, async () => (await accepts(probe)) !== on);
  },
};

const counterValue = async (counter: { get(): Promise<{ values: Array<{ value: number; labels: Record<string, unknown> }> }> }, labels: Record<string, string>) =>
  (await counter.get()).values.filter((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x)).reduce((a, v) => a + v.value, 0);

for (const kind of [SOLR, ES]) {
  describe(`DualWriter (${kind.name})`, function () {
    this.timeout(300_000);
    const collection = uniqueName('bgtest_dual');
    const migration = uniqueName('dual');
    const root = `/${uniqueName('bgtest')}`;
    const seed = [...generateDocs([{ name: 'alpha', docs: 60, spanDays: 5 }, { name: 'beta', docs: 40, spanDays: 5 }], Date.UTC(2026, 0, 10), 16)];
    let zk: ZkSession;
    let specFile: string;
    let spec: Spec;
    let writer: DualWriter;
    let sides: Record<ReadSide, Backend>;
    let records: DualWriteRecords;

    /** The document as each side holds it now (refreshed first: Elasticsearch's point read may search), without Solr's _version_. */
    const onBoth = async (id: string) => {
      // (A Solr collection made read-only refuses commits too; its real-time get needs none.)
      await Promise.all([sides.legacy.refresh().catch(() => undefined), sides.new.refresh().catch(() => undefined)]);
      const read = async (side: ReadSide) => {
        const fields = (await sides[side].getByIds([id])).get(id)?.doc.fields;
        if (!fields) return null;
        const { _version_: _, ...rest } = fields as Record<string, unknown>;
        return rest;
      };
      return { legacy: await read('legacy'), new: await read('new') };
    };
    const verify = async (...flags: string[]) => {
      // What the writer sent is made visible first (Solr commitWithin, Elasticsearch refresh): the slices are compared by search.
      await Promise.all([sides.legacy.refresh(), sides.new.refresh()]);
      const r = await run(['verify-integrity', '--spec', specFile, '--json', ...flags]);
      expect(r.stdout, r.stderr).to.not.equal('');
      return { code: r.code, report: JSON.parse(r.stdout) as VerifyReport, stderr: r.stderr };
    };
    const edited = (d: DemoDoc, title: string): DemoDoc => ({ ...d, title });

    before(async () => {
      zk = await connectZk();
      await kind.create(collection, seed);
      specFile = writeSpec({
        migration, zookeeper: { connect: stack.zk, root }, ...kind.endpoints(collection),
        slicing: { targetDocsPerSlice: 40 }, verify: { gracePeriod: '1s' },
      });
      spec = loadSpec(specFile);
      expect((await run(['plan', '--spec', specFile])).code).to.equal(0);
      const w = await run(['work', '--spec', specFile]);
      expect(w.code, w.stderr).to.equal(0);
      sides = { legacy: openBackend(spec.source, spec), new: openBackend(spec.target, spec) };
      records = new DualWriteRecords(zk, new MigrationStore(zk, spec));
      writer = await DualWriter.open(spec, { zk, attempts: 3, initialDelayMs: 20, maxDelayMs: 100 });
    });

    after(async () => {
      await writer?.close();
      await Promise.all([kind.freeze('legacy', collection, false).catch(() => undefined), kind.freeze('new', collection, false).catch(() => undefined)]);
      await Promise.all([sides?.legacy.close(), sides?.new.close()]);
      await zk.removeRecursive(root);
      zk.close();
      await kind.drop(collection);
    });

    it('writes both sides; a second write the frozen side refuses is recorded and counted; verify fails on it and --repair fixes it (deletes stay deleted)', async () => {
      const [a, b, c] = [seed[0], seed[1], seed[2]];
      expect(await writer.index(edited(a, 'both sides'))).to.deep.equal({ id: a.id, first: 'legacy', recorded: false });
      expect(await onBoth(a.id)).to.deep.equal({ legacy: edited(a, 'both sides'), new: edited(a, 'both sides') });
      expect(await verify()).to.have.property('code', EXIT.OK);

      const recordedBefore = await counterValue(metrics.dualWriteRecorded, { migration, side: 'new' });
      const retriesBefore = await counterValue(metrics.dualWriteRetries, { migration, side: 'new' });
      const fresh: DemoDoc = { ...edited(a, 'a new document'), id: 'dual-new-1' };
      await kind.freeze('new', collection, true);
      try {
        const results = [
          await writer.update(edited(b, 'while new was frozen')),
          await writer.index(fresh),
          await writer.delete(c.id, { customer: c.customer }),
        ];
        expect(results.map((r) => [r.id, r.first, r.recorded])).to.deep.equal([[b.id, 'legacy', true], [fresh.id, 'legacy', true], [c.id, 'legacy', true]]);
        // The read side has every write; the frozen side none.
        expect(await onBoth(b.id)).to.deep.equal({ legacy: edited(b, 'while new was frozen'), new: b });
        expect(await onBoth(fresh.id)).to.deep.equal({ legacy: fresh, new: null });
        expect(await onBoth(c.id)).to.deep.equal({ legacy: null, new: c });
        // Recorded in ZooKeeper, one node per id under the migration's bucketed dualwrite/ path, and counted.
        const stored = [];
        for await (const r of records.all()) stored.push(r);
        expect(stored.map((r) => r.record.id).sort()).to.deep.equal([b.id, c.id, fresh.id].sort());
        for (const r of stored) {
          expect(r.path).to.equal(new Layout(root, migration).dualWrite(r.record.id));
          expect(r.path.startsWith(`${root}/${migration}/dualwrite/`)).to.equal(true);
          expect(r.record).to.include({ truth: 'legacy', behind: 'new' });
        }
        expect(stored.find((r) => r.record.id === c.id)!.record.op).to.equal('delete');
        expect(await counterValue(metrics.dualWriteRecorded, { migration, side: 'new' }) - recordedBefore).to.equal(3);
        expect(await counterValue(metrics.dualWriteRetries, { migration, side: 'new' }) - retriesBefore).to.equal(3 * 2);
      } finally {
        await kind.freeze('new', collection, false);
      }

      // Without --repair: the recorded ids are reported first and fail the run; the records stay.
      const failed = await verify();
      expect(failed.code, failed.stderr).to.equal(EXIT.DIFFERENCES);
      expect(failed.report.run.recorded).to.include({ checked: 3, equal: 0, repaired: 0, different: 3 });
      expect([...failed.report.run.recorded!.ids].sort()).to.deep.equal([b.id, c.id, fresh.id].sort());
      expect(await records.count()).to.equal(3);
      // status tells the operator, in both forms.
      const st = await run(['status', '--spec', specFile, '--json']);
      expect(JSON.parse(st.stdout).dualWritesRecorded, st.stderr).to.equal(3);
      expect((await run(['status', '--spec', specFile])).stdout).to.match(/dual writes recorded: 3 id\(s\) whose second write failed/);

      // --repair: the read side's version copied, the delete carried out (never the document brought back), records removed.
      const repaired = await verify('--repair');
      expect(repaired.report.run.recorded).to.include({ checked: 3, repaired: 3, different: 0 });
      expect(repaired.code, repaired.stderr).to.equal(EXIT.OK);
      expect(await records.count()).to.equal(0);
      expect(await onBoth(b.id)).to.deep.equal({ legacy: edited(b, 'while new was frozen'), new: edited(b, 'while new was frozen') });
      expect(await onBoth(fresh.id)).to.deep.equal({ legacy: fresh, new: fresh });
      expect(await onBoth(c.id)).to.deep.equal({ legacy: null, new: null });
      const again = await verify();
      expect(again.code, again.stderr).to.equal(EXIT.OK);
      expect(again.report.run.recorded).to.include({ checked: 0 });
      expect(JSON.parse((await run(['status', '--spec', specFile, '--json'])).stdout).dualWritesRecorded, 'none left').to.equal(0);
    });

    it('follows the read flag per customer: a customer read from new is written there first, and a failure on legacy is repaired from new', async () => {
      const path = new Layout(root, migration).cutover;
      const flag = async (customers: Record<string, ReadSide>) => {
        const state: CutoverState = { read: 'legacy', customers, updatedAt: Date.now(), history: [] };
        if (await zk.exists(path)) await zk.setData(path, encodeJson(state), -1);
        else await zk.create(path, encodeJson(state));
      };
      const beta = seed.find((d) => d.customer === 'beta')!;
      const alpha = seed[5];
      await flag({ beta: 'new' });
      await waitFor('the writer to see beta read from new', async () => writer.readSide('beta') === 'new');
      try {
        await kind.freeze('legacy', collection, true);
        expect(await writer.index(edited(beta, 'new first'))).to.deep.equal({ id: beta.id, first: 'new', recorded: true });
        // alpha still reads from legacy: its write fails on legacy first, so nothing reaches new and the call rejects.
        const refused = await writer.index(edited(alpha, 'never written')).then(() => null, (e) => e as Error);
        expect(refused?.name).to.equal('DualWriteError');
        expect(refused?.message).to.match(/failed on the legacy cluster[\s\S]*Nothing was sent to the new cluster/);
        expect(await onBoth(alpha.id)).to.deep.equal({ legacy: alpha, new: alpha });
        expect(await onBoth(beta.id)).to.deep.equal({ legacy: beta, new: edited(beta, 'new first') });
        const rec = await records.read(beta.id);
        expect(rec?.record).to.include({ truth: 'new', behind: 'legacy', customer: 'beta', op: 'index' });
      } finally {
        await kind.freeze('legacy', collection, false);
        await flag({});
      }
      const repaired = await verify('--repair');
      expect(repaired.report.run.recorded).to.include({ checked: 1, repaired: 1, different: 0 });
      expect(await onBoth(beta.id)).to.deep.equal({ legacy: edited(beta, 'new first'), new: edited(beta, 'new first') });
      expect(await records.count()).to.equal(0);
    });

    it('refuses a document without a usable unique key, saying which field, and writes nothing', async () => {
      const held = async () => {
        await Promise.all([sides.legacy.refresh(), sides.new.refresh()]);
        const total = async (side: ReadSide) => (await sides[side].customers()).reduce((a, c) => a + c.count, 0);
        return { legacy: await total('legacy'), new: await total('new'), records: await records.count() };
      };
      const before = await held();
      const refused = await writer.index({ customer: 'alpha', title: 'no id' }).then(() => null, (e) => e as Error & { hint?: string });
      expect(refused?.message).to.match(/no usable unique key \(field "id" is missing\)/);
      expect(refused?.hint).to.match(/fields\.uniqueKey/);
      const empty = await writer.delete('').then(() => null, (e) => e as Error);
      expect(empty?.message).to.match(/non-empty string/);
      expect(await held()).to.deep.equal(before);
    });

    it('keeps the order of writes to one id on both sides: many concurrent updates end with the last value, a delete in the run stays in its place', async () => {
      const d = seed[10];
      const n = 40;
      const done: number[] = [];
      await Promise.all(Array.from({ length: n }, (_, i) => writer.update({ ...d, quantity: i }).then(() => done.push(i))));
      expect(done).to.deep.equal(Array.from({ length: n }, (_, i) => i));
      expect(await onBoth(d.id)).to.deep.equal({ legacy: { ...d, quantity: n - 1 }, new: { ...d, quantity: n - 1 } });

      // index, delete, index, delete fired at once: the last is a delete, on both sides.
      const e = seed[11];
      await Promise.all([writer.index({ ...e, quantity: 1 }), writer.delete(e.id, { customer: e.customer }), writer.index({ ...e, quantity: 2 }), writer.delete(e.id, { customer: e.customer })]);
      expect(await onBoth(e.id)).to.deep.equal({ legacy: null, new: null });
      await writer.index({ ...e, quantity: 3 });
      expect(await onBoth(e.id)).to.deep.equal({ legacy: { ...e, quantity: 3 }, new: { ...e, quantity: 3 } });
      expect(await records.count()).to.equal(0);
    });
  });
}
