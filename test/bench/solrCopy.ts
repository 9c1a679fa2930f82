/**
 * Figures, not a test: documents/second of the fleet (plan + N workers, real processes) beside a
 * tight loop with no coordination (cursorMark pages → create-only batches, each shard's to its leader), on the local stack.
 * The gap is the fleet's overhead; the source's read ceiling and the target's ingest ceiling with as
 * many streams (ceilings.ts) show the machine's limit. Each fleet row is end to end (spawn to the last
 * exit); below it, from the workers' own "worker finished" lines (fleetFigures.ts): the start-up cost,
 * the steady-state rate (first write to last checkpoint), where the lanes spent their time, and MB of
 * documents per worker CPU-second. --dataset wide: about 2 KB documents with 20 numeric fields (six of
 * them 64-bit integers beyond 2^53). --baseline <git ref>: MB per copy CPU-second of one worker, this
 * code against that commit's, in turn on the same source (baseline.ts; --baseline-runs, default 3).
 * --warm-up N (default 100,000): documents copied first, unmeasured, so that no phase runs on cold JVMs (ceilings.ts).
 * Run: npm run bench:solr [-- --docs 50000 --workers 1,3 --dataset wide --baseline 6b2c43d --checkpoint-every 1s --warm-up 0]
 */
import yaml from 'js-yaml';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ZkSession } from '../../src/coordination/zk';
import { generateDocs } from '../../src/demo/dataset';
import { SolrAdmin } from '../../src/demo/solrAdmin';
import { stack, uniqueName } from '../support/stack';
import { ceilingRows, ofCopyCeiling, serverShareRow, sharedCoreBound, solrCeilings, solrLeaderUpdates, type Ceilings } from './ceilings';
import { ServerCpu, metered } from './serverCpu';
import { fleetDetail, runProcess, runWorkers, wideDocs } from './fleetFigures';
import { cpuAgainstBaseline } from './baseline';

const arg = (name: string, def: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : def;
};
const DOCS = Number(arg('docs', '50000'));
const WORKERS = arg('workers', '1,3').split(',').map(Number);
/** worker.checkpointEvery of the fleet's spec (`--checkpoint-every 1s`); left out (the default) when not given. */
const CHECKPOINT_EVERY = arg('checkpoint-every', '');
const BATCH = Number(arg('batch', '500'));
/** Documents copied first, unmeasured, so that no phase runs on cold JVMs (ceilings.ts CeilingOptions.warmUp); 0: none. */
const WARM_UP = Number(arg('warm-up', '100000'));
if (!Number.isInteger(WARM_UP) || WARM_UP < 0) throw new Error(`--warm-up ${arg('warm-up', '')}: give a whole number of documents, 0 (no warm-up) or more`);
const DATASET = arg('dataset', 'demo');
const BASELINE = arg('baseline', '');
const BASELINE_RUNS = Number(arg('baseline-runs', '3'));
/** --pin-servers: the source's and the target's threads on cores of their own (ServerCpu.pinApart), as on machines of their own. */
const PIN = process.argv.includes('--pin-servers');
if (!['demo', 'wide'].includes(DATASET)) throw new Error(`--dataset demo or wide, not ${DATASET}`);
const bin = resolve(__dirname, '../../../bin/bluegreen');

async function tightLoop(source: string, target: string, coll: string, dst: string): Promise<number> {
  const split = await solrLeaderUpdates(target, dst);
  const t0 = Date.now();
  let cursor = '*';
  let n = 0;
  for (;;) {
    const r = await fetch(`${source}/${coll}/select?q=*:*&sort=id+asc&rows=${BATCH}&fl=*&cursorMark=${encodeURIComponent(cursor)}&wt=json&indent=false`);
    const page = await r.json() as any;
    const docs = page.response.docs;
    if (docs.length) {
      // Each shard's documents to its leader, as the fleet writes them (the loop differs by its coordination only).
      await Promise.all(split(docs).map(async (u) => {
        const w = await fetch(u.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: u.body });
        if (!w.ok) throw new Error(`write failed: ${w.status} ${await w.text()}`);
      }));
      n += docs.length;
    }
    if (page.nextCursorMark === cursor || docs.length === 0) break;
    cursor = page.nextCursorMark;
  }
  return n / ((Date.now() - t0) / 1000);
}

function cli(args: string[], which = bin): Promise<number> {
  return runProcess(process.execPath, [which, ...args], { BLUEGREEN_LOG_LEVEL: 'warn' });
}

/** A spec copying `coll` into `dst` (a temporary file). */
/** `ours`: this code's spec (the baseline's code may not know --checkpoint-every's key). */
function benchSpec(migration: string, coll: string, dst: string, workers: number, root: string, ours = true): string {
  const dir = mkdtempSync(join(tmpdir(), 'bg-bench-'));
  const spec = join(dir, 'spec.yaml');
  writeFileSync(spec, yaml.dump({
    migration, zookeeper: { connect: stack.zk, root },
    source: { kind: 'solr', url: stack.solrLegacy, collection: coll },
    target: { kind: 'solr', url: stack.solrNew, collection: dst },
    slicing: { targetDocsPerSlice: Math.max(1000, Math.ceil(DOCS / (workers * 4))) },
    batch: { docs: BATCH, bytes: '8MB' }, worker: { slicesInFlight: 2, ...(CHECKPOINT_EVERY && ours ? { checkpointEvery: CHECKPOINT_EVERY } : {}) },
  }));
  return spec;
}

/** The stack's Solr servers' CPU, phase by phase (serverCpu.ts); null where it cannot be read. */
const meter = ServerCpu.forStack({ source: 'solr-legacy', target: 'solr-new' });

async function fleet(coll: string, dst: string, workers: number, root: string, ceiling: Ceilings): Promise<{ rate: number; planMs: number; detail: ReturnType<typeof fleetDetail>; serverRow: string[] }> {
  const spec = benchSpec(`bench${workers}`, coll, dst, workers, root);
  const p0 = Date.now();
  if ((await cli(['plan', '--spec', spec])) !== 0) throw new Error('plan failed');
  const planMs = Date.now() - p0;
  const { value: run, cpu } = await metered(meter, () => runWorkers(bin, spec, workers, [], (process.env.BENCH_WORKER_NODE_ARGS ?? '').split(' ').filter(Boolean)), () => new SolrAdmin(stack.solrNew).commit(dst));
  if (!run.codes.includes(0)) throw new Error(`workers exited ${run.codes}`);
  const workerCpuMs = run.finished.reduce((n, f) => n + f.cpuSeconds * 1000, 0);
  const rate = DOCS / ((run.endedAt - run.spawnedAt) / 1000);
  return { rate, planMs, detail: fleetDetail(run, DOCS), serverRow: cpu ? serverShareRow(cpu.spent, cpu.settled, DOCS, ceiling, { cpuMs: workerCpuMs, rate }) : [] };
}

async function main(): Promise<void> {
  const legacy = new SolrAdmin(stack.solrLegacy);
  const next = new SolrAdmin(stack.solrNew);
  const coll = uniqueName('bench_src');
  const root = `/${uniqueName('bgbench')}`;
  const targets: string[] = [];
  const zk = await ZkSession.connect({ connect: stack.zk, sessionTimeout: 10_000, connectTimeout: 10_000 });
  if (PIN && !meter) throw new Error('--pin-servers: the stack\'s pid files (.stack/run) or /proc cannot be read');
  const pinned = PIN ? meter!.pinApart() : null;
  try {
    process.stdout.write(`loading ${DOCS} documents into Solr ${await legacy.version()} ...\n`);
    await legacy.createCollection(coll, 2);
    const profiles = [{ name: 'big', docs: Math.floor(DOCS * 0.7), spanDays: 7 }, { name: 'mid', docs: Math.floor(DOCS * 0.2), spanDays: 90 }, { name: 'small', docs: DOCS - Math.floor(DOCS * 0.7) - Math.floor(DOCS * 0.2), spanDays: 900 }];
    const loaded = DATASET === 'wide' ? [...wideDocs(profiles, Date.now(), 3)] : [...generateDocs(profiles, Date.now(), 3)];
    const sourceMB = loaded.reduce((n: number, d) => n + Buffer.byteLength(JSON.stringify(d)), 0) / 1e6;
    await legacy.index(coll, loaded, true);
    loaded.length = 0;
    const rows: string[] = [];
    // The physical limits: as many streams as the largest fleet runs (workers × slicesInFlight).
    const dstCeiling = uniqueName('bench_dst');
    targets.push(dstCeiling);
    await next.createCollection(dstCeiling, 2);
    const dstCopyCeiling = uniqueName('bench_dst');
    targets.push(dstCopyCeiling);
    await next.createCollection(dstCopyCeiling, 2);
    const warmUp = WARM_UP > 0 ? {
      docs: WARM_UP,
      create: async () => { const dst = uniqueName('bench_warm'); targets.push(dst); await next.createCollection(dst, 2); return dst; },
      drop: async (dst: string) => { await next.deleteCollection(dst); targets.splice(targets.indexOf(dst), 1); },
    } : undefined;
    const ceiling = await solrCeilings(stack.solrLegacy, coll, stack.solrNew, dstCeiling, Math.max(...WORKERS) * 2, BATCH, { meter, copyDst: dstCopyCeiling, warmUp });
    rows.push(...ceilingRows(ceiling));
    const dstTight = uniqueName('bench_dst');
    targets.push(dstTight);
    await next.createCollection(dstTight, 2);
    const { value: tight, cpu: tightCpu } = await metered(meter, () => tightLoop(stack.solrLegacy, stack.solrNew, coll, dstTight), () => next.commit(dstTight));
    rows.push(`tight loop (no coordination, 1 stream)   ${Math.round(tight)} docs/s`);
    if (tightCpu) rows.push(...serverShareRow(tightCpu.spent, tightCpu.settled, DOCS, ceiling));
    for (const w of WORKERS) {
      const dst = uniqueName('bench_dst');
      targets.push(dst);
      await next.createCollection(dst, 2);
      const r = await fleet(coll, dst, w, root, ceiling);
      await next.commit(dst);
      const copied = await next.count(dst);
      rows.push(`fleet, ${w} worker(s) x 2 slices          ${Math.round(r.rate)} docs/s end to end  (plan ${r.planMs} ms; ${copied}/${DOCS} copied; ${Math.round((r.rate / tight) * 100)} % of the tight loop, ${(r.rate / ceiling.ingest).toFixed(2)}× the ingest ceiling; steady state ${(r.detail.steady / ceiling.ingest).toFixed(2)}× the ingest ceiling, ${(r.detail.steady / sharedCoreBound(ceiling)).toFixed(2)}× the shared-core bound${ofCopyCeiling(r.detail.steady, ceiling)})`, ...r.detail.lines, ...r.serverRow);
    }
    if (BASELINE) {
      rows.push(await cpuAgainstBaseline({
        ref: BASELINE, runs: BASELINE_RUNS, bin, docs: DOCS, sourceMB,
        prepare: async (who, round, which) => {
          const dst = uniqueName('bench_dst');
          targets.push(dst);
          await next.createCollection(dst, 2);
          const spec = benchSpec(`cpu-${who}-${round}`, coll, dst, 1, root, who === 'now');
          if ((await cli(['plan', '--spec', spec], which)) !== 0) throw new Error(`plan (${who}) failed`);
          return { spec, copied: async () => (await next.commit(dst), next.count(dst)) };
        },
      }));
    }
    process.stdout.write(`\n${DOCS} documents (${DATASET} dataset), batch ${BATCH}, Solr 8.11 → 9.10 on one ${require('node:os').cpus().length}-core machine (${pinned ? `source pinned to cores ${pinned.source}, target to ${pinned.target}, workers on any` : 'servers and workers share it'}; load average ${require('node:os').loadavg().map((x: number) => x.toFixed(1)).join(' ')}):\n${rows.join('\n')}\n`);
  } finally {
    pinned?.undo();
    await zk.removeRecursive(root);
    zk.close();
    await legacy.deleteCollection(coll);
    for (const t of targets) await next.deleteCollection(t);
  }
}

main().catch((e) => {
  process.stderr.write(`bench failed: ${e instanceof Error ? e.stack : e}\n`);
  process.exitCode = 1;
});
