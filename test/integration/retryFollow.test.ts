/**
 * `release --retry` reaches workers that are already running: a `work --follow` worker that saw a
 * slice fail takes it again once the operator requeues it, without a restart (only `done` is final
 * in a worker's memory; a failed slice's work node is looked at again each pass).
 */
import { expect } from 'chai';
import { generateDocs } from '../../src/demo/dataset';
import { SolrAdmin } from '../../src/demo/solrAdmin';
import { HttpClient } from '../../src/backends/http';
import { Layout } from '../../src/coordination/layout';
import type { ZkSession } from '../../src/coordination/zk';
import { EXIT } from '../../src/errors';
import type { MigrationStatus } from '../../src/status/status';
import { run, start, writeSpec, type Running } from '../support/cli';
import { allSlices, waitFor, type SliceView } from '../support/fleet';
import { connectZk, stack, uniqueName } from '../support/stack';

describe('release --retry picks up in running --follow workers', function () {
  this.timeout(240_000);
  const legacy = new SolrAdmin(stack.solrLegacy);
  const next = new SolrAdmin(stack.solrNew);
  const admin = new HttpClient({ timeoutMs: 60_000, json: 'plain' });
  const collection = uniqueName('bgtest_retryf');
  // The target's own configset copy, without the `*_b` dynamic field: documents with `flag_b` are refused.
  const configSet = uniqueName('bgtest_strict');
  const root = `/${uniqueName('bgtest')}`;
  const migration = uniqueName('retryf');
  const layout = new Layout(root, migration);
  const docs = [...generateDocs([{ name: 'r', docs: 300, spanDays: 30 }], Date.UTC(2025, 0, 1), 5)].map((d) => ({ ...d, flag_b: true }));
  let zk: ZkSession;
  let worker: Running | undefined;

  before(async () => {
    zk = await connectZk();
    await admin.request('GET', `${stack.solrNew}/admin/configs?action=CREATE&name=${configSet}&baseConfigSet=bluegreen&wt=json`);
    await legacy.createCollection(collection, 1);
    await next.createCollection(collection, 1, configSet);
    await admin.request('POST', `${stack.solrNew}/${collection}/schema?wt=json`, JSON.stringify({ 'delete-dynamic-field': { name: '*_b' } }));
    await legacy.index(collection, docs, true);
  });

  after(async () => {
    if (worker && worker.child.exitCode === null && worker.child.signalCode === null) {
      worker.child.kill('SIGTERM');
      await worker.done;
    }
    await zk.removeRecursive(root);
    zk.close();
    await Promise.all([legacy.deleteCollection(collection), next.deleteCollection(collection)]);
    await admin.request('GET', `${stack.solrNew}/admin/configs?action=DELETE&name=${configSet}&wt=json`).catch(() => undefined);
  });

  const sliceRef = (s: SliceView) => `r/${s.node.index}`;
  const alive = (w: Running) => w.child.exitCode === null && w.child.signalCode === null;

  it('a failed slice, retried after the target is fixed, is copied by the --follow worker that saw it fail', async () => {
    const spec = writeSpec({
      migration, zookeeper: { connect: stack.zk, root },
      source: { kind: 'solr', url: stack.solrLegacy, collection }, target: { kind: 'solr', url: stack.solrNew, collection },
      slicing: { targetDocsPerSlice: 150 }, batch: { docs: 50 }, worker: { maxAttempts: 1, slicesInFlight: 2 },
    });
    const plan = await run(['plan', '--spec', spec]);
    expect(plan.code, plan.stderr).to.equal(0);
    // The range slices hold the documents (the no-timestamp slice is empty, and finishes `done`).
    const withDocs = (await allSlices(zk, layout)).filter((s) => s.node.estimate > 0).map((s) => s.node.index).sort();
    expect(withDocs.length, 'two slices with documents or more, so one can be retried alone').to.be.greaterThan(1);

    const w = start(['work', '--spec', spec, '--follow', '--http-port', '0']);
    worker = w;
    // Every slice finished, and the worker scanned again after that (it saw nothing left to copy):
    // from now on it has the failed slices in memory.
    await waitFor('every slice finished and the worker looked again', async () =>
      (await allSlices(zk, layout)).every((s) => s.node.status !== 'todo') && /copy finished/.test(w.output().stderr))
      .catch(async (e) => {
        const states = (await allSlices(zk, layout)).map((s) => `${s.node.index}:${s.node.status} ${s.node.lastError ?? ''}`);
        throw new Error(`${e.message}; slices ${states.join(', ')}; worker said:\n${w.output().stderr.slice(-3000)}`);
      });
    const failed = (await allSlices(zk, layout)).filter((s) => s.node.status === 'failed').map((s) => s.node.index).sort();
    expect(failed, 'every slice with documents failed').to.deep.equal(withDocs);
    expect(alive(w), 'the --follow worker keeps running').to.equal(true);
    await next.commit(collection);
    expect(await next.count(collection)).to.equal(0);

    // The operator fixes the target, then requeues one slice only.
    await admin.request('POST', `${stack.solrNew}/${collection}/schema?wt=json`, JSON.stringify({ 'add-dynamic-field': { name: '*_b', type: 'boolean', indexed: true, stored: true } }));
    const [first, ...rest] = (await allSlices(zk, layout)).filter((s) => s.node.status === 'failed').sort((a, b) => a.node.index - b.node.index);
    const retried = await run(['release', '--spec', spec, '--slice', sliceRef(first), '--retry']);
    expect(retried.code, retried.stderr).to.equal(0);
    expect(retried.stdout).to.match(/back in the queue/);

    const done = await waitFor('the retried slice done by the running worker', async () => {
      const s = (await allSlices(zk, layout)).find((x) => x.node.index === first.node.index)!;
      return s.node.status === 'done' ? s : null;
    }, 90_000);
    expect(alive(w), 'copied without a restart').to.equal(true);
    expect(done.node.owner).to.equal(null);
    expect(done.node.counts.read).to.equal(done.node.counts.written);
    expect(done.node.counts.read).to.be.greaterThan(0);
    await next.commit(collection);
    expect(await next.count(collection), 'the retried slice\'s documents are in the target').to.equal(done.node.counts.written);
    for (const s of await allSlices(zk, layout)) {
      if (rest.some((x) => x.node.index === s.node.index)) expect(s.node.status, 'the slices not retried stay failed').to.equal('failed');
    }

    // The exit code still counts the failed slices that are left.
    const once = await run(['work', '--spec', spec]);
    expect(once.code, once.stderr.slice(-1500)).to.equal(EXIT.SLICES_FAILED);
    const st: MigrationStatus = JSON.parse((await run(['status', '--spec', spec, '--json'])).stdout);
    expect(st.failed.length).to.equal(rest.length);

    for (const s of rest) {
      const r = await run(['release', '--spec', spec, '--slice', sliceRef(s), '--retry']);
      expect(r.code, r.stderr).to.equal(0);
    }
    await waitFor('every slice done', async () => (await allSlices(zk, layout)).every((s) => s.node.status === 'done'), 90_000);
    expect(alive(w)).to.equal(true);
    await next.commit(collection);
    expect(await next.count(collection)).to.equal(docs.length);
    const ids = await next.all(collection, 'id');
    expect([...ids.keys()].sort()).to.deep.equal(docs.map((d) => d.id).sort());

    w.child.kill('SIGTERM');
    const r = await w.done;
    expect(r.code, r.stderr.slice(-1500)).to.equal(EXIT.INTERRUPTED);
    const after = await run(['work', '--spec', spec]);
    expect(after.code, after.stderr.slice(-1500)).to.equal(EXIT.OK);
  });
});
