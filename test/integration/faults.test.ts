/**
 * What production does to a fleet, on the real stack: ZooKeeper restarts, a paused worker whose
 * session expires, the target cluster frozen for 30 s, source scan timeouts, poison documents,
 * and workers killed again and again while live updates and deletes go to both clusters.
 */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { generateDocs, type CustomerProfile } from '../../src/demo/dataset';
import { SolrAdmin } from '../../src/demo/solrAdmin';
import { HttpClient } from '../../src/backends/http';
import { Layout } from '../../src/coordination/layout';
import type { WorkNode } from '../../src/coordination/workNode';
import { ZkSession } from '../../src/coordination/zk';
import { SliceClaim } from '../../src/coordination/claim';
import { EXIT } from '../../src/errors';
import type { VerifyReport } from '../../src/verifier/verifier';
import type { MigrationStatus } from '../../src/status/status';
import { run, start, writeSpec, type Running } from '../support/cli';
import { allSlices, waitFor } from '../support/fleet';
import { PrivateZk, freePort } from '../support/privateZk';
import { connectZk, stack, uniqueName } from '../support/stack';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const stackRun = join(process.env.BLUEGREEN_STACK_DIR ?? resolve(__dirname, '../../../.stack'), 'run');
const pidOf = (name: string) => Number(readFileSync(join(stackRun, `${name}.pid`), 'utf8').trim());

/** Freezes one of the stack's servers (SIGSTOP by its pid) for a while: to clients, an outage with timeouts. */
async function freeze(name: string, ms: number): Promise<void> {
  const pid = pidOf(name);
  process.kill(pid, 'SIGSTOP');
  try {
    await sleep(ms);
  } finally {
    process.kill(pid, 'SIGCONT');
  }
}

const legacy = new SolrAdmin(stack.solrLegacy);
const next = new SolrAdmin(stack.solrNew);

interface Fixture {
  collection: string;
  spec: string;
  layout: Layout;
  total: number;
}

interface Overrides {
  source?: object;
  target?: object;
  worker?: object;
}

async function fixture(name: string, zkConnect: string, root: string, profiles: CustomerProfile[], extra: Overrides = {}): Promise<Fixture> {
  const collection = uniqueName(`bgtest_${name}`);
  await Promise.all([legacy.createCollection(collection, 2), next.createCollection(collection, 2)]);
  await legacy.index(collection, [...generateDocs(profiles, Date.UTC(2025, 0, 1), 3)], true);
  const migration = uniqueName(name);
  const spec = writeSpec({
    migration,
    zookeeper: { connect: zkConnect, root, sessionTimeout: '4s' },
    source: { kind: 'solr', url: stack.solrLegacy, collection, ...extra.source },
    target: { kind: 'solr', url: stack.solrNew, collection, ...extra.target },
    slicing: { targetDocsPerSlice: 400 },
    batch: { docs: 50 },
    worker: { slicesInFlight: 1, docsPerSecond: 400, ...extra.worker },
    verify: { gracePeriod: '1500ms' },
  });
  expect((await run(['plan', '--spec', spec])).code).to.equal(0);
  return { collection, spec, layout: new Layout(root, migration), total: profiles.reduce((s, p) => s + p.docs, 0) };
}

/**
 * A collection on both clusters whose target schema (its own configset copy) lacks the `*_b` dynamic
 * field the source has: documents with a `flag_b` field are refused by the target.
 */
async function strictTarget(name: string) {
  const collection = uniqueName(`bgtest_${name}`);
  const configSet = uniqueName('bgtest_strict');
  const admin = new HttpClient({ timeoutMs: 60_000, json: 'plain' });
  await admin.request('GET', `${stack.solrNew}/admin/configs?action=CREATE&name=${configSet}&baseConfigSet=bluegreen&wt=json`);
  const cleanup = async () => {
    await Promise.all([legacy.deleteCollection(collection), next.deleteCollection(collection)]);
    await admin.request('GET', `${stack.solrNew}/admin/configs?action=DELETE&name=${configSet}&wt=json`).catch(() => undefined);
  };
  try {
    await legacy.createCollection(collection, 1);
    await next.createCollection(collection, 1, configSet);
    await admin.request('POST', `${stack.solrNew}/${collection}/schema?wt=json`, JSON.stringify({ 'delete-dynamic-field': { name: '*_b' } }));
  } catch (e) {
    await cleanup();
    throw e;
  }
  return { collection, admin, cleanup };
}

async function assertCopied(f: Fixture): Promise<void> {
  await next.commit(f.collection);
  const [src, dst] = await Promise.all([legacy.all(f.collection, 'id,title'), next.all(f.collection, 'id,title')]);
  expect([...src.keys()].filter((id) => !dst.has(id)), 'missing in target').to.deep.equal([]);
  expect(dst.size).to.equal(src.size);
}

/** Runs workers until every slice is done (a killed worker's claims linger until its session ends). */
async function finish(f: Fixture, zk: ZkSession): Promise<void> {
  for (let i = 0; i < 10; i++) {
    const r = await run(['work', '--spec', f.spec]);
    expect([EXIT.OK, EXIT.ALL_CLAIMED], r.stderr).to.include(r.code);
    if ((await allSlices(zk, f.layout)).every((s) => s.node.status === 'done')) return;
    await sleep(2000);
  }
  throw new Error('the migration did not finish');
}

const ownedBy = (zk: ZkSession, f: Fixture, w: Running, minRead = 100) => async () => {
  const mine = (await allSlices(zk, f.layout)).filter((s) => s.node.owner?.startsWith(`${hostname()}-${w.child.pid}-`) && s.node.status === 'todo' && s.node.counts.read >= minRead);
  return mine.length ? mine : null;
};

describe('faults', function () {
  this.timeout(300_000);
  const collections: string[] = [];
  after(async () => {
    for (const c of collections) await Promise.all([legacy.deleteCollection(c), next.deleteCollection(c)]);
  });

  describe('ZooKeeper', () => {
    let zkServer: PrivateZk;
    let zk: ZkSession;
    beforeEach(async () => {
      zkServer = await PrivateZk.start();
      zk = await ZkSession.connect({ connect: zkServer.connect, sessionTimeout: 10_000, connectTimeout: 10_000 });
    });
    afterEach(async () => {
      zk.close();
      await zkServer.down();
    });

    it('restarts (down longer than the session timeout): workers carry on, nothing is claimed twice, the migration finishes', async () => {
      const f = await fixture('zkrestart', zkServer.connect, '/bluegreen', [{ name: 'a', docs: 1500, spanDays: 20 }, { name: 'b', docs: 700, spanDays: 200 }]);
      collections.push(f.collection);
      const workers = [start(['work', '--spec', f.spec]), start(['work', '--spec', f.spec])];
      await waitFor('progress', async () => (await allSlices(zk, f.layout)).some((s) => s.node.counts.read >= 100));
      await zkServer.down();
      await sleep(8000);
      await zkServer.up();
      const results = await Promise.all(workers.map((w) => w.done));
      for (const r of results) expect([EXIT.OK, EXIT.ALL_CLAIMED], r.stderr.slice(-2000)).to.include(r.code);
      const msgs = [...new Set(results.flatMap((r) => r.stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l).msg as string)))];
      expect(msgs.join(' | '), 'the outage was noticed').to.match(/cannot scan for work|dropped the slice|session expired|could not be recorded/);
      await finish(f, zk);
      const slices = await allSlices(zk, f.layout);
      for (const s of slices) {
        expect(s.node.counts.written + s.node.counts.skipped + s.node.counts.rejected, s.path).to.equal(s.node.counts.read);
        // At most a page or two re-read per interruption: never a slice copied twice over.
        expect(s.node.counts.read, s.path).to.be.at.most(s.node.estimate + 4 * 50);
      }
      await assertCopied(f);
    });

    it('a paused worker whose session expired wakes up fenced: no cursor moved back, no more writes for that slice', async () => {
      const f = await fixture('stale', zkServer.connect, '/bluegreen', [{ name: 'a', docs: 1200, spanDays: 20 }]);
      collections.push(f.collection);
      const a = start(['work', '--spec', f.spec]);
      const [held] = await waitFor('worker A to hold a slice with progress', ownedBy(zk, f, a));
      a.child.kill('SIGSTOP');
      const claimPath = f.layout.claim(held.address);
      await waitFor('the paused worker\'s claim to vanish with its session', async () => !(await zk.exists(claimPath)), 30_000);
      const b = await run(['work', '--spec', f.spec]);
      expect(b.code, b.stderr).to.equal(EXIT.OK);
      const done = (await allSlices(zk, f.layout)).find((s) => s.path === held.path)!.node;
      expect(done.status).to.equal('done');
      await next.commit(f.collection);
      const countBefore = (await next.all(f.collection)).size;
      expect(countBefore).to.equal(f.total);
      a.child.kill('SIGCONT');
      const woke = await a.done;
      expect(woke.code, woke.stderr.slice(-2000)).to.be.oneOf([EXIT.OK, EXIT.ALL_CLAIMED]);
      expect(woke.stderr).to.match(/dropped the slice: claim lost/);
      const after = (await allSlices(zk, f.layout)).find((s) => s.path === held.path)!.node;
      expect(after, 'the stale worker changed nothing').to.deep.equal(done);
      await next.commit(f.collection);
      expect((await next.all(f.collection)).size).to.equal(countBefore);
      await assertCopied(f);
    });
  });

  describe('clusters', () => {
    let zk: ZkSession;
    const root = `/${uniqueName('bgtest')}`;
    before(async () => {
      zk = await connectZk();
    });
    after(async () => {
      await zk.removeRecursive(root);
      zk.close();
    });

    it('the target frozen for 30 s mid-copy: the worker backs off (and slows down), then finishes with nothing lost', async () => {
      const f = await fixture('outage', stack.zk, root, [{ name: 'a', docs: 2000, spanDays: 10 }], {
        target: { requestTimeout: '3s' },
        worker: { slicesInFlight: 2, docsPerSecond: 0, requestRetries: 12 },
      });
      collections.push(f.collection);
      const spec = f.spec;
      const port = await freePort();
      const w = start(['work', '--spec', spec, '--follow', '--http-port', String(port)]);
      await waitFor('progress', async () => (await allSlices(zk, f.layout)).some((s) => s.node.counts.read >= 50));
      await freeze('solr-new', 30_000);
      await waitFor('the copy to finish', async () => (await allSlices(zk, f.layout)).every((s) => s.node.status === 'done'), 120_000);
      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      w.child.kill('SIGTERM');
      const r = await w.done;
      const backoffs = metrics.split('\n').filter((l) => l.startsWith('bluegreen_backoffs_total{') && l.includes('side="write"'));
      expect(backoffs.length, 'backoffs counted in metrics').to.be.greaterThan(0);
      expect(Number(backoffs[0].split(' ').pop())).to.be.greaterThan(0);
      expect(metrics).to.match(/bluegreen_throttle_documents_per_second\{migration="[^"]+"\} \d+/);
      expect(r.stderr).to.match(/backing off/);
      await assertCopied(f);
    });

    it('source scan timeouts are retried, never taken for the end of a slice', async () => {
      const f = await fixture('hiccup', stack.zk, root, [{ name: 'a', docs: 1500, spanDays: 10 }], { source: { requestTimeout: '2s' } });
      collections.push(f.collection);
      const w = start(['work', '--spec', f.spec]);
      await waitFor('progress', async () => (await allSlices(zk, f.layout)).some((s) => s.node.counts.read >= 50));
      await freeze('solr-legacy', 6000);
      const r = await w.done;
      expect(r.code, r.stderr.slice(-2000)).to.equal(EXIT.OK);
      expect(r.stderr).to.match(/"side":"read"[^\n]*backing off/);
      await assertCopied(f);
    });

    it('poison documents are recorded with id and reason, reported by status and verify; the rest completes', async () => {
      const { collection, admin, cleanup } = await strictTarget('poison');
      try {
        const docs = [...generateDocs([{ name: 'p', docs: 600, spanDays: 30 }], Date.UTC(2025, 0, 1), 9)];
        const poison = docs.filter((_, i) => i % 100 === 7).map((d) => d.id);
        await legacy.index(collection, docs.map((d) => (poison.includes(d.id) ? { ...d, flag_b: true } : d)), true);
        const spec = writeSpec({
          migration: uniqueName('poison'), zookeeper: { connect: stack.zk, root },
          source: { kind: 'solr', url: stack.solrLegacy, collection }, target: { kind: 'solr', url: stack.solrNew, collection },
          slicing: { targetDocsPerSlice: 200 }, batch: { docs: 100 }, verify: { gracePeriod: '1s' },
        });
        expect((await run(['plan', '--spec', spec])).code).to.equal(0);
        const w = await run(['work', '--spec', spec]);
        expect(w.code, w.stderr).to.equal(EXIT.OK);
        const st: MigrationStatus = JSON.parse((await run(['status', '--spec', spec, '--json'])).stdout);
        expect(st.totals.rejected).to.equal(poison.length);
        expect(st.totals.slices.done).to.equal(st.totals.slices.total);
        const diag = JSON.parse((await run(['diagnostics', '--spec', spec])).stdout);
        const rejections = Object.values(diag.slices).flatMap((s: any) => s.rejections);
        expect(rejections.map((x: any) => x.id).sort()).to.deep.equal([...poison].sort());
        for (const x of rejections as Array<{ reason: string }>) expect(x.reason).to.match(/unknown field 'flag_b'/);
        const v = await run(['verify-integrity', '--spec', spec, '--json']);
        expect(v.code).to.equal(EXIT.DIFFERENCES);
        const report: VerifyReport = JSON.parse(v.stdout);
        expect(report.results.flatMap((x) => x.missing).sort()).to.deep.equal([...poison].sort());
        await next.commit(collection);
        expect(await next.count(collection)).to.equal(docs.length - poison.length);
      } finally {
        await cleanup();
      }
    });

    it('a target that refuses every document fails the slices (not "done" with nothing copied); release --retry requeues them once fixed', async () => {
      const { collection, admin, cleanup } = await strictTarget('refuse');
      try {
        const docs = [...generateDocs([{ name: 'r', docs: 300, spanDays: 30 }], Date.UTC(2025, 0, 1), 5)].map((d) => ({ ...d, flag_b: true }));
        await legacy.index(collection, docs, true);
        const spec = writeSpec({
          migration: uniqueName('refuse'), zookeeper: { connect: stack.zk, root },
          source: { kind: 'solr', url: stack.solrLegacy, collection }, target: { kind: 'solr', url: stack.solrNew, collection },
          slicing: { targetDocsPerSlice: 150 }, batch: { docs: 50 }, worker: { maxAttempts: 2 },
        });
        expect((await run(['plan', '--spec', spec])).code).to.equal(0);
        const w = await run(['work', '--spec', spec]);
        expect(w.code, w.stderr.slice(-1500)).to.equal(EXIT.SLICES_FAILED);
        const st = await run(['status', '--spec', spec, '--json']);
        const status: MigrationStatus = JSON.parse(st.stdout);
        expect(status.failed.length).to.be.greaterThan(0);
        const msgs = [...new Set(w.stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => { const j = JSON.parse(l); return `${j.msg} ${j.err ?? j.reason ?? ''}`.slice(0, 160); }))];
        for (const f of status.failed) expect(f.lastError, msgs.join('\n')).to.match(/rejected every document of a page[\s\S]*flag_b/);
        expect(status.totals.slices.done + status.failed.length).to.equal(status.totals.slices.total);
        const human = await run(['status', '--spec', spec]);
        expect(human.stdout).to.match(/FAILED: \d+ slice\(s\) — after fixing the cause: bluegreen release/);
        const refused = await run(['release', '--spec', spec, '--slice', `r/${status.failed[0].slice}`]);
        expect(refused.code).to.equal(EXIT.USAGE);
        expect(refused.stderr).to.match(/has failed[\s\S]*--retry/);

        await admin.request('POST', `${stack.solrNew}/${collection}/schema?wt=json`, JSON.stringify({ 'add-dynamic-field': { name: '*_b', type: 'boolean', indexed: true, stored: true } }));
        for (const f of status.failed) {
          const r = await run(['release', '--spec', spec, '--slice', `r/${f.slice}`, '--retry']);
          expect(r.code, r.stderr).to.equal(0);
          expect(r.stdout).to.match(/back in the queue/);
        }
        const again = await run(['work', '--spec', spec]);
        expect(again.code, again.stderr.slice(-1500)).to.equal(EXIT.OK);
        await next.commit(collection);
        expect(await next.count(collection)).to.equal(docs.length);
      } finally {
        await cleanup();
      }
    });

    it('a slice its workers keep dying on (claimed, no progress, no failure recorded) is failed, not retried forever', async () => {
      const f = await fixture('stall', stack.zk, root, [{ name: 'a', docs: 100, spanDays: 5 }], { worker: { maxAttempts: 2 } });
      collections.push(f.collection);
      const [first] = await allSlices(zk, f.layout);
      // Five workers that claimed the slice and died before their first checkpoint.
      for (let i = 0; i < 5; i++) {
        const got = await zk.getData(first.path);
        const claim = await SliceClaim.take(zk, f.layout, first.address, `doomed-${i}`, { node: JSON.parse(got.data.toString()), version: got.stat.version });
        expect(claim, `claim ${i}`).to.not.equal(null);
        await claim!.release();
      }
      const w = await run(['work', '--spec', f.spec]);
      expect(w.code, w.stderr.slice(-1500)).to.equal(EXIT.SLICES_FAILED);
      const node: WorkNode = JSON.parse((await zk.getData(first.path)).data.toString());
      expect(node.status).to.equal('failed');
      expect(node.lastError).to.match(/claimed 6 times without progress/);
      expect((await run(['release', '--spec', f.spec, '--slice', String(node.index), '--retry'])).code).to.equal(0);
      expect((await run(['work', '--spec', f.spec])).code).to.equal(EXIT.OK);
      await assertCopied(f);
    });

    it('workers killed again and again during live updates and deletes: after verify --repair, source and target are equal', async () => {
      const f = await fixture('chaos', stack.zk, root, [{ name: 'a', docs: 2000, spanDays: 15 }, { name: 'b', docs: 800, spanDays: 300 }], {
        worker: { slicesInFlight: 2, docsPerSecond: 300 },
      });
      collections.push(f.collection);
      const docs = [...generateDocs([{ name: 'a', docs: 2000, spanDays: 15 }, { name: 'b', docs: 800, spanDays: 300 }], Date.UTC(2025, 0, 1), 3)];
      let stop = false;
      let ops = 0;
      const live = (async () => {
        for (let i = 0; !stop; i++) {
          const d = docs[(i * 53) % docs.length];
          if (i % 4 === 3) {
            await legacy.deleteById(f.collection, [d.id]);
            await sleep(50);
            await next.deleteById(f.collection, [d.id]);
          } else {
            const upd = { ...d, title: `live ${i}` };
            await legacy.index(f.collection, [upd]);
            await sleep(50);
            await next.index(f.collection, [upd]);
          }
          ops++;
          await sleep(30);
        }
      })();
      const pool: Running[] = [start(['work', '--spec', f.spec]), start(['work', '--spec', f.spec])];
      for (let round = 0; round < 5; round++) {
        await sleep(800 + Math.floor(Math.random() * 1200));
        const victim = pool.splice(Math.floor(Math.random() * pool.length), 1)[0];
        victim.child.kill('SIGKILL');
        await victim.done;
        pool.push(start(['work', '--spec', f.spec]));
      }
      await Promise.all(pool.map((w) => w.done));
      await finish(f, zk);
      stop = true;
      await live;
      expect(ops, 'live writes ran during the copy').to.be.greaterThan(20);
      await Promise.all([legacy.commit(f.collection), next.commit(f.collection)]);
      const repair = await run(['verify-integrity', '--spec', f.spec, '--new', '--repair', '--json']);
      expect([EXIT.OK, EXIT.DIFFERENCES]).to.include(repair.code);
      await next.commit(f.collection);
      const v = await run(['verify-integrity', '--spec', f.spec, '--new', '--json']);
      expect(v.code, v.stdout.slice(0, 2000)).to.equal(EXIT.OK);
      const [src, dst] = await Promise.all([legacy.all(f.collection, 'id,title'), next.all(f.collection, 'id,title')]);
      expect(dst.size).to.equal(src.size);
      for (const [id, d] of src) expect(dst.get(id)?.title, id).to.deep.equal(d.title);
    });
  });
});
