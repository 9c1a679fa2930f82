/**
 * Same-cluster migration on Elasticsearch 8 (seed 003's shadow index, seed 004's reindex): the old
 * index → a new index with a new mapping beside it, created by `target.prepare` and tuned for bulk
 * loading during the copy; every preparation step recorded in ZooKeeper before it is taken.
 */
import { expect } from 'chai';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openBackend } from '../../src/backends';
import { validateSpec } from '../../src/config/spec';
import { Layout } from '../../src/coordination/layout';
import type { PlanNode } from '../../src/coordination/workNode';
import type { ZkSession } from '../../src/coordination/zk';
import { generateDocs } from '../../src/demo/dataset';
import { EXIT } from '../../src/errors';
import { log } from '../../src/log';
import type { PrepRecord } from '../../src/prepare/steps';
import { prepareTarget, restoreTarget, targetPrepPath } from '../../src/prepare/targetPrep';
import { run, start, writeSpec } from '../support/cli';
import { EsAdmin, TEST_MAPPING } from '../support/esAdmin';
import { allSlices } from '../support/fleet';
import { connectZk, stack, uniqueName } from '../support/stack';

/** The new mapping: title gets a keyword sub-field, category becomes full text, a new field appears. */
const NEW_MAPPING = {
  mappings: {
    properties: {
      ...TEST_MAPPING.properties,
      title: { type: 'text', fields: { raw: { type: 'keyword' } } },
      category: { type: 'text' },
      migrated_note: { type: 'keyword' },
    },
  },
};

function files(): { mappingsFile: string; settingsFile: string } {
  const dir = mkdtempSync(join(tmpdir(), 'bg-es-prep-'));
  const mappingsFile = join(dir, 'mappings.json');
  const settingsFile = join(dir, 'settings.yaml');
  writeFileSync(mappingsFile, JSON.stringify(NEW_MAPPING));
  writeFileSync(settingsFile, 'settings:\n  index:\n    number_of_shards: 2\n    number_of_replicas: 1\n    refresh_interval: 2s\n');
  return { mappingsFile, settingsFile };
}

describe('Elasticsearch 8: same cluster, old index → new index with a new mapping (target.prepare)', function () {
  this.timeout(180_000);
  const es = new EsAdmin(stack.esNew);
  const oldIndex = uniqueName('bgtest_es_old');
  const newIndex = uniqueName('bgtest_es_new');
  const migration = uniqueName('shadow');
  const root = `/${uniqueName('bgtest')}`;
  const layout = new Layout(root, migration);
  const TOTAL = 1200;
  let zk: ZkSession;
  let specFile: string;

  before(async () => {
    zk = await connectZk();
    await es.createIndex(oldIndex, { settings: { number_of_shards: 1, number_of_replicas: 0 }, mappings: TEST_MAPPING });
    const docs = [...generateDocs([{ name: 'acme', docs: 900, spanDays: 30, noTimestamp: 5 }, { name: 'globex', docs: 300, spanDays: 400 }], Date.UTC(2025, 0, 1), 3)];
    await es.index(oldIndex, docs.map((d) => ({ _id: d.id, source: d })));
    specFile = writeSpec({
      migration,
      zookeeper: { connect: stack.zk, root },
      source: { kind: 'elasticsearch', url: stack.esNew, collection: oldIndex },
      target: { kind: 'elasticsearch', url: stack.esNew, collection: newIndex, prepare: { ...files(), tuneForBulk: true } },
      slicing: { targetDocsPerSlice: 300 },
      batch: { docs: 200 },
    });
  });

  after(async () => {
    await zk.removeRecursive(root);
    zk.close();
    await Promise.all([es.deleteIndex(oldIndex), es.deleteIndex(newIndex)]);
  });

  const record = async (): Promise<PrepRecord> => JSON.parse((await zk.getData(`${layout.base}/target`)).data.toString());

  it('plan creates the new index from the files and tunes it for bulk loading before any slice exists', async () => {
    expect(await es.exists(newIndex)).to.equal(false);
    const r = await run(['plan', '--spec', specFile]);
    expect(r.code, r.stderr).to.equal(0);
    expect(await es.exists(newIndex)).to.equal(true);
    const mapping = await es.mapping(newIndex);
    expect(mapping.properties.title.fields.raw.type).to.equal('keyword');
    expect(mapping.properties.category.type).to.equal('text');
    expect(await es.bulkSettings(newIndex)).to.deep.equal({ refresh_interval: '-1', number_of_replicas: '0' });

    const rec = await record();
    expect(rec.state).to.equal('tuned');
    expect(rec.createdIndex).to.equal(true);
    expect(rec.steps.map((s) => s.state)).to.deep.equal(['creating', 'created', 'tuning', 'tuned']);
    // The settings of the index as created, saved before they were changed.
    expect(rec.original).to.deep.equal({ [newIndex]: { refresh_interval: '2s', number_of_replicas: '1' } });
    const tunedAt = rec.steps[3].at;
    const plan: PlanNode = JSON.parse((await zk.getData(layout.plan)).data.toString());
    expect(plan.plannedAt, 'planned after tuning').to.be.at.least(tunedAt);

    // Planning again prepares nothing again.
    const again = await run(['plan', '--spec', specFile]);
    expect(again.code, again.stderr).to.equal(0);
    expect((await record()).steps).to.have.length(4);
  });

  it('two workers copy into it, and the one that sees every slice finished restores its settings', async () => {
    const [a, b] = await Promise.all([start(['work', '--spec', specFile]).done, start(['work', '--spec', specFile]).done]);
    expect([a.code, b.code].sort(), `${a.stderr}\n${b.stderr}`).to.satisfy((codes: number[]) => codes.includes(EXIT.OK) && codes.every((c) => c === EXIT.OK || c === EXIT.ALL_CLAIMED));
    const slices = await allSlices(zk, layout);
    expect(slices.every((s) => s.node.status === 'done')).to.equal(true);

    expect(await es.bulkSettings(newIndex)).to.deep.equal({ refresh_interval: '2s', number_of_replicas: '1' });
    const rec = await record();
    expect(rec.state).to.equal('restored');
    expect(rec.steps.map((s) => s.state)).to.deep.equal(['creating', 'created', 'tuning', 'tuned', 'restoring', 'restored']);
    const lastSliceDone = Math.max(...slices.map((s) => s.node.finishedAt ?? 0));
    expect(rec.steps[4].at, 'restored only once every slice was done').to.be.at.least(lastSliceDone);

    // No refresh of the test's own: the worker refreshed the index once it restored its settings.
    expect(await es.count(newIndex), 'searchable right after the copy').to.equal(TOTAL);
    const [src, dst] = await Promise.all([es.all(oldIndex), es.all(newIndex)]);
    expect(src.size).to.equal(TOTAL);
    expect(dst.size).to.equal(TOTAL);
    for (const [id, d] of src) expect(dst.get(id)!.source, id).to.deep.equal(d.source);
    // The new mapping applies to the copied documents: an exact match on the new keyword sub-field.
    const [someId, some] = [...src][7];
    expect(await es.count(newIndex, { term: { 'title.raw': some.source.title } })).to.be.at.least(1);
    expect(await es.count(oldIndex, { term: { 'title.raw': some.source.title } }), `${someId}: the old index has no such field`).to.equal(0);
  });
});

describe('Elasticsearch target preparation: crash safety', function () {
  this.timeout(120_000);
  const es = new EsAdmin(stack.esNew);
  const index = uniqueName('bgtest_es_prep');
  const root = `/${uniqueName('bgtest')}`;
  let zk: ZkSession;
  const spec = validateSpec({
    migration: 'prep',
    zookeeper: { connect: stack.zk, root },
    source: { kind: 'elasticsearch', url: stack.esLegacy, collection: 'unused' },
    target: { kind: 'elasticsearch', url: stack.esNew, collection: index, prepare: { ...files(), tuneForBulk: true } },
  });
  const path = targetPrepPath(spec);
  const write = (rec: object) => zk.setData(path, Buffer.from(JSON.stringify(rec)), -1);
  const read = async (): Promise<PrepRecord> => JSON.parse((await zk.getData(path)).data.toString());

  const level = log.level;
  before(async () => {
    log.level = 'warn'; // the steps log at info: not in the test report
    zk = await connectZk();
    await zk.mkdirp(path);
  });
  after(async () => {
    log.level = level;
    await zk.removeRecursive(root);
    zk.close();
    await es.deleteIndex(index);
  });

  it('resumes "creating" when the index was created just before the crash', async () => {
    // The planner recorded "creating", created the index, and died before recording "created".
    await es.createIndex(index, { ...NEW_MAPPING, settings: { number_of_shards: 1, number_of_replicas: 1, refresh_interval: '3s' } });
    await write({ index, state: 'creating', createdIndex: true, tuneForBulk: true, original: null, steps: [{ state: 'creating', at: 1, by: 'dead-planner' }] });
    const rec = await prepareTarget(zk, spec, 'planner-2');
    expect(rec!.state).to.equal('tuned');
    expect(rec!.steps.map((s) => `${s.state}/${s.by}`)).to.deep.equal(['creating/dead-planner', 'created/planner-2', 'tuning/planner-2', 'tuned/planner-2']);
    expect(rec!.original).to.deep.equal({ [index]: { refresh_interval: '3s', number_of_replicas: '1' } });
    expect(await es.bulkSettings(index)).to.deep.equal({ refresh_interval: '-1', number_of_replicas: '0' });
  });

  it('resumes "tuning" with the settings saved before the crash, never the tuned ones', async () => {
    // Died after recording "tuning" (with the originals) and after applying the bulk settings.
    await write({ ...(await read()), state: 'tuning', original: { [index]: { refresh_interval: '7s', number_of_replicas: '1' } } });
    expect((await prepareTarget(zk, spec, 'planner-3'))!.state).to.equal('tuned');
    const target = openBackend(spec.target, spec);
    try {
      // Two workers finishing together: both restore, harmlessly, to the saved values.
      const [a, b] = await Promise.all([restoreTarget(zk, spec, 'worker-a', target), restoreTarget(zk, spec, 'worker-b', target)]);
      expect([a!.state, b!.state]).to.deep.equal(['restored', 'restored']);
    } finally {
      await target.close();
    }
    expect(await es.bulkSettings(index)).to.deep.equal({ refresh_interval: '7s', number_of_replicas: '1' });
    const rec = await read();
    expect(rec.steps.map((s) => s.state).slice(-3)).to.deep.equal(['tuned', 'restoring', 'restored']);
  });

  it('resumes "restoring" after a worker died between recording it and restoring', async () => {
    const before = await read();
    await write({ ...before, state: 'restoring', original: { [index]: { refresh_interval: '4s', number_of_replicas: '0' } } });
    const target = openBackend(spec.target, spec);
    try {
      expect((await restoreTarget(zk, spec, 'worker-c', target))!.state).to.equal('restored');
      // A later prepare (a re-plan) leaves the restored index alone.
      expect((await prepareTarget(zk, spec, 'planner-4', target))!.state).to.equal('restored');
    } finally {
      await target.close();
    }
    expect(await es.bulkSettings(index)).to.deep.equal({ refresh_interval: '4s', number_of_replicas: '0' });
  });

  it('without target.prepare, touches nothing and writes nothing', async () => {
    const plain = { ...spec, migration: 'prep-none', target: { ...spec.target, prepare: undefined } };
    expect(await prepareTarget(zk, plain, 'planner')).to.equal(null);
    expect(await zk.exists(targetPrepPath(plain))).to.equal(null);
  });
});
