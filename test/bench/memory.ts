/**
 * Figures, not a test (issue 15, "Targets"): a worker's memory with documents of any size. A Solr
 * collection of small documents plus a few hundred documents of about 5 MB each is copied by one
 * `bluegreen work` process held to a small heap (`--max-old-space-size`), then verified by one
 * `verify-integrity` process under the same limit, both with the default batch settings (batch.docs
 * 500, batch.bytes 8MB, 2 slices in flight) against a private ZooKeeper. Each process's peak RSS is
 * sampled from /proc/<pid>/status (VmHWM, the kernel's own high-water mark). Prints the figures and
 * the targets, then one JSON line with every figure.
 *
 * Run: npm run bench:memory [-- --small 20000 --big 200 --big-mb 5 --heap 256 --slice-docs 5000
 *      --batch-docs <default> --batch-bytes <default> --node-options "<more node flags>"]
 * Quick: npm run bench:memory -- --small 2000 --big 20
 */
import { readFileSync } from 'node:fs';
import { SolrAdmin } from '../../src/demo/solrAdmin';
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
/** More node options for the measured processes (e.g. "--trace-gc"). */
const NODE_EXTRA = arg('node-options', '');
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

async function measured(args: string[], docs: number, bytes: number): Promise<ProcFigures & { stdout: string; stderr: string }> {
  const t0 = Date.now();
  const p = start(args, { ...QUIET, NODE_OPTIONS: `--max-old-space-size=${HEAP} ${NODE_EXTRA}`.trim() });
  const peak = sampleRss(p);
  const r = await p.done;
  const seconds = (Date.now() - t0) / 1000;
  return {
    code: r.code, seconds, peakRssMiB: peak() / MiB, mbPerSec: bytes / MiB / seconds, docsPerSec: docs / seconds,
    stdout: r.stdout, stderr: r.stderr,
  };
}

async function main(): Promise<void> {
  const legacy = new SolrAdmin(stack.solrLegacy);
  const next = new SolrAdmin(stack.solrNew);
  const collection = uniqueName('bench_memory');
  const total = SMALL + BIG;
  const bigEvery = BIG > 0 ? Math.floor(total / BIG) : 0;
  let zk: PrivateZk | undefined;
  try {
    const versions = `${await legacy.version()} → ${await next.version()}`;
    await Promise.all([legacy.createCollection(collection), next.createCollection(collection)]);
    process.stdout.write(`loading ${SMALL} small documents and ${BIG} of ~${BIG_MB} MB into Solr ${versions.split(' →')[0]} ...\n`);
    let bytes = 0;
    let batch: Array<Record<string, unknown>> = [];
    let big = 0;
    for (let i = 0; i < total; i++) {
      const d = docAt(i, bigEvery);
      bytes += Buffer.byteLength(JSON.stringify(d));
      if (typeof d.body === 'string' && d.body.length > 10_000) {
        big++;
        await legacy.index(collection, [d]); // one large document per request (the Solr heap is small)
      } else batch.push(d);
      if (batch.length >= 2000) {
        await legacy.index(collection, batch);
        batch = [];
      }
    }
    await legacy.index(collection, batch);
    await legacy.commit(collection);
    const count = await legacy.count(collection);
    if (count !== total || big !== BIG) throw new Error(`loaded ${count} documents (${big} big), expected ${total} (${BIG} big)`);
    zk = await PrivateZk.start();
    const batchSpec = { ...(BATCH_DOCS ? { docs: Number(BATCH_DOCS) } : {}), ...(BATCH_BYTES ? { bytes: BATCH_BYTES } : {}) };
    const spec = writeSpec({
      migration: 'memory', zookeeper: { connect: zk.connect, root: '/bench' },
      source: { kind: 'solr', url: stack.solrLegacy, collection },
      target: { kind: 'solr', url: stack.solrNew, collection },
      slicing: { targetDocsPerSlice: SLICE_DOCS },
      ...(Object.keys(batchSpec).length ? { batch: batchSpec } : {}),
      verify: { gracePeriod: '2s' },
    });
    must('plan', await run(['plan', '--spec', spec], QUIET));
    process.stdout.write(`copying ${(bytes / MiB).toFixed(0)} MiB (${total} documents) with one worker under --max-old-space-size=${HEAP} ...\n`);
    const work = await measured(['work', '--spec', spec], total, bytes);
    const copied = work.code === 0 ? await (async () => { await next.commit(collection); return next.count(collection); })() : 0;
    process.stdout.write(`verifying with one verify-integrity under --max-old-space-size=${HEAP} ...\n`);
    const verify = work.code === 0 ? await measured(['verify-integrity', '--spec', spec, '--json'], total * 2, bytes * 2) : null;
    const passed = verify?.code === 0 ? JSON.parse(verify.stdout).run.status === 'passed' : false;

    const fmt = (n: number, d = 1) => n.toFixed(d);
    const line = (what: string, value: string, target: string, ok: boolean | null) =>
      `${what.padEnd(44)} ${value.padStart(10)}  ${target.padEnd(12)} ${ok === null ? '' : ok ? 'ok' : 'MISSED'}`;
    const out = [
      '',
      `bench:memory  Solr ${versions}, ${SMALL} small + ${BIG} × ${BIG_MB} MB documents (${fmt(bytes / MiB, 0)} MiB), heap limit ${HEAP} MB, batch ${JSON.stringify(batchSpec)} (defaults otherwise)`,
      line('work: exit code', String(work.code), '0', work.code === 0),
      line('work: documents in the target', String(copied), String(total), copied === total),
      line('work: peak RSS (MiB)', fmt(work.peakRssMiB), '<= 256', work.peakRssMiB <= 256),
      line('work: MB/s (source JSON)', fmt(work.mbPerSec), '', null),
      line('work: docs/s', fmt(work.docsPerSec, 0), '', null),
      line('work: seconds', fmt(work.seconds), '', null),
      line('verify-integrity: exit code / passed', `${verify?.code ?? '-'} / ${passed}`, '0 / true', passed),
      line('verify-integrity: peak RSS (MiB)', verify ? fmt(verify.peakRssMiB) : '-', '<= 256', verify ? verify.peakRssMiB <= 256 : false),
      line('verify-integrity: MB/s (both sides read)', verify ? fmt(verify.mbPerSec) : '-', '', null),
      line('verify-integrity: docs/s (both sides read)', verify ? fmt(verify.docsPerSec, 0) : '-', '', null),
      line('verify-integrity: seconds', verify ? fmt(verify.seconds) : '-', '', null),
    ];
    if (work.code !== 0) out.push(`work failed: ${work.stderr.slice(-1500)}`);
    if (verify && verify.code !== 0) out.push(`verify-integrity failed: ${verify.stderr.slice(-1500)}`);
    process.stdout.write(`${out.join('\n')}\n\n`);
    const strip = (f: (ProcFigures & { stdout: string; stderr: string }) | null) => (f ? { code: f.code, seconds: f.seconds, peakRssMiB: f.peakRssMiB, mbPerSec: f.mbPerSec, docsPerSec: f.docsPerSec } : null);
    process.stdout.write(`${JSON.stringify({ bench: 'memory', versions, small: SMALL, big: BIG, bigMB: BIG_MB, heapMB: HEAP, batch: batchSpec, sourceMiB: bytes / MiB, copied, passed, work: strip(work), verify: strip(verify) })}\n`);
    if (work.code !== 0 || copied !== total || !passed) process.exitCode = 1;
  } finally {
    await zk?.remove();
    await Promise.all([legacy.deleteCollection(collection), next.deleteCollection(collection)]).catch(() => undefined);
  }
}

main().catch((e) => {
  process.stderr.write(`bench failed: ${e instanceof Error ? e.stack : e}\n`);
  process.exitCode = 1;
});
