/**
 * Live writes while a copy runs, for any pair of kinds (one helper for every cell of the support
 * matrix that claims "with live writes"): the application's updates, inserts and deletes go through
 * DualWriter (src/dualwrite/dualWriter.ts) while a worker is in the middle of a slice — the worker is
 * frozen there (SIGSTOP) for the writes, so they land during the copy whatever the machine's speed —
 * and afterwards every write is on both sides as written, a deleted document stays deleted, the target
 * holds the source's documents exactly (number text included) and verify-integrity passes.
 */
import { expect } from 'chai';
import { exactJson } from '../../src/backends/exactJson';
import { loadSpec } from '../../src/config/spec';
import { Layout } from '../../src/coordination/layout';
import type { ZkSession } from '../../src/coordination/zk';
import { DualWriter } from '../../src/dualwrite/dualWriter';
import { generateDocs } from '../../src/demo/dataset';
import { SolrAdmin } from '../../src/demo/solrAdmin';
import { EXIT } from '../../src/errors';
import { canonicalContent } from '../../src/verifier/diff';
import type { VerifyReport } from '../../src/verifier/verifier';
import { run, start, writeSpec } from './cli';
import { EsAdmin, TEST_MAPPING } from './esAdmin';
import { freezeWhen, midSlice } from './fleet';
import { connectZk, stack, uniqueName } from './stack';

const none = new Set<string>();

export type Kind = 'solr' | 'elasticsearch' | 'opensearch';
/** One side of a migration: its kind and base URL (a Solr URL up to /solr). */
export interface Cluster { kind: Kind; url: string }

async function http(method: string, url: string, body?: string): Promise<string> {
  const res = await fetch(url, { method, headers: { 'content-type': 'application/json' }, body });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${url}: HTTP ${res.status} ${text.slice(0, 500)}`);
  return text;
}

/** Every document of a Solr collection as stored (fl=*), without `_version_`: id → canonical content. */
export async function solrAll(base: string, collection: string): Promise<Map<string, string>> {
  const text = await http('GET', `${base}/${collection}/select?q=*:*&fl=*&rows=10000&sort=id+asc&wt=json`);
  const out = new Map<string, string>();
  for (const d of exactJson.parse(text).response.docs as any[]) {
    delete d._version_;
    out.set(String(d.id), canonicalContent(d, none));
  }
  return out;
}

/** Every document of an Elasticsearch / OpenSearch index as stored: `_id` → the `_source`'s canonical content (number text kept). */
export async function esAll(url: string, index: string): Promise<Map<string, string>> {
  const res = exactJson.parse(await http('POST', `${url}/${index}/_search`, JSON.stringify({ size: 10000, sort: ['_doc'] }))) as any;
  return new Map((res.hits.hits as any[]).map((h) => [String(h._id), canonicalContent(h._source, none)]));
}

/** What the application writes during the copy: ids it replaces (whole document), creates and deletes. */
export interface LiveWrites { updated: string[]; inserted: string[]; deleted: string[] }

/**
 * The application's version of a document. Solr keeps a date's text only when it is its own (no zero
 * milliseconds): the live documents use that form, so they compare as written on every kind.
 */
export const liveDoc = (id: string) => ({
  id, customer: id.split('-')[0], timestamp: '2025-06-02T03:04:05.678Z', title: `live ${id}`, category: 'live', tags: ['live'], price: 12.5, quantity: 7,
});

/**
 * Runs `work` on the spec and, once the worker is in the middle of a slice (`pageDocs` = batch.docs:
 * pages checkpointed and pages still to read), freezes it there, makes the live writes through a
 * DualWriter (none of them recorded: both sides took them), lets the worker go on and waits for it to
 * finish (exit 0). The spec should throttle the worker (worker.docsPerSecond) so it is still copying
 * when the test looks; if it is not, the test times out: it never passes without the condition.
 */
export async function workWithLiveWrites(zk: ZkSession, specFile: string, pageDocs: number, writes: LiveWrites, env: NodeJS.ProcessEnv = {}): Promise<void> {
  const spec = loadSpec(specFile);
  const layout = new Layout(spec.zookeeper.root, spec.migration);
  const writer = await DualWriter.open(spec, { zk, attempts: 3, initialDelayMs: 20, maxDelayMs: 100 });
  const w = start(['work', '--spec', specFile], env);
  try {
    await freezeWhen('the worker in the middle of a slice', w, async () => {
      expect(w.child.exitCode, w.output().stderr.slice(-1500)).to.equal(null);
      return midSlice(zk, layout, w, pageDocs)();
    }, 120_000);
    try {
      for (const id of [...writes.updated, ...writes.inserted]) expect((await writer.index(liveDoc(id))).recorded, id).to.equal(false);
      for (const id of writes.deleted) expect((await writer.delete(id, { customer: id.split('-')[0] })).recorded, id).to.equal(false);
    } finally {
      w.child.kill('SIGCONT');
    }
    const r = await w.done;
    expect(r.code, r.stderr.slice(-1500)).to.equal(EXIT.OK);
  } finally {
    w.child.kill('SIGKILL');
    await writer.close();
  }
}

/** The target holds exactly the source's documents, the live writes among them as written, the deleted ones on neither side. */
export function expectLiveWritesLanded(src: Map<string, string>, dst: Map<string, string>, writes: LiveWrites): void {
  for (const id of writes.deleted) {
    expect(src.has(id), `${id} deleted live is gone from the source`).to.equal(false);
    expect(dst.has(id), `${id} deleted live stays deleted in the target`).to.equal(false);
  }
  for (const id of [...writes.updated, ...writes.inserted]) {
    const written = canonicalContent(liveDoc(id), none);
    expect(src.get(id), `${id} on the source as written`).to.equal(written);
    expect(dst.get(id), `${id} on the target as written`).to.equal(written);
  }
  expect([...dst.keys()].sort()).to.deep.equal([...src.keys()].sort());
  const wrong = [...src].filter(([id, content]) => dst.get(id) !== content).map(([id]) => id);
  expect(wrong, 'documents whose content differs (number text included)').to.deep.equal([]);
}

/**
 * One `it`, self-contained (it creates and removes its collections / indices and ZooKeeper root, so it
 * may sit in any describe, also one whose optional server stops in an `after` hook): a source of
 * `source.kind` holding two customers, a target (an Elasticsearch / OpenSearch index created with the
 * test mapping, or from a Solr source by target.prepare with the mapping translated from its schema),
 * `plan`, then `work` with live writes (workWithLiveWrites), the documents compared exactly on both
 * sides, and `verify-integrity` clean.
 */
export function itCopiesWithLiveWrites(title: string, source: Cluster, target: Cluster): void {
  it(`live writes through DualWriter while ${title} copies (updates, inserts, deletes) land on both sides as written, deletes stay deleted; verify passes`, async function () {
    this.timeout(300_000);
    if (target.kind === 'solr') throw new Error('itCopiesWithLiveWrites: a Solr target is not supported by this helper');
    const name = uniqueName('bgtest_live');
    const root = `/${uniqueName('bgtest')}`;
    const docs = [...generateDocs([{ name: 'acme', docs: 120, spanDays: 3 }, { name: 'bolt', docs: 60, spanDays: 2 }], Date.UTC(2025, 5, 2), 23)];
    const ids = docs.map((d) => d.id);
    const writes: LiveWrites = {
      updated: [ids[1], ids[70], ids[150]],
      inserted: ['acme-live-1', 'bolt-live-2'],
      deleted: [ids[30], ids[160]],
    };
    const solr = source.kind === 'solr' ? new SolrAdmin(source.url) : null;
    const from = source.kind === 'solr' ? null : new EsAdmin(source.url);
    const to = new EsAdmin(target.url);
    const zk = await connectZk();
    try {
      if (solr) {
        await solr.createCollection(name, 2);
        await solr.index(name, docs, true);
        expect(await solr.count(name)).to.equal(docs.length);
      } else {
        await from!.createIndex(name, { settings: { number_of_shards: 2, number_of_replicas: 0 }, mappings: TEST_MAPPING });
        await from!.index(name, docs.map((d) => ({ _id: d.id, source: d })));
        expect(await from!.count(name)).to.equal(docs.length);
      }
      // From Solr the target index is made by target.prepare (the translated mapping); else by the operator.
      if (solr) await to.deleteIndex(name);
      else await to.createIndex(name, { settings: { number_of_shards: 1, number_of_replicas: 0 }, mappings: TEST_MAPPING });
      const pageDocs = 10;
      const file = writeSpec({
        migration: uniqueName('live'),
        zookeeper: { connect: stack.zk, root },
        source: { kind: source.kind, url: source.url, collection: name },
        target: { kind: target.kind, url: target.url, collection: name, ...(solr ? { prepare: {} } : {}) },
        slicing: { targetDocsPerSlice: 100 },
        batch: { docs: pageDocs },
        verify: { gracePeriod: '1s' },
        worker: { docsPerSecond: 20 },
      });
      const p = await run(['plan', '--spec', file]);
      expect(p.code, p.stderr).to.equal(EXIT.OK);
      await workWithLiveWrites(zk, file, pageDocs, writes);
      if (solr) await solr.commit(name);
      else await from!.refresh(name);
      await to.refresh(name);
      const [src, dst] = await Promise.all([solr ? solrAll(source.url, name) : esAll(source.url, name), esAll(target.url, name)]);
      expect(src.size).to.equal(docs.length + writes.inserted.length - writes.deleted.length);
      expectLiveWritesLanded(src, dst, writes);
      const v = await run(['verify-integrity', '--spec', file, '--json']);
      expect(v.code, v.stderr.slice(-1500)).to.equal(EXIT.OK);
      expect((JSON.parse(v.stdout) as VerifyReport).run.totals).to.include({ missing: 0, extra: 0, different: 0 });
    } finally {
      await zk.removeRecursive(root);
      zk.close();
      await to.deleteIndex(name);
      if (solr) await solr.deleteCollection(name);
      else await from!.deleteIndex(name);
    }
  });
}
