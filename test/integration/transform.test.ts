/**
 * Transforms while copying (issue 17, first part), on the real stack, Solr 8 → 9 and Elasticsearch
 * 7 → 8: a TypeScript module renames, drops and computes fields, skips documents (null) and fans
 * some out; source.query narrows the plan and the copy; verification compares transform(source)
 * with the target and repair writes transform(source); a throwing transform leaves dead letters and
 * the slice finishes; `transform test` and bad modules write nothing; a new version is refused.
 */
import { expect } from 'chai';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Layout } from '../../src/coordination/layout';
import type { ZkSession } from '../../src/coordination/zk';
import { SolrAdmin } from '../../src/demo/solrAdmin';
import { EXIT } from '../../src/errors';
import { run, writeSpec } from '../support/cli';
import { EsAdmin, TEST_MAPPING } from '../support/esAdmin';
import { allSlices, planNode } from '../support/fleet';
import { esSnapshot, solrSnapshot, zkSnapshot } from '../support/snapshot';
import { connectZk, stack, uniqueName } from '../support/stack';

const PACKAGE = resolve(__dirname, '../../src/index.js');
const CATEGORY = ['other', 'skip', 'boom', 'split', 'keep', 'keep', 'keep', 'keep', 'keep', 'keep'];
/** 30 documents of acme, 20 of beta; categories by position (other and boom are outside migration A's query). */
const DOCS = [...Array.from({ length: 30 }, (_, i) => ['acme', `a-${String(i).padStart(3, '0')}`, i]), ...Array.from({ length: 20 }, (_, i) => ['beta', `b-${String(i).padStart(3, '0')}`, i])]
  .map(([customer, id, i]) => ({
    id, customer, category: CATEGORY[Number(i) % 10], title: `title of ${id}`, body: `body of ${id}`,
    timestamp: new Date(Date.UTC(2024, 0, 1) + Number(i) * 3_600_000).toISOString(), price: 2.5, quantity: Number(i) + 1,
  })) as Array<{ id: string; customer: string; category: string; title: string; body: string; timestamp: string; price: number; quantity: number }>;
const ids = (category: string) => DOCS.filter((d) => d.category === category).map((d) => d.id);

function transformModule(dir: string, version: string): string {
  const file = join(dir, `rename-v${version}.ts`);
  writeFileSync(file, `import { defineTransform, type Doc } from ${JSON.stringify(PACKAGE)};
export default defineTransform({
  version: ${JSON.stringify(version)},
  map(doc: Doc, ctx) {
    if (doc.category === 'skip') return null;
    if (doc.category === 'boom') throw new Error(\`cannot transform \${ctx.id}\`);
    const { title, body, ...rest } = doc;
    const out: Doc = { ...rest, headline_s: String(title).toUpperCase(), total_l: Number(doc.quantity) * 10 };
    if (doc.category === 'split') return [{ ...out, id: \`\${ctx.id}-a\`, part_s: 'a' }, { ...out, id: \`\${ctx.id}-b\`, part_s: 'b' }];
    return out;
  },
});
`);
  return file;
}

interface Side {
  kind: 'solr' | 'elasticsearch';
  legacyUrl: string;
  newUrl: string;
  create(name: string, side: 'legacy' | 'new'): Promise<void>;
  drop(name: string, side: 'legacy' | 'new'): Promise<void>;
  load(name: string): Promise<void>;
  /** The target's documents, visible (committed / refreshed). */
  all(name: string): Promise<Map<string, Record<string, unknown>>>;
  put(name: string, doc: Record<string, unknown>): Promise<void>;
  /** source.query: everything but `other` and `boom`, or only `boom`. */
  query(which: 'main' | 'boom'): unknown;
  snapshot(): Promise<Record<string, unknown>>;
}

const solrLegacy = new SolrAdmin(stack.solrLegacy);
const solrNew = new SolrAdmin(stack.solrNew);
const esLegacy = new EsAdmin(stack.esLegacy);
const esNew = new EsAdmin(stack.esNew);

const SIDES: Side[] = [
  {
    kind: 'solr', legacyUrl: stack.solrLegacy, newUrl: stack.solrNew,
    create: (n, s) => (s === 'legacy' ? solrLegacy : solrNew).createCollection(n),
    drop: (n, s) => (s === 'legacy' ? solrLegacy : solrNew).deleteCollection(n),
    load: (n) => solrLegacy.index(n, DOCS, true),
    all: async (n) => {
      await solrNew.commit(n);
      const m = await solrNew.all(n, '*');
      for (const d of m.values()) delete d._version_;
      return m;
    },
    put: async (n, doc) => solrNew.index(n, [doc], true),
    query: (w) => (w === 'main' ? '-category:(other OR boom)' : 'category:boom'),
    snapshot: async () => ({ legacy: await solrSnapshot(stack.solrLegacy), next: await solrSnapshot(stack.solrNew) }),
  },
  {
    kind: 'elasticsearch', legacyUrl: stack.esLegacy, newUrl: stack.esNew,
    create: (n, s) => (s === 'legacy' ? esLegacy : esNew).createIndex(n, { settings: { number_of_shards: 2, number_of_replicas: 0 }, mappings: TEST_MAPPING }),
    drop: (n, s) => (s === 'legacy' ? esLegacy : esNew).deleteIndex(n),
    load: (n) => esLegacy.index(n, DOCS.map((d) => ({ _id: d.id, source: d }))),
    all: async (n) => {
      await esNew.refresh(n);
      return new Map([...(await esNew.all(n))].map(([id, d]) => [id, d.source as Record<string, unknown>]));
    },
    put: async (n, doc) => esNew.index(n, [{ _id: String(doc.id), source: doc }]),
    query: (w) => (w === 'main' ? { bool: { must_not: [{ terms: { category: ['other', 'boom'] } }] } } : { term: { category: 'boom' } }),
    snapshot: async () => ({ legacy: await esSnapshot(stack.esLegacy), next: await esSnapshot(stack.esNew) }),
  },
];

for (const side of SIDES) {
  describe(`transforms while copying (${side.kind})`, function () {
    this.timeout(300_000);
    const source = uniqueName('bgtest_tr_src');
    const target = uniqueName('bgtest_tr_dst');
    const boomTarget = uniqueName('bgtest_tr_boom');
    const root = `/${uniqueName('bgtest')}`;
    const migration = uniqueName('tr');
    const dir = mkdtempSync(join(tmpdir(), 'bg-transform-'));
    let zk: ZkSession;
    let specFile: string;
    const spec = (over: Record<string, unknown> = {}, module = transformModule(dir, '1')) => ({
      migration,
      zookeeper: { connect: stack.zk, root, sessionTimeout: '6s' },
      source: { kind: side.kind, url: side.legacyUrl, collection: source, query: side.query('main') },
      target: { kind: side.kind, url: side.newUrl, collection: target },
      slicing: { targetDocsPerSlice: 15 },
      batch: { docs: 7 },
      verify: { gracePeriod: 0 },
      transform: { module },
      ...over,
    });
    const snapshot = async () => ({ zk: await zkSnapshot(zk), ...(await side.snapshot()) });

    before(async () => {
      zk = await connectZk();
      await Promise.all([side.create(source, 'legacy'), side.create(target, 'new'), side.create(boomTarget, 'new')]);
      await side.load(source);
      specFile = writeSpec(spec());
    });

    after(async () => {
      await zk.removeRecursive(root);
      zk.close();
      await Promise.all([side.drop(source, 'legacy'), side.drop(target, 'new'), side.drop(boomTarget, 'new')]);
    });

    it('refuses a module that does not load or exports no transform, with nothing written', async () => {
      const broken = join(dir, 'broken.ts');
      writeFileSync(broken, 'export default defineTransform({ version: "1", map(doc) { return doc } ');
      const none = join(dir, 'none.mjs');
      writeFileSync(none, 'export const version = "1";\n');
      const before = await snapshot();
      for (const [module, says] of [[broken, 'does not load'], [none, 'does not export a transform'], [join(dir, 'absent.ts'), 'does not exist']]) {
        const r = await run(['plan', '--spec', writeSpec(spec({}, module))]);
        expect(r.code, r.stderr).to.equal(EXIT.USAGE);
        expect(r.stderr).to.contain(says).and.to.contain('transform.module');
      }
      expect(await snapshot()).to.deep.equal(before);
    });

    it('transform test prints before → after and writes nothing', async () => {
      const before = await snapshot();
      const r = await run(['transform', 'test', '--spec', specFile, '--limit', '10']);
      expect(r.code, r.stderr).to.equal(0);
      expect(r.stdout).to.contain('- title: "title of a-004"').and.to.contain('+ headline_s: "TITLE OF A-004"').and.to.contain('+ total_l: 50');
      expect(r.stdout).to.contain('a-001: skipped').and.to.contain('a-003: 2 document(s): a-003-a, a-003-b');
      // source.query applies: a-000 (other) and a-002 (boom) are not read.
      expect(r.stdout).not.to.contain('a-000').and.not.to.contain('a-002');
      const byId = await run(['transform', 'test', '--spec', specFile, '--id', 'a-002', '--json']);
      expect(byId.code, byId.stderr).to.equal(0);
      expect(JSON.parse(byId.stdout).counts).to.deep.equal({ read: 1, outputs: 0, skipped: 0, rejected: 1 });
      expect(byId.stdout).to.contain('cannot transform a-002');
      expect(await snapshot()).to.deep.equal(before);
    });

    it('transform test --sample N reads N selected documents of every customer, flags the non-idempotent outputs by id, and writes nothing', async () => {
      const before = await snapshot();
      const r = await run(['transform', 'test', '--spec', specFile, '--sample', '3', '--json']);
      expect(r.code, r.stderr).to.equal(0);
      const got = JSON.parse(r.stdout);
      // source.query leaves 24 of acme's 30 and 16 of beta's 20: 3 of each.
      expect(got.perCustomer).to.deep.equal({ acme: 3, beta: 3 });
      expect(got.counts).to.deep.equal({ read: 6, outputs: 6, skipped: 2, rejected: 0 });
      // The rename is not idempotent (title is gone the second time: headline_s becomes "UNDEFINED");
      // only single outputs are checked (a-001 is skipped, a-003 fans out).
      expect(got.notIdempotent.map((n: { id: string }) => n.id)).to.deep.equal(['a-004', 'b-004']);
      const text = await run(['transform', 'test', '--spec', specFile, '--sample', '3', '--require-idempotent']);
      expect(text.code, text.stderr).to.equal(EXIT.DIFFERENCES);
      expect(text.stderr).to.contain('not idempotent on 2 document(s): a-004, b-004');
      expect(text.stdout).to.contain('customer acme: 3 document(s)').and.to.contain('customer beta: 3 document(s)');
      expect(text.stdout).to.contain('again: ~ headline_s: "TITLE OF A-004" → "UNDEFINED"');
      expect(text.stdout).not.to.contain('a-005').and.not.to.contain('b-005');
      const one = await run(['transform', 'test', '--spec', specFile, '--sample', '2', '--customer', 'beta', '--json']);
      expect(one.code, one.stderr).to.equal(0);
      expect(JSON.parse(one.stdout).perCustomer).to.deep.equal({ beta: 2 });
      for (const bad of [['--sample', '2', '--id', 'a-004'], ['--sample', '0'], ['--customer', 'beta'], ['--sample', '2', '--customer', 'nobody']]) {
        const b = await run(['transform', 'test', '--spec', specFile, ...bad]);
        expect(b.code, `${bad.join(' ')}: ${b.stderr}`).to.equal(EXIT.USAGE);
      }
      expect(await snapshot()).to.deep.equal(before);
    });

    it('plans the selected documents only, copies transform(source), and verification passes', async () => {
      const p = await run(['plan', '--spec', specFile]);
      expect(p.code, p.stderr).to.equal(0);
      const layout = new Layout(root, migration);
      const selected = DOCS.length - ids('other').length - ids('boom').length;
      expect((await planNode(zk, layout))!.estimate).to.equal(selected);
      const w = await run(['work', '--spec', specFile]);
      expect(w.code, w.stderr).to.equal(0);
      const slices = await allSlices(zk, layout);
      expect(slices.every((s) => s.node.status === 'done')).to.equal(true);
      expect(slices.reduce((n, s) => n + s.node.counts.read, 0)).to.equal(selected);
      const got = await side.all(target);
      const expected = [...ids('keep'), ...ids('split').flatMap((id) => [`${id}-a`, `${id}-b`])].sort();
      expect([...got.keys()].sort()).to.deep.equal(expected);
      const a4 = got.get('a-004')!;
      expect(a4.title).to.equal(undefined);
      expect(a4.body).to.equal(undefined);
      expect(a4.headline_s).to.equal('TITLE OF A-004');
      expect(Number(a4.total_l)).to.equal(50);
      expect(a4.customer).to.equal('acme');
      expect(got.get('a-003-b')!.part_s).to.equal('b');
      const v = await run(['verify-integrity', '--spec', specFile]);
      expect(v.code, v.stdout + v.stderr).to.equal(EXIT.OK);
      expect(v.stdout).to.contain('PASSED');
    });

    it('finds a changed target document, and repair writes transform(source) back', async () => {
      const got = await side.all(target);
      await side.put(target, { ...got.get('a-005')!, headline_s: 'CHANGED BY HAND' });
      const v = await run(['verify-integrity', '--spec', specFile, '--new']);
      expect(v.code, v.stdout).to.equal(EXIT.DIFFERENCES);
      expect(v.stdout).to.match(/different: a-005\b/);
      const r = await run(['verify-integrity', '--spec', specFile, '--new', '--repair']);
      expect(r.code, r.stdout + r.stderr).to.equal(EXIT.DIFFERENCES); // the run that repairs still reports what it found
      expect((await side.all(target)).get('a-005')!.headline_s).to.equal('TITLE OF A-005');
      const again = await run(['verify-integrity', '--spec', specFile, '--new']);
      expect(again.code, again.stdout).to.equal(EXIT.OK);
    });

    it('refuses another transform version on the planned migration, with nothing written', async () => {
      const before = await snapshot();
      const other = writeSpec(spec({}, transformModule(dir, '2')));
      for (const cmd of ['plan', 'work']) {
        const r = await run([cmd, '--spec', other]);
        expect(r.code, r.stderr).to.equal(EXIT.USAGE);
        expect(r.stderr).to.contain('changed: transform');
      }
      expect(await snapshot()).to.deep.equal(before);
    });

    it('a throwing transform records each document as rejected, and the slice finishes', async () => {
      const boomMigration = uniqueName('trboom');
      const boomSpec = writeSpec(spec({ migration: boomMigration, source: { kind: side.kind, url: side.legacyUrl, collection: source, query: side.query('boom') }, target: { kind: side.kind, url: side.newUrl, collection: boomTarget } }));
      expect((await run(['plan', '--spec', boomSpec])).code).to.equal(0);
      const w = await run(['work', '--spec', boomSpec]);
      expect(w.code, w.stderr).to.equal(0);
      const slices = await allSlices(zk, new Layout(root, boomMigration));
      expect(slices.every((s) => s.node.status === 'done')).to.equal(true);
      expect(slices.reduce((n, s) => n + s.node.counts.rejected, 0)).to.equal(ids('boom').length);
      const rejections = slices.flatMap((s) => s.node.rejections);
      expect(rejections.map((x) => x.id).sort()).to.deep.equal(ids('boom').sort());
      for (const x of rejections) expect(x.reason).to.contain(`cannot transform ${x.id}`);
      expect(slices.reduce((n, s) => n + (s.node.counts.transformRejected ?? 0), 0)).to.equal(ids('boom').length);
      expect(rejections.every((x) => x.by === 'transform')).to.equal(true);
      expect((await side.all(boomTarget)).size).to.equal(0);
      // status shows them apart from the target's rejections: the count, then each id with its message.
      const st = await run(['status', '--spec', boomSpec]);
      expect(st.code, st.stderr).to.equal(0);
      expect(st.stdout).to.contain(`rejected by the target 0, rejected by the transform ${ids('boom').length}`);
      expect(st.stdout).to.contain(`TRANSFORM REJECTIONS (dead letters): ${ids('boom').length} document(s) the transform 1 refused; all`);
      for (const id of ids('boom')) expect(st.stdout).to.contain(`  ${id}: transform 1 threw: cannot transform ${id}`);
      const json = JSON.parse((await run(['status', '--spec', boomSpec, '--json'])).stdout);
      expect(json.totals).to.include({ rejected: ids('boom').length, transformRejected: ids('boom').length });
      // Verification does not pass over dead letters: they are reported missing, by id.
      const v = await run(['verify-integrity', '--spec', boomSpec]);
      expect(v.code, v.stdout).to.equal(EXIT.DIFFERENCES);
      for (const id of ids('boom')) expect(v.stdout).to.contain(id);
    });
  });
}
