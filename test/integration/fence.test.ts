/**
 * The fence, on the real stack: a claim reaches into the backends (a worker that lost its slice
 * while sitting in the target's retry loop sends nothing more), and a claim is removed only by the
 * claim that created it (an operator's release racing a worker's claim never costs the next worker
 * its claim).
 */
import { expect } from 'chai';
import { hostname } from 'node:os';
import { SliceClaim } from '../../src/coordination/claim';
import { Layout, sliceNodeName } from '../../src/coordination/layout';
import type { SliceBounds, WorkNode } from '../../src/coordination/workNode';
import { emptyCounts } from '../../src/coordination/workNode';
import { CreateMode, ZkSession, encodeJson } from '../../src/coordination/zk';
import type { Spec } from '../../src/config/spec';
import { generateDocs } from '../../src/demo/dataset';
import { EXIT, FencedError } from '../../src/errors';
import { SolrBackend } from '../../src/backends/solr/solrBackend';
import type { SourceDoc } from '../../src/backends/types';
import { SolrAdmin } from '../../src/demo/solrAdmin';
import { releaseSlice } from '../../src/status/status';
import { run, start, writeSpec } from '../support/cli';
import { EsAdmin, TEST_MAPPING } from '../support/esAdmin';
import { allSlices, freezeWhen, waitFor, type SliceView } from '../support/fleet';
import { connectZk, stack, uniqueName } from '../support/stack';

/** `zk` as a worker's lane sees it, except that `step` runs once right before the first call of `method` on `path`. */
function interleaved(zk: ZkSession, method: 'getData' | 'multi', path: string, step: () => Promise<void>): ZkSession {
  let done = false;
  return new Proxy(zk, {
    get(target, key) {
      const value = Reflect.get(target, key, target);
      if (key !== method) return typeof value === 'function' ? value.bind(target) : value;
      return async (...args: any[]) => {
        const touches = method === 'getData' ? args[0] === path : (args[0] as Array<{ path: string }>).some((o) => o.path === path);
        if (touches && !done) {
          done = true;
          await step();
        }
        return (value as (...a: any[]) => any).apply(target, args);
      };
    },
  });
}

describe('the fence', function () {
  this.timeout(300_000);

  describe('claims are removed only by the claim that created them (real ZooKeeper)', () => {
    const root = `/${uniqueName('bgtest')}`;
    const migration = uniqueName('fence');
    const layout = new Layout(root, migration);
    const spec = { migration, zookeeper: { root } } as unknown as Spec;
    const address = { bucket: '0', name: sliceNodeName(0) };
    const slicePath = layout.slice(address);
    const claimPath = layout.claim(address);
    let zkA: ZkSession;
    let zkB: ZkSession;
    let zkOperator: ZkSession;
    const held: SliceClaim[] = [];

    /** What a worker's scheduler does: read the work node, then claim it at the version read. */
    async function claimVia(zk: ZkSession, worker: string): Promise<SliceClaim | null> {
      const got = await zk.getData(slicePath);
      return SliceClaim.take(zk, layout, address, worker, { node: JSON.parse(got.data.toString()), version: got.stat.version });
    }

    before(async () => {
      [zkA, zkB, zkOperator] = await Promise.all([connectZk(), connectZk(), connectZk()]);
    });
    beforeEach(async () => {
      const node: WorkNode = {
        customers: ['acme'], index: 0, bounds: { kind: 'range', from: null, to: null }, estimate: 10, status: 'todo', cursor: null,
        counts: emptyCounts(), attempts: 0, stalls: 0, failures: 0, lastError: null, rejections: [], owner: null,
        progressAt: null, startedAt: null, finishedAt: null,
      };
      await zkOperator.removeRecursive(root);
      await zkOperator.mkdirp(layout.sliceBucket(address.bucket));
      await zkOperator.mkdirp(layout.queueBucket(address.bucket));
      await zkOperator.create(slicePath, encodeJson(node));
      await zkOperator.create(layout.queued(address));
      // The plan node (release needs its bucket count): one bucket, one slice.
      await zkOperator.create(layout.plan, encodeJson({ generation: 1, customers: 1, slices: 1, buckets: 1, customerBuckets: 1, estimate: 10, plannedAt: 1, plannedBy: 't', specHash: 'h', summary: { docs: 10, min: 10, median: 10, max: 10 }, top: ['acme'] }));
    });
    afterEach(async () => {
      for (const c of held.splice(0)) await c.release();
    });
    after(async () => {
      await zkOperator.removeRecursive(root);
      for (const z of [zkA, zkB, zkOperator]) z.close();
    });

    /** The operator releases worker A's claim, and worker B claims the slice: what happens between A's steps. */
    const releaseThenBClaims = async () => {
      expect(await releaseSlice(spec, zkOperator, '0')).to.match(/^(released slice 0|slice 0 was not claimed)/);
      const b = await claimVia(zkB, 'worker-b');
      expect(b, 'B claims the released slice').to.not.equal(null);
      held.push(b!);
    };

    /** B's claim is there, B's, and B can still checkpoint (its fencing intact). */
    async function bStillHolds(): Promise<void> {
      const stat = await zkOperator.exists(claimPath);
      expect(stat, "B's claim survived").to.not.equal(null);
      expect(stat!.ephemeralOwner).to.deep.equal(zkB.client.getSessionId());
      const b = held[0];
      await b.checkpoint((node) => ({ ...node, cursor: 'b-was-here' }));
      expect(JSON.parse((await zkOperator.getData(slicePath)).data.toString()).cursor).to.equal('b-was-here');
    }

    it('two workers that read the same version: exactly one gets the slice, the other takes and removes nothing', async () => {
      const [ga, gb] = await Promise.all([zkA.getData(slicePath), zkB.getData(slicePath)]);
      expect(ga.stat.version).to.equal(gb.stat.version);
      const [a, b] = await Promise.all([
        SliceClaim.take(zkA, layout, address, 'worker-a', { node: JSON.parse(ga.data.toString()), version: ga.stat.version }),
        SliceClaim.take(zkB, layout, address, 'worker-b', { node: JSON.parse(gb.data.toString()), version: gb.stat.version }),
      ]);
      expect([a, b].filter((x) => x !== null), 'one claim').to.have.length(1);
      const winner = (a ?? b)!;
      held.push(winner);
      const stat = await zkOperator.exists(claimPath);
      expect(stat!.ephemeralOwner).to.deep.equal((a ? zkA : zkB).client.getSessionId());
      const node: WorkNode = JSON.parse((await zkOperator.getData(slicePath)).data.toString());
      expect(node.owner).to.equal(a ? 'worker-a' : 'worker-b');
      expect(node.attempts).to.equal(1);
    });

    it('released and claimed by B between A\'s read and A\'s multi: A takes nothing and B\'s claim survives', async () => {
      const got = await zkA.getData(slicePath);
      const first = await claimVia(zkA, 'worker-a');
      expect(first).to.not.equal(null);
      // A's claim is released (as if A had died) and B claims; then A tries with what it read before.
      await releaseThenBClaims();
      const again = await SliceClaim.take(zkA, layout, address, 'worker-a', { node: JSON.parse(got.data.toString()), version: got.stat.version });
      expect(again, 'A does not take the slice on B\'s claim').to.equal(null);
      // A giving back its old claim (same session, same path) leaves B's alone.
      await first!.release();
      await bStillHolds();
    });

    it('a stale holder is fenced: after release and B\'s claim, A\'s checkpoint fails and moves nothing', async () => {
      const a = await claimVia(zkA, 'worker-a');
      await releaseThenBClaims();
      let err: unknown;
      await a!.checkpoint((node) => ({ ...node, cursor: 'a-was-here' })).catch((e) => (err = e));
      expect(err).to.be.instanceOf(FencedError);
      await bStillHolds();
    });

    it('the claim multi went through but its answer was lost: A removes its own claim only, and never B\'s', async () => {
      let committed = false;
      const lost = new Proxy(zkA, {
        get(target, key) {
          const value = Reflect.get(target, key, target);
          if (key !== 'multi') return typeof value === 'function' ? value.bind(target) : value;
          return async (ops: any) => {
            if (committed) return target.multi(ops);
            committed = true;
            await target.multi(ops);
            throw new Error('connection lost (test)');
          };
        },
      }) as ZkSession;
      let err: unknown;
      await claimVia(lost, 'worker-a').catch((e) => (err = e));
      expect(String(err)).to.match(/connection lost \(test\)/);
      expect(await zkOperator.exists(claimPath), 'A cleaned up its own claim').to.equal(null);
      // And the same cleanup never touches a claim of another session on that path.
      const b = await claimVia(zkB, 'worker-b');
      held.push(b!);
      const racing = interleaved(zkA, 'getData', slicePath, async () => undefined);
      expect(await claimVia(racing, 'worker-a')).to.equal(null);
      await bStillHolds();
    });

    it('a claim given back is removed (its own), and its signal is aborted with a FencedError', async () => {
      const a = await claimVia(zkA, 'worker-a');
      expect(a).to.not.equal(null);
      expect(a!.signal.aborted).to.equal(false);
      await a!.release();
      expect(a!.signal.aborted).to.equal(true);
      expect(a!.signal.reason).to.have.property('name', 'FencedError');
      expect(await zkOperator.exists(claimPath)).to.equal(null);
    });

    it('a finishing checkpoint takes the slice off the queue and adds it to its bucket summary in one multi', async () => {
      await zkOperator.create(layout.summaries).catch(() => undefined);
      const a = await claimVia(zkA, 'worker-a');
      await a!.checkpoint((node) => ({ ...node, cursor: 'end', status: 'done', finishedAt: Date.now(), counts: { read: 10, written: 9, skipped: 1, rejected: 0 } }));
      expect(await zkOperator.exists(layout.queued(address)), 'off the queue').to.equal(null);
      const sum = JSON.parse((await zkOperator.getData(layout.summary(address.bucket))).data.toString());
      expect(sum.done).to.equal(1);
      expect(sum.counts).to.deep.equal({ read: 10, written: 9, skipped: 1, rejected: 0 });
      await a!.release();
      expect(await zkOperator.exists(claimPath)).to.equal(null);
    });
  });

  describe('a worker that lost its claim while in the target\'s retry loop sends nothing more (Elasticsearch 7 → 8)', () => {
    const legacy = new EsAdmin(stack.esLegacy);
    const next = new EsAdmin(stack.esNew);
    const index = uniqueName('bgtest_fence');
    const migration = uniqueName('fence');
    const root = `/${uniqueName('bgtest')}`;
    const layout = new Layout(root, migration);
    const BATCH = 50;
    let zk: ZkSession;

    before(async () => {
      zk = await connectZk();
      await legacy.createIndex(index, { settings: { number_of_shards: 1, number_of_replicas: 0 }, mappings: TEST_MAPPING });
      await next.createIndex(index, { settings: { number_of_shards: 1, number_of_replicas: 0 }, mappings: TEST_MAPPING });
      await legacy.index(index, [...generateDocs([{ name: 'a', docs: 1200, spanDays: 20 }], Date.UTC(2025, 0, 1), 3)].map((d) => ({ _id: d.id, source: d })));
    });
    after(async () => {
      await blockWrites(false).catch(() => undefined);
      await zk.removeRecursive(root);
      zk.close();
      await Promise.all([legacy.deleteIndex(index), next.deleteIndex(index)]);
    });

    /** The flood-stage block: Elasticsearch refuses every bulk item with 429, so the backend sits in its item-retry loop. */
    async function blockWrites(on: boolean): Promise<void> {
      const res = await fetch(`${stack.esNew}/${index}/_settings`, {
        method: 'PUT', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ 'index.blocks.read_only_allow_delete': on ? true : null }),
      });
      expect(res.status, await res.text()).to.equal(200);
    }

    /** The documents of the slice after its cursor, in cursor order: the page the worker was writing. */
    async function pageAfter(node: WorkNode, size: number): Promise<string[]> {
      const bounds = node.bounds as Extract<SliceBounds, { kind: 'range' }>;
      const range: Record<string, unknown> = { format: 'epoch_millis' };
      if (bounds.from !== null) range.gte = bounds.from;
      if (bounds.to !== null) range.lt = bounds.to;
      const res = await fetch(`${stack.esLegacy}/${index}/_search`, {
        method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          size, sort: [{ id: 'asc' }], _source: false, search_after: JSON.parse(node.cursor!),
          query: { bool: { filter: [{ term: { customer: node.customers[0] } }, { range: { timestamp: range } }] } },
        }),
      });
      return ((await res.json()) as any).hits.hits.map((h: { _id: string }) => h._id);
    }

    it('paused mid-retry past its session, resumed after another worker finished and the application deleted documents: nothing lands', async () => {
      const spec = writeSpec({
        migration,
        zookeeper: { connect: stack.zk, root, sessionTimeout: '4s' },
        source: { kind: 'elasticsearch', url: stack.esLegacy, collection: index },
        target: { kind: 'elasticsearch', url: stack.esNew, collection: index },
        slicing: { targetDocsPerSlice: 400 },
        batch: { docs: BATCH },
        // Many item retries: the refused documents would be sent again for minutes.
        worker: { slicesInFlight: 1, docsPerSecond: 300, requestRetries: 20 },
      });
      expect((await run(['plan', '--spec', spec])).code).to.equal(0);
      const a = start(['work', '--spec', spec]);
      const prefix = `${hostname()}-${a.child.pid}-`;
      const mine = async () => (await allSlices(zk, layout)).find((s) => s.node.owner?.startsWith(prefix) && s.node.status === 'todo' && s.node.cursor !== null
        && s.node.estimate - s.node.counts.read >= 2 * BATCH) ?? null;
      await waitFor('worker A to be mid-slice', mine);
      await blockWrites(true);
      // Frozen while it sits in the backend's item-retry loop (it has been refused at least once).
      const held: SliceView = await freezeWhen('worker A to be refused by the target, mid-slice', a, async () => {
        if (!/target busy: sending the refused documents again/.test(a.output().stderr)) return null;
        return mine();
      });
      const claimPath = layout.claim(held.address);
      try {
        await blockWrites(false);
        await waitFor("the paused worker's claim to vanish with its session", async () => !(await zk.exists(claimPath)), 30_000);
        const b = await run(['work', '--spec', spec]);
        expect(b.code, b.stderr.slice(-2000)).to.equal(EXIT.OK);
        const slices = await allSlices(zk, layout);
        expect(slices.every((s) => s.node.status === 'done')).to.equal(true);
        // The application deletes the documents A was sending, in both clusters.
        const doomed = await pageAfter(held.node, BATCH);
        expect(doomed.length).to.be.greaterThan(0);
        await next.refresh(index);
        for (const id of doomed) expect(await next.get(index, id), `${id} was copied by B`).to.not.equal(null);
        for (const id of doomed) await Promise.all([legacy.deleteDoc(index, id), next.deleteDoc(index, id)]);
        await Promise.all([legacy.refresh(index), next.refresh(index)]);
        const countBefore = await next.count(index);
        expect(countBefore).to.equal(1200 - doomed.length);
        const nodeBefore = slices.find((s) => s.path === held.path)!.node;

        a.child.kill('SIGCONT');
        const woke = await a.done;
        expect(woke.code, woke.stderr.slice(-2000)).to.be.oneOf([EXIT.OK, EXIT.ALL_CLAIMED]);
        expect(woke.stderr).to.match(/dropped the slice: claim lost/);

        await next.refresh(index);
        for (const id of doomed) expect(await next.get(index, id), `${id} resurrected by the stale worker`).to.equal(null);
        expect(await next.count(index), 'target count unchanged').to.equal(countBefore);
        const nodeAfter = (await allSlices(zk, layout)).find((s) => s.path === held.path)!.node;
        expect(nodeAfter, 'the work node is unchanged').to.deep.equal(nodeBefore);
      } finally {
        if (a.child.exitCode === null) {
          a.child.kill('SIGCONT');
          a.child.kill('SIGKILL');
        }
      }
    });
  });

  describe('Solr: the halving of a refused batch stops at the fence', () => {
    const admin = new SolrAdmin(stack.solrNew);
    const collection = uniqueName('bgtest_fence');
    before(() => admin.createCollection(collection, 1));
    after(() => admin.deleteCollection(collection));

    it('a claim lost after the first refusal: no half of the batch is sent, the error is the FencedError', async () => {
      const endpoint = { kind: 'solr', url: stack.solrNew, collection, requestTimeout: 30_000 } as unknown as Spec['target'];
      const backend = new SolrBackend(endpoint, { customer: 'customer', timestamp: 'timestamp', uniqueKey: 'id' });
      const doc = (id: string, timestamp: string): SourceDoc => ({ id, fields: { id, customer: 'a', timestamp }, bytes: 60 });
      // One document Solr refuses (400: not a date) fails the batch (Solr stops at it: first here, so
      // nothing of this request lands); the backend then halves the batch to find it.
      const batch = [doc('bad-1', 'not a date'), doc('good-2', '2025-01-02T00:00:00Z'), doc('good-3', '2025-01-03T00:00:00Z'), doc('good-4', '2025-01-04T00:00:00Z')];
      const fence = new AbortController();
      // The claim is lost the moment the first refusal is answered (instrumenting our client, not the server).
      // Both of its clients: updates straight to a shard leader go through the one that parses natively.
      const updates: number[] = [];
      for (const which of ['http', 'plainHttp'] as const) {
        const http = (backend as unknown as Record<string, { request: (...a: any[]) => Promise<unknown> }>)[which];
        const request = http.request.bind(http);
        http.request = async (...args: any[]) => {
          const isUpdate = String(args[1]).includes('/update');
          try {
            return await request(...args);
          } finally {
            if (isUpdate) {
              updates.push(1);
              fence.abort(new FencedError('claim lost (test)'));
            }
          }
        };
      }
      let err: unknown;
      await backend.writeBatch(batch, fence.signal).catch((e) => (err = e));
      expect(err).to.be.instanceOf(FencedError);
      expect(updates, 'update requests sent').to.have.length(1);
      await admin.commit(collection);
      expect(await admin.count(collection), 'nothing of the refused batch landed').to.equal(0);
      // The same batch with no fence: the halving finds the bad document and creates the rest.
      const r = await backend.writeBatch(batch);
      expect(r.written).to.equal(3);
      expect(r.rejected.map((x) => x.id)).to.deep.equal(['bad-1']);
    });
  });
});
