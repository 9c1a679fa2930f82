/**
 * copy.mode in-place (issue 17, second part), on the real stack, Solr 8 and Elasticsearch 7: seed
 * 000's toy example — a date field in RFC 3339 rewritten to RFC 822 in the collection itself. Every
 * selected document ends transformed, unselected ones are untouched byte for byte, documents already
 * in the new form are not written (their version does not move), a live write that lands between the
 * worker's read and its write is never overwritten (the worker is held inside map, with the version
 * read, while the test writes the document live; it also updates another selected document and
 * inserts two, already in the new form, which survive exactly as written, version included),
 * verification proves every document a fixed point and finds one planted back in the old form, and
 * repair rewrites it. A transform that throws on some documents leaves them as they are, recorded
 * by id with the message, the rest rewritten; status shows them and the in-place counts. `transform
 * test` fails a non-idempotent transform in place. In place without the mode is still refused.
 */
import { expect } from 'chai';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { exactJson } from '../../src/backends/exactJson';
import { Layout } from '../../src/coordination/layout';
import type { ZkSession } from '../../src/coordination/zk';
import { SolrAdmin } from '../../src/demo/solrAdmin';
import { EXIT } from '../../src/errors';
import { run, start, writeSpec } from '../support/cli';
import { EsAdmin, TEST_MAPPING } from '../support/esAdmin';
import { allClaims, allSlices, waitFor } from '../support/fleet';
import { esSnapshot, solrSnapshot, zkSnapshot } from '../support/snapshot';
import { connectZk, stack, uniqueName } from '../support/stack';

const PACKAGE = resolve(__dirname, '../../src/index.js');
const OLD = (i: number) => new Date(Date.UTC(2021, 2, 1 + (i % 28), 10, i % 60, 0)).toISOString().replace('.000Z', 'Z');
const NEW = (i: number) => new Date(OLD(i)).toUTCString();
/** 40 documents: category fix (selected) or other; a fix document every fourth is already in the new form. */
const DOCS = Array.from({ length: 40 }, (_, i) => {
  const id = `${i < 30 ? 'a' : 'b'}-${String(i).padStart(3, '0')}`;
  const category = i % 5 === 4 ? 'other' : 'fix';
  return {
    id, customer: i < 30 ? 'acme' : 'beta', category, title: `title of ${id}`,
    timestamp: new Date(Date.UTC(2024, 0, 1) + i * 3_600_000).toISOString(),
    when_s: category === 'fix' && i % 4 === 1 ? NEW(i) : OLD(i), price: 2.5, quantity: i,
  };
});
const idx = (id: string) => DOCS.findIndex((d) => d.id === id);
const oldFix = DOCS.filter((d) => d.category === 'fix' && d.when_s === OLD(idx(d.id))).map((d) => d.id);
const newFix = DOCS.filter((d) => d.category === 'fix' && d.when_s !== OLD(idx(d.id))).map((d) => d.id);
const others = DOCS.filter((d) => d.category === 'other').map((d) => d.id);
/** The document the worker is held at (inside map, after its read) while the test writes it live. */
const HELD = 'a-012';

/** A document already in the new form: what a live writer writes during the run (an update or an insert). */
const liveNew = (id: string, customer: string, hour: number) => ({
  id, customer, category: 'fix', title: `live ${id}`, timestamp: new Date(Date.UTC(2024, 0, 1) + hour * 3_600_000).toISOString(), when_s: NEW(hour), price: 7.25, quantity: 1000 + hour,
});
/** The live writer's writes while the worker is held: an update of a selected document not yet rewritten, and inserts; all in the new form. */
const LIVE_UPDATE = 'b-031';
const LIVE_WRITES = [liveNew(LIVE_UPDATE, 'beta', 31), liveNew('a-100', 'acme', 5), liveNew('b-100', 'beta', 35)];
/** Documents the transform throws on (poison_s), in the selection and in the old form. */
const POISON = ['a-p01', 'a-p02', 'b-p01'].map((id, i) => ({ ...DOCS[i * 15 + 2], id, customer: id.startsWith('a') ? 'acme' : 'beta', category: 'fix', when_s: OLD(i), poison_s: 'yes' }));

/** RFC 3339 → RFC 822 (idempotent); throws on poison_s; holds once at HELD until the go file exists. */
function transformModule(dir: string, version = '1'): { file: string; reached: string; go: string } {
  const reached = join(dir, 'reached');
  const go = join(dir, 'go');
  const file = join(dir, 'rfc822.ts');
  writeFileSync(file, `import { existsSync, writeFileSync } from 'node:fs';
import { defineTransform } from ${JSON.stringify(PACKAGE)};
const RFC3339 = /^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}Z$/;
export default defineTransform({
  version: ${JSON.stringify(version)},
  map(doc, ctx) {
    if (ctx.id === ${JSON.stringify(HELD)} && !existsSync(${JSON.stringify(go)})) {
      writeFileSync(${JSON.stringify(reached)}, '');
      const cell = new Int32Array(new SharedArrayBuffer(4));
      while (!existsSync(${JSON.stringify(go)})) Atomics.wait(cell, 0, 0, 20);
    }
    if (doc.poison_s === 'yes') throw new Error(\`cannot rewrite \${ctx.id}\`);
    const v = doc.when_s;
    if (typeof v !== 'string' || !RFC3339.test(v)) return doc;
    return { ...doc, when_s: new Date(v).toUTCString() };
  },
});
`);
  return { file, reached, go };
}

interface Side {
  kind: 'solr' | 'elasticsearch';
  url: string;
  create(name: string): Promise<void>;
  drop(name: string): Promise<void>;
  load(name: string, docs: object[]): Promise<void>;
  /** Every document as stored now, exact text (real-time), and its version token. */
  exact(name: string, ids: string[]): Promise<Map<string, { text: string; version: string; fields: Record<string, unknown> }>>;
  query: unknown;
  snapshot(): Promise<Record<string, unknown>>;
}

const solr = new SolrAdmin(stack.solrLegacy);
const es = new EsAdmin(stack.esLegacy);
/** The answer's text as the server sent it (exactJson keeps 19-digit versions and every number's text). */
async function rawPost(url: string, body: string, type: string): Promise<string> {
  const res = await fetch(url, { method: 'POST', body, headers: { 'content-type': type } });
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status} ${await res.text()}`);
  return res.text();
}

const SIDES: Side[] = [
  {
    kind: 'solr', url: stack.solrLegacy,
    create: (n) => solr.createCollection(n),
    drop: (n) => solr.deleteCollection(n),
    load: (n, docs) => solr.index(n, docs, true),
    exact: async (n, ids) => {
      const text = await rawPost(`${stack.solrLegacy}/${n}/get`, new URLSearchParams([['wt', 'json'], ...ids.map((id): [string, string] => ['id', id])]).toString(), 'application/x-www-form-urlencoded');
      const out = new Map<string, { text: string; version: string; fields: Record<string, unknown> }>();
      const got = exactJson.parse(text) as any;
      for (const d of got.response?.docs ?? (got.doc ? [got.doc] : [])) {
        out.set(String(d.id), { text: exactJson.stringify(d), version: String(d._version_), fields: d });
      }
      return out;
    },
    query: 'category:fix',
    snapshot: () => solrSnapshot(stack.solrLegacy),
  },
  {
    kind: 'elasticsearch', url: stack.esLegacy,
    create: (n) => es.createIndex(n, { settings: { number_of_shards: 2, number_of_replicas: 0 }, mappings: { properties: { ...TEST_MAPPING.properties, when_s: { type: 'keyword' } } } }),
    drop: (n) => es.deleteIndex(n),
    load: (n, docs) => es.index(n, (docs as Array<{ id: string }>).map((d) => ({ _id: d.id, source: d }))),
    exact: async (n, ids) => {
      const text = await rawPost(`${stack.esLegacy}/${n}/_mget`, JSON.stringify({ ids }), 'application/json');
      const out = new Map<string, { text: string; version: string; fields: Record<string, unknown> }>();
      for (const d of (exactJson.parse(text) as any).docs) {
        if (d.found) out.set(String(d._id), { text: exactJson.stringify(d._source), version: `${d._seq_no}:${d._primary_term}`, fields: d._source });
      }
      return out;
    },
    query: { term: { category: 'fix' } },
    snapshot: () => esSnapshot(stack.esLegacy),
  },
];

for (const side of SIDES) {
  describe(`in place (${side.kind})`, function () {
    this.timeout(300_000);
    const coll = uniqueName('bgtest_inplace');
    const root = `/${uniqueName('bgtest')}`;
    const migration = uniqueName('inplace');
    const dir = mkdtempSync(join(tmpdir(), 'bg-inplace-'));
    const mod = transformModule(dir);
    let zk: ZkSession;
    const endpoint = { kind: side.kind, url: side.url, collection: coll };
    const spec = (over: Record<string, unknown> = {}) => ({
      migration,
      zookeeper: { connect: stack.zk, root, sessionTimeout: '20s' },
      source: { ...endpoint, query: side.query },
      target: endpoint,
      copy: { mode: 'in-place' },
      slicing: { targetDocsPerSlice: 12 },
      batch: { docs: 4 },
      verify: { gracePeriod: 0 },
      transform: { module: mod.file },
      ...over,
    });
    const allIds = DOCS.map((d) => d.id);
    let loaded: Awaited<ReturnType<Side['exact']>>;

    before(async () => {
      zk = await connectZk();
      await side.create(coll);
      await side.load(coll, DOCS);
      loaded = await side.exact(coll, allIds);
      expect(loaded.size).to.equal(DOCS.length);
    });

    after(async () => {
      await zk.removeRecursive(root);
      zk.close();
      await side.drop(coll);
    });

    it('refuses the source as target without copy.mode in-place, and in-place without a transform, with nothing changed', async () => {
      const snap = async () => ({ zk: await zkSnapshot(zk), data: await side.snapshot() });
      const was = await snap();
      const { copy: _c, ...copyMode } = spec();
      const r = await run(['plan', '--spec', writeSpec(copyMode)]);
      expect(r.code, r.stderr).to.equal(EXIT.USAGE);
      expect(r.stderr).to.match(/same collection on the same cluster/);
      const { transform: _t, ...noTransform } = spec();
      const r2 = await run(['plan', '--spec', writeSpec(noTransform)]);
      expect(r2.code, r2.stderr).to.equal(EXIT.USAGE);
      expect(r2.stderr).to.contain('in-place needs a transform');
      const r3 = await run(['plan', '--spec', writeSpec(spec({ target: { ...endpoint, collection: `${coll}_other` } }))]);
      expect(r3.code, r3.stderr).to.equal(EXIT.USAGE);
      expect(r3.stderr).to.contain('target must name the source itself');
      expect(await snap()).to.deep.equal(was);
    });

    it('transforms every selected document where it is, leaves the rest byte for byte, and never overwrites a live write', async () => {
      const specFile = writeSpec(spec());
      const p = await run(['plan', '--spec', specFile]);
      expect(p.code, p.stderr).to.equal(0);
      const w = start(['work', '--spec', specFile]);
      // The worker holds at HELD inside map: it has read the document and its version. A live write lands now.
      await waitFor('the worker to reach the held document', async () => existsSync(mod.reached) || (w.child.exitCode !== null && 'exited'));
      expect(existsSync(mod.reached), w.output().stderr).to.equal(true);
      const live = { ...DOCS[idx(HELD)], title: 'LIVE title', quantity: 999 };
      await side.load(coll, [live]);
      // The live writer also updates a selected document and inserts two, already in the new form.
      await side.load(coll, LIVE_WRITES);
      const liveWritten = await side.exact(coll, LIVE_WRITES.map((d) => d.id));
      expect(liveWritten.size).to.equal(LIVE_WRITES.length);
      writeFileSync(mod.go, '');
      const done = await w.done;
      expect(done.code, done.stderr).to.equal(0);
      // The conditional write of HELD met the live write: the worker read it again.
      expect(done.stdout + done.stderr).to.contain('reading them again');
      const slices = await allSlices(zk, new Layout(root, migration));
      expect(slices.every((s) => s.node.status === 'done')).to.equal(true);
      // The inserts are read or not, as the worker's cursor stood when they landed.
      const read = slices.reduce((n, s) => n + s.node.counts.read, 0);
      expect(read).to.be.within(oldFix.length + newFix.length, oldFix.length + newFix.length + 2);
      expect(slices.reduce((n, s) => n + s.node.counts.rejected, 0)).to.equal(0);
      const now = await side.exact(coll, allIds);
      for (const id of oldFix) expect(now.get(id)!.fields.when_s, id).to.equal(NEW(idx(id)));
      // Every live write in the new form survived as written: same text, same version (not written over, not written back).
      const liveNow = await side.exact(coll, LIVE_WRITES.map((d) => d.id));
      for (const d of LIVE_WRITES) expect([liveNow.get(d.id)?.text, liveNow.get(d.id)?.version], d.id).to.deep.equal([liveWritten.get(d.id)!.text, liveWritten.get(d.id)!.version]);
      expect(oldFix).to.include(LIVE_UPDATE);
      // status in place: what was read, rewritten, left unchanged, and the conflict re-read.
      const st = await run(['status', '--spec', specFile, '--json']);
      expect(st.code, st.stderr).to.equal(0);
      const totals = JSON.parse(st.stdout).totals;
      expect(totals.read).to.equal(read);
      expect(totals.written + totals.skipped).to.equal(read);
      expect(totals.conflicts).to.be.at.least(1);
      expect(totals.transformRejected).to.equal(0);
      // The live write's content survived, transformed.
      expect(now.get(HELD)!.fields.title).to.equal('LIVE title');
      expect(Number(now.get(HELD)!.fields.quantity)).to.equal(999);
      // Unselected: byte for byte, version included. Already new: not written (same version).
      for (const id of others) expect([now.get(id)!.text, now.get(id)!.version], id).to.deep.equal([loaded.get(id)!.text, loaded.get(id)!.version]);
      for (const id of newFix) expect(now.get(id)!.version, id).to.equal(loaded.get(id)!.version);
      expect(others.length).to.be.greaterThan(0);
      expect(newFix.length).to.be.greaterThan(0);
      // A transformed document keeps every other field exactly as stored.
      const t0 = oldFix.find((id) => id !== HELD)!;
      const { when_s: _a, _version_: _b, ...restNow } = now.get(t0)!.fields;
      const { when_s: _c, _version_: _d, ...restBefore } = loaded.get(t0)!.fields;
      expect(exactJson.stringify(restNow)).to.equal(exactJson.stringify(restBefore));
    });

    it('transform test says the transform is idempotent, and writes nothing', async () => {
      const was = { zk: await zkSnapshot(zk), data: await side.snapshot() };
      const r = await run(['transform', 'test', '--spec', writeSpec(spec()), '--limit', '10']);
      expect(r.code, r.stderr).to.equal(0);
      expect(r.stdout).to.contain('idempotent on the 10 document(s) checked').and.to.contain('fit for copy.mode in-place');
      const sample = await run(['transform', 'test', '--spec', writeSpec(spec()), '--sample', '2', '--json']);
      expect(sample.code, sample.stderr).to.equal(0);
      expect(JSON.parse(sample.stdout).perCustomer).to.deep.equal({ acme: 2, beta: 2 });
      // In place a transform that changes its own output again fails the test (exit 5), naming the documents.
      const bang = join(mkdtempSync(join(tmpdir(), 'bg-inplace-bang-')), 'bang.ts');
      writeFileSync(bang, `import { defineTransform } from ${JSON.stringify(PACKAGE)};\nexport default defineTransform({ version: 'bang', map: (doc) => ({ ...doc, title: doc.title + '!' }) });\n`);
      const bad = await run(['transform', 'test', '--spec', writeSpec(spec({ transform: { module: bang } })), '--sample', '1']);
      expect(bad.code, bad.stderr).to.equal(EXIT.DIFFERENCES);
      expect(bad.stderr).to.contain('not idempotent on 2 document(s): a-000, b-030').and.to.contain('copy.mode in-place needs');
      expect(bad.stdout).to.contain('again: ~ title: "title of a-000!" → "title of a-000!!"');
      expect({ zk: await zkSnapshot(zk), data: await side.snapshot() }).to.deep.equal(was);
    });

    it('verification proves every selected document a fixed point, finds one planted back in the old form, and repair rewrites it', async () => {
      const specFile = writeSpec(spec());
      const v = await run(['verify-integrity', '--spec', specFile]);
      expect(v.code, v.stdout + v.stderr).to.equal(EXIT.OK);
      expect(v.stdout).to.contain('PASSED');
      const planted = oldFix.find((id) => id !== HELD)!;
      await side.load(coll, [DOCS[idx(planted)]]);
      const bad = await run(['verify-integrity', '--spec', specFile, '--new']);
      expect(bad.code, bad.stdout + bad.stderr).to.equal(EXIT.DIFFERENCES);
      expect(bad.stdout).to.match(new RegExp(`different: ${planted}\\b`));
      const r = await run(['verify-integrity', '--spec', specFile, '--new', '--repair']);
      expect(r.code, r.stdout + r.stderr).to.equal(EXIT.DIFFERENCES);
      expect((await side.exact(coll, [planted])).get(planted)!.fields.when_s).to.equal(NEW(idx(planted)));
      const again = await run(['verify-integrity', '--spec', specFile, '--new']);
      expect(again.code, again.stdout + again.stderr).to.equal(EXIT.OK);
    });

    it('a worker SIGKILLed in the middle of a slice is resumed by the next one, and every selected document ends transformed', async () => {
      await side.load(coll, DOCS); // every document back in its first form
      const held = transformModule(mkdtempSync(join(tmpdir(), 'bg-inplace-kill-')), '2');
      const killMigration = uniqueName('inplacekill');
      const specFile = writeSpec(spec({ migration: killMigration, zookeeper: { connect: stack.zk, root, sessionTimeout: '4s' }, transform: { module: held.file } }));
      expect((await run(['plan', '--spec', specFile])).code).to.equal(0);
      const w = start(['work', '--spec', specFile]);
      await waitFor('the worker to reach the held document', async () => existsSync(held.reached) || (w.child.exitCode !== null && 'exited'));
      expect(existsSync(held.reached), w.output().stderr).to.equal(true);
      w.child.kill('SIGKILL');
      await w.done;
      const layout = new Layout(root, killMigration);
      expect((await allSlices(zk, layout)).some((s) => s.node.status !== 'done')).to.equal(true);
      writeFileSync(held.go, '');
      // Its claim goes with its ZooKeeper session (sessionTimeout): then the slice is free to resume.
      await waitFor('the killed worker\'s claim to expire', async () => (await allClaims(zk, layout)).length === 0);
      const again = await run(['work', '--spec', specFile]);
      expect(again.code, again.stderr).to.equal(0);
      expect((await allSlices(zk, layout)).every((s) => s.node.status === 'done')).to.equal(true);
      const now = await side.exact(coll, allIds);
      for (const id of oldFix) expect(now.get(id)!.fields.when_s, id).to.equal(NEW(idx(id)));
      for (const id of others) expect(now.get(id)!.fields.when_s, id).to.equal(OLD(idx(id)));
      const v = await run(['verify-integrity', '--spec', specFile]);
      expect(v.code, v.stdout + v.stderr).to.equal(EXIT.OK);
    });

    it('a transform that throws on some documents: each recorded with its id and message, the rest of the slice rewritten, status shows them', async () => {
      await side.load(coll, [...DOCS, ...POISON]); // every document back in its first form, and the poison ones
      const loadedPoison = await side.exact(coll, POISON.map((d) => d.id));
      const m = transformModule(mkdtempSync(join(tmpdir(), 'bg-inplace-poison-')), '3');
      writeFileSync(m.go, ''); // no hold
      const poisonMigration = uniqueName('inplacepoison');
      const specFile = writeSpec(spec({ migration: poisonMigration, transform: { module: m.file } }));
      expect((await run(['plan', '--spec', specFile])).code).to.equal(0);
      const w = await run(['work', '--spec', specFile]);
      expect(w.code, w.stderr).to.equal(0);
      const slices = await allSlices(zk, new Layout(root, poisonMigration));
      expect(slices.every((x) => x.node.status === 'done')).to.equal(true);
      const rejections = slices.flatMap((x) => x.node.rejections);
      expect(rejections.map((r) => r.id).sort()).to.deep.equal(POISON.map((d) => d.id).sort());
      for (const r of rejections) expect([r.reason, r.by]).to.deep.equal([`transform 3 threw: cannot rewrite ${r.id}`, 'transform']);
      expect(slices.reduce((n, x) => n + (x.node.counts.transformRejected ?? 0), 0)).to.equal(POISON.length);
      // The rest of each slice went on: every other old document rewritten; the poison ones left exactly as they were.
      const now = await side.exact(coll, [...allIds, ...POISON.map((d) => d.id)]);
      for (const id of oldFix) expect(now.get(id)!.fields.when_s, id).to.equal(NEW(idx(id)));
      for (const d of POISON) expect([now.get(d.id)!.text, now.get(d.id)!.version], d.id).to.deep.equal([loadedPoison.get(d.id)!.text, loadedPoison.get(d.id)!.version]);
      const st = await run(['status', '--spec', specFile]);
      expect(st.code, st.stderr).to.equal(0);
      // Read: the selection (the two inserts of the first run are in it, already new: unchanged).
      const read = oldFix.length + newFix.length + 2 + POISON.length;
      expect(st.stdout).to.contain(`in place: read ${read}, rewritten ${oldFix.length}, unchanged (fixed points, not written) ${newFix.length + 2}, conflicts re-read (live writes) 0`);
      expect(st.stdout).to.contain(`rejected by the transform ${POISON.length}, other rejections 0`);
      expect(st.stdout).to.contain(`TRANSFORM REJECTIONS (dead letters): ${POISON.length} document(s) the transform 3 refused; all`);
      for (const d of POISON) expect(st.stdout).to.contain(`  ${d.id}: transform 3 threw: cannot rewrite ${d.id}`);
    });
  });
}
