/**
 * Figures, not a test (issue 15, "Targets"): a worker's memory with documents of any size. A Solr
 * collection of small documents plus a few hundred documents of about 5 MB each is copied by one
 * `bluegreen work` process held to a small heap (`--max-old-space-size`), then verified by one
 * `verify-integrity` process under the same limit, both with the default batch settings (batch.docs
 * 500, batch.bytes 8MB, 2 slices in flight) against a private ZooKeeper; then the same again started
 * as a user would, with no NODE_OPTIONS at all (into a fresh target collection). Each process's peak
 * RSS is sampled from /proc/<pid>/status (VmHWM, the kernel's own high-water mark). Prints the figures,
 * the targets and each peak's ratio to the target, then one JSON line with every figure.
 *
 * Run: npm run bench:memory [-- --small 20000 --big 200 --big-mb 5 --heap 256 --slice-docs 5000
 *      --batch-docs <default> --batch-bytes <default> --node-options "<more node flags>"
 *      --kind solr|es --modes capped,default --keep-source --source <a collection left by --keep-source> --skip-verify --log-dir <dir>]
 * Quick: npm run bench:memory -- --small 2000 --big 20
 * `--kind es`: the same documents from Elasticsearch 7 into 8 (the big text stored, not indexed).
 * Loading 1 GB takes minutes: `--keep-source` leaves the source collection (its name is
 * printed) and `--source <name>` measures against it again (its documents are counted, not loaded).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SolrAdmin } from '../../src/demo/solrAdmin';
import { EsAdmin, TEST_MAPPING } from '../support/esAdmin';
import { start, run, writeSpec, type Running } from '../support/cli';
import { PrivateZk } from '../support/privateZk';
import { stack, uniqueName } from '../support/stack';

const arg = (name: string, def: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : def;
};
const SMALL = Number(arg('small', '20000'));
const BIG = Number(arg('big', '200'));
const BIG_MB = Number(arg('big-mb', '5'));
const HEAP = Number(arg('heap', '256'));
const SLICE_DOCS = Number(arg('slice-docs', '5000'));
const BATCH_DOCS = arg('batch-docs', '');
const BATCH_BYTES = arg('batch-bytes', '');
/** More node options for the measured processes (e.g. "--trace-gc"), in both modes. */
const NODE_EXTRA = arg('node-options', '');
/** capped: NODE_OPTIONS --max-old-space-size=HEAP; default: no NODE_OPTIONS (what `bluegreen work` does by itself). */
const MODES = arg('modes', 'capped,default').split(',').filter(Boolean) as Mode[];
const REUSE = arg('source', '');
/** Where each measured process's stdout and stderr go as files (e.g. with --node-options --trace-gc). */
const LOG_DIR = arg('log-dir', '');
/** solr: Solr 8 → 9; es: Elasticsearch 7 → 8 (the same documents). */
const KIND = arg('kind', 'solr') as 'solr' | 'es';
/** Copies only (a quicker look at the worker's figure). */
const SKIP_VERIFY = process.argv.includes('--skip-verify');
const KEEP_SOURCE = process.argv.includes('--keep-source') || REUSE !== '';
/** The target of the issue: peak RSS per worker, MiB. */
const TARGET_MIB = 256;
type Mode = 'capped' | 'default';
const MiB = 1024 * 1024;
const QUIET = { BLUEGREEN_LOG_LEVEL: 'warn' };
const WORDS = ['search', 'cluster', 'shard', 'replica', 'cursor', 'slice', 'migration', 'verify', 'green', 'blue', 'legacy', 'index'];

/** About `bytes` of words, different for every seed. */
function text(bytes: number, seed: number): string {
  const parts: string[] = [];
  let n = 0;
  for (let i = 0; n < bytes; i++) {
    const w = `${WORDS[(i * 7 + seed) % WORDS.length]}${(i * 31 + seed) % 997}`;
    parts.push(w);
    n += w.length + 1;
  }
  return parts.join(' ');
}

/** Document i of the collection: every (SMALL / BIG)-th one is big, so they are spread over every slice. */
function docAt(i: number, bigEvery: number): Record<string, unknown> {
  const d: Record<string, unknown> = {
    id: `doc-${String(i).padStart(8, '0')}`, customer: `c${i % 3}`, timestamp: new Date(Date.UTC(2024, 0, 1) + i * 60_000).toISOString(),
    title: `document ${i}`, category: WORDS[i % WORDS.length], price: (i % 1000) / 4, quantity: i % 17,
  };
  if (bigEvery > 0 && i % bigEvery === bigEvery - 1) d.body = text(BIG_MB * MiB, i);
  else d.body = text(600, i);
  return d;
}

function must(what: string, r: { code: number | null; stderr: string; stdout: string }): void {
  if (r.code !== 0) throw new Error(`${what} exited ${r.code}: ${(r.stderr || r.stdout).slice(-1500)}`);
}

/** Peak RSS of a running process: the kernel's high-water mark, read until it exits. */
function sampleRss(p: Running): () => number {
  let peak = 0;
  const read = () => {
    try {
      const status = readFileSync(`/proc/${p.child.pid}/status`, 'utf8');
      const hwm = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
      if (hwm > peak) peak = hwm;
    } catch {
      /* exited */
    }
  };
  const timer = setInterval(read, 100);
  p.child.once('exit', () => clearInterval(timer));
  read();
  return () => peak;
}

interface ProcFigures {
  code: number | null;
  seconds: number;
  peakRssMiB: number;
  mbPerSec: number;
  docsPerSec: number;
}

async function measured(mode: Mode, args: string[], docs: number, bytes: number): Promise<ProcFigures & { stdout: string; stderr: string }> {
  const t0 = Date.now();
  const nodeOptions = `${mode === 'capped' ? `--max-old-space-size=${HEAP}` : ''} ${NODE_EXTRA}`.trim();
  const p = start(args, { ...QUIET, NODE_OPTIONS: nodeOptions });
  const peak = sampleRss(p);
  const r = await p.done;
  const seconds = (Date.now() - t0) / 1000;
  if (LOG_DIR) {
    const name = `${mode}-${args[0]}`;
    writeFileSync(join(LOG_DIR, `${name}.stdout`), r.stdout);
    writeFileSync(join(LOG_DIR, `${name}.stderr`), r.stderr);
  }
  return {
    code: r.code, seconds, peakRssMiB: peak() / MiB, mbPerSec: bytes / MiB / seconds, docsPerSec: docs / seconds,
    stdout: r.stdout, stderr: r.stderr,
  };
}

/** One side's cluster, as the benchmark needs it (not the backend under test). */
interface Side {
  kind: 'solr' | 'elasticsearch';
  url: string;
  version(): Promise<string>;
  create(name: string): Promise<void>;
  drop(name: string): Promise<void>;
  index(name: string, docs: Array<Record<string, unknown>>): Promise<void>;
  /** Commit (refresh) and count. */
  count(name: string): Promise<number>;
}

function solrSide(url: string): Side {
  const a = new SolrAdmin(url);
  return {
    kind: 'solr', url, version: () => a.version(), create: (n) => a.createCollection(n), drop: (n) => a.deleteCollection(n),
    index: (n, docs) => a.index(n, docs), count: async (n) => { await a.commit(n); return a.count(n); },
  };
}

/** The tests' mapping; the big text is stored, not indexed (the small Elasticsearch heaps of the stack). */
const ES_MAPPING = { properties: { ...TEST_MAPPING.properties, body: { type: 'text', index: false } } };

function esSide(url: string): Side {
  const a = new EsAdmin(url);
  return {
    kind: 'elasticsearch', url, version: () => a.version(),
    create: (n) => a.createIndex(n, { settings: { number_of_shards: 2, number_of_replicas: 0, refresh_interval: '30s' }, mappings: ES_MAPPING }),
    drop: (n) => a.deleteIndex(n),
    index: (n, docs) => a.index(n, docs.map((d) => ({ _id: String(d.id), source: d })), false),
    count: async (n) => { await a.refresh(n); return a.count(n); },
  };
}

const SOURCE: Side = KIND === 'es' ? esSide(stack.esLegacy) : solrSide(stack.solrLegacy);
const TARGET: Side = KIND === 'es' ? esSide(stack.esNew) : solrSide(stack.solrNew);
const NAMES = KIND === 'es' ? 'Elasticsearch' : 'Solr';

type Measured = ProcFigures & { stdout: string; stderr: string };
interface ModeFigures {
  mode: Mode;
  work: Measured;
  copied: number;
  verify: Measured | null;
  passed: boolean;
}

/** One copy into a fresh target collection (and a fresh ZooKeeper root), then one verification, in one mode. */
async function copyAndVerify(mode: Mode, zk: PrivateZk, source: string, total: number, bytes: number): Promise<ModeFigures> {
  const collection = uniqueName(`bench_memory_${mode}`);
  await TARGET.create(collection);
  try {
    const batchSpec = batchOverrides();
    const spec = writeSpec({
      migration: 'memory', zookeeper: { connect: zk.connect, root: `/bench_${mode}` },
      source: { kind: SOURCE.kind, url: SOURCE.url, collection: source },
      target: { kind: TARGET.kind, url: TARGET.url, collection },
      slicing: { targetDocsPerSlice: SLICE_DOCS },
      ...(Object.keys(batchSpec).length ? { batch: batchSpec } : {}),
      verify: { gracePeriod: '2s' },
    });
    must('plan', await run(['plan', '--spec', spec], QUIET));
    const how = mode === 'capped' ? `under --max-old-space-size=${HEAP}` : 'with no NODE_OPTIONS';
    process.stdout.write(`[${mode}] copying ${(bytes / MiB).toFixed(0)} MiB (${total} documents) with one worker ${how} ...\n`);
    const work = await measured(mode, ['work', '--spec', spec], total, bytes);
    const copied = work.code === 0 ? await TARGET.count(collection) : 0;
    if (!SKIP_VERIFY) process.stdout.write(`[${mode}] verifying with one verify-integrity ${how} ...\n`);
    const verify = work.code === 0 && !SKIP_VERIFY ? await measured(mode, ['verify-integrity', '--spec', spec, '--json'], total * 2, bytes * 2) : null;
    const passed = verify?.code === 0 ? JSON.parse(verify.stdout).run.status === 'passed' : false;
    return { mode, work, copied, verify, passed };
  } finally {
    await TARGET.drop(collection).catch(() => undefined);
  }
}

function batchOverrides(): Record<string, unknown> {
  return { ...(BATCH_DOCS ? { docs: Number(BATCH_DOCS) } : {}), ...(BATCH_BYTES ? { bytes: BATCH_BYTES } : {}) };
}

/** The source collection: loaded here, or one a run with --keep-source left (counted, its size recomputed). */
async function loadSource(legacy: Side, collection: string, total: number, bigEvery: number): Promise<number> {
  let bytes = 0;
  let batch: Array<Record<string, unknown>> = [];
  let big = 0;
  for (let i = 0; i < total; i++) {
    const d = docAt(i, bigEvery);
    bytes += Buffer.byteLength(JSON.stringify(d));
    if (typeof d.body === 'string' && d.body.length > 10_000) {
      big++;
      if (!REUSE) await legacy.index(collection, [d]); // one large document per request (the Solr heap is small)
    } else batch.push(d);
    if (batch.length >= 2000) {
      if (!REUSE) await legacy.index(collection, batch);
      batch = [];
    }
  }
  if (!REUSE) await legacy.index(collection, batch);
  const count = await legacy.count(collection);
  if (count !== total || big !== BIG) throw new Error(`the source holds ${count} documents (${big} big), expected ${total} (${BIG} big)`);
  return bytes;
}

async function main(): Promise<void> {
  const legacy = SOURCE;
  const collection = REUSE || uniqueName('bench_memory');
  const total = SMALL + BIG;
  const bigEvery = BIG > 0 ? Math.floor(total / BIG) : 0;
  let zk: PrivateZk | undefined;
  try {
    const versions = `${await legacy.version()} → ${await TARGET.version()}`;
    if (!REUSE) await legacy.create(collection);
    process.stdout.write(`${REUSE ? 'counting' : 'loading'} ${SMALL} small documents and ${BIG} of ~${BIG_MB} MB ${REUSE ? 'in' : 'into'} ${NAMES} ${versions.split(' →')[0]} collection ${collection} ...\n`);
    const bytes = await loadSource(legacy, collection, total, bigEvery);
    zk = await PrivateZk.start();
    const runs: ModeFigures[] = [];
    for (const mode of MODES) runs.push(await copyAndVerify(mode, zk, collection, total, bytes));

    const fmt = (n: number, d = 1) => n.toFixed(d);
    const line = (what: string, value: string, target: string, ok: boolean | null) =>
      `${what.padEnd(48)} ${value.padStart(10)}  ${target.padEnd(12)} ${ok === null ? '' : ok ? 'ok' : 'MISSED'}`;
    const peak = (f: Measured | null) => (f ? `${fmt(f.peakRssMiB)} (${fmt(f.peakRssMiB / TARGET_MIB, 2)}×)` : '-');
    const out = [
      '',
      `bench:memory  ${NAMES} ${versions}, ${SMALL} small + ${BIG} × ${BIG_MB} MB documents (${fmt(bytes / MiB, 0)} MiB), batch ${JSON.stringify(batchOverrides())} (defaults otherwise)`,
      `              capped: NODE_OPTIONS=--max-old-space-size=${HEAP}; default: no NODE_OPTIONS (as a user starts it)${NODE_EXTRA ? `; both: ${NODE_EXTRA}` : ''}`,
    ];
    for (const r of runs) {
      const { work, verify } = r;
      out.push(
        line(`[${r.mode}] work: exit code`, String(work.code), '0', work.code === 0),
        line(`[${r.mode}] work: documents in the target`, String(r.copied), String(total), r.copied === total),
        line(`[${r.mode}] work: peak RSS MiB (ratio to target)`, peak(work), `<= ${TARGET_MIB}`, work.peakRssMiB <= TARGET_MIB),
        line(`[${r.mode}] work: MB/s (source JSON) / docs/s`, `${fmt(work.mbPerSec)} / ${fmt(work.docsPerSec, 0)}`, '', null),
        line(`[${r.mode}] work: seconds`, fmt(work.seconds), '', null),
        line(`[${r.mode}] verify-integrity: exit code / passed`, `${verify?.code ?? '-'} / ${r.passed}`, '0 / true', r.passed),
        line(`[${r.mode}] verify-integrity: peak RSS MiB (ratio)`, peak(verify), `<= ${TARGET_MIB}`, verify ? verify.peakRssMiB <= TARGET_MIB : false),
        line(`[${r.mode}] verify-integrity: MB/s / docs/s (both sides)`, verify ? `${fmt(verify.mbPerSec)} / ${fmt(verify.docsPerSec, 0)}` : '-', '', null),
        line(`[${r.mode}] verify-integrity: seconds`, verify ? fmt(verify.seconds) : '-', '', null),
      );
      if (work.code !== 0) out.push(`[${r.mode}] work failed: ${work.stderr.slice(-1500)}`);
      if (verify && verify.code !== 0) out.push(`[${r.mode}] verify-integrity failed: ${verify.stderr.slice(-1500)}`);
    }
    if (KEEP_SOURCE) out.push(`source collection kept: ${collection} (again: --kind ${KIND} --source ${collection} with the same --small/--big/--big-mb)`);
    process.stdout.write(`${out.join('\n')}\n\n`);
    const strip = (f: Measured | null) => (f ? { code: f.code, seconds: f.seconds, peakRssMiB: f.peakRssMiB, ratioToTarget: f.peakRssMiB / TARGET_MIB, mbPerSec: f.mbPerSec, docsPerSec: f.docsPerSec } : null);
    process.stdout.write(`${JSON.stringify({
      bench: 'memory', kind: KIND, versions, small: SMALL, big: BIG, bigMB: BIG_MB, heapMB: HEAP, targetMiB: TARGET_MIB, batch: batchOverrides(), sourceMiB: bytes / MiB,
      runs: runs.map((r) => ({ mode: r.mode, copied: r.copied, passed: r.passed, work: strip(r.work), verify: strip(r.verify) })),
    })}\n`);
    if (runs.some((r) => r.work.code !== 0 || r.copied !== total || !r.passed)) process.exitCode = 1;
  } finally {
    await zk?.remove();
    if (!KEEP_SOURCE) await legacy.drop(collection).catch(() => undefined);
  }
}

main().catch((e) => {
  process.stderr.write(`bench failed: ${e instanceof Error ? e.stack : e}\n`);
  process.exitCode = 1;
});
