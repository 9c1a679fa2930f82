/**
 * Figures, not a test: documents/second of the fleet (plan + N workers, real processes) copying
 * Elasticsearch 7.17 → 8.19 on the local stack, beside a tight loop with no coordination
 * (search_after pages → bulk create), beside `elasticdump` on the same data, and beside the machine's
 * limits: the source's read ceiling and the target's ingest ceiling with as many streams (ceilings.ts).
 *
 * elasticdump is not a dependency of the project: the first run installs it with npm into .bench/
 * (git-ignored). Each fleet row is end to end; below it, from the workers' own "worker finished"
 * lines (fleetFigures.ts): start-up, steady state, the lanes' time and MB per worker CPU-second.
 * --baseline <git ref>: MB per copy CPU-second of one worker, this code against that commit's, in
 * turn on the same source (baseline.ts), as bench:solr.
 * --warm-up N (default 100,000): documents copied first, unmeasured, so that no phase runs on cold JVMs (ceilings.ts).
 * Run: npm run bench:es [-- --docs 50000 --workers 1,3 --batch 500 --dataset wide --no-elasticdump --baseline 6b2c43d --warm-up 0]
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import yaml from 'js-yaml';
import { ZkSession } from '../../src/coordination/zk';
import { generateDocs } from '../../src/demo/dataset';
import { EsAdmin, TEST_MAPPING } from '../support/esAdmin';
import { stack, uniqueName } from '../support/stack';
import { BULK_LOAD } from '../../src/prepare/steps';
import { ceilingRows, esCeilings, ofCopyCeiling, serverShareRow, sharedCoreBound, type Ceilings } from './ceilings';
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
if (!['demo', 'wide'].includes(DATASET)) throw new Error(`--dataset demo or wide, not ${DATASET}`);
const ELASTICDUMP = !process.argv.includes('--no-elasticdump');
/** --baseline <git ref>: MB per copy CPU-second of one worker, this code against that commit's (baseline.ts; --baseline-runs, default 3). */
const BASELINE = arg('baseline', '');
const BASELINE_RUNS = Number(arg('baseline-runs', '3'));
/** --pin-servers: the source's and the target's threads on cores of their own (ServerCpu.pinApart), as on machines of their own. */
const PIN = process.argv.includes('--pin-servers');
const ELASTICDUMP_VERSION = '6.125.1';
const repo = resolve(__dirname, '../../..');
const bin = join(repo, 'bin/bluegreen');
const SETTINGS = { number_of_shards: 2, number_of_replicas: 0 };

async function post(url: string, body: string, ndjson = false): Promise<any> {
  const r = await fetch(url, { method: 'POST', headers: { 'content-type': ndjson ? 'application/x-ndjson' : 'application/json' }, body });
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status} ${(await r.text()).slice(0, 300)}`);
  return r.json();
}

/** The ceiling: one stream, no coordination, no checkpoints, plain JSON. */
async function tightLoop(src: string, dst: string): Promise<number> {
  const t0 = Date.now();
  let after: unknown[] | undefined;
  let n = 0;
  for (;;) {
    const page = await post(`${stack.esLegacy}/${src}/_search`, JSON.stringify({ size: BATCH, sort: [{ id: 'asc' }], track_total_hits: false, ...(after ? { search_after: after } : {}) }));
    const hits: any[] = page.hits.hits;
    if (hits.length) {
      const body = hits.map((h) => `${JSON.stringify({ create: { _id: h._id, ...(h._routing ? { routing: h._routing } : {}) } })}\n${JSON.stringify(h._source)}\n`).join('');
      const res = await post(`${stack.esNew}/${dst}/_bulk`, body, true);
      if (res.errors) throw new Error('tight loop: bulk item errors');
      n += hits.length;
      after = hits[hits.length - 1].sort;
    }
    if (hits.length < BATCH) break;
  }
  return n / ((Date.now() - t0) / 1000);
}

function elasticdumpBin(): string {
  const dir = join(repo, '.bench/elasticdump');
  const path = join(dir, 'node_modules/.bin/elasticdump');
  if (!existsSync(path)) {
    process.stdout.write(`installing elasticdump ${ELASTICDUMP_VERSION} into .bench/elasticdump (npm, once) ...\n`);
    mkdirSync(dir, { recursive: true });
    execFileSync('npm', ['install', '--prefix', dir, '--no-save', '--no-audit', '--no-fund', '--loglevel=error', `elasticdump@${ELASTICDUMP_VERSION}`], { stdio: 'inherit' });
  }
  return path;
}

async function elasticdump(src: string, dst: string): Promise<number> {
  const path = elasticdumpBin();
  const t0 = Date.now();
  const code = await runProcess(path, [`--input=${stack.esLegacy}/${src}`, `--output=${stack.esNew}/${dst}`, '--type=data', `--limit=${BATCH}`]);
  if (code !== 0) throw new Error(`elasticdump exited ${code}`);
  return DOCS / ((Date.now() - t0) / 1000);
}

/** A spec copying `src` into `dst` (a temporary file); `ours`: this code's (the baseline's may not know --checkpoint-every's key). */
function benchSpec(migration: string, src: string, dst: string, workers: number, root: string, tune: boolean, ours = true): string {
  const dir = mkdtempSync(join(tmpdir(), 'bg-bench-'));
  const spec = join(dir, 'spec.yaml');
  const mappingsFile = join(dir, 'mappings.json');
  writeFileSync(mappingsFile, JSON.stringify({ mappings: TEST_MAPPING }));
  const settingsFile = join(dir, 'settings.json');
  writeFileSync(settingsFile, JSON.stringify({ settings: SETTINGS }));
  writeFileSync(spec, yaml.dump({
    migration, zookeeper: { connect: stack.zk, root },
    source: { kind: 'elasticsearch', url: stack.esLegacy, collection: src },
    target: { kind: 'elasticsearch', url: stack.esNew, collection: dst, ...(tune ? { prepare: { mappingsFile, settingsFile, tuneForBulk: true } } : {}) },
    slicing: { targetDocsPerSlice: Math.max(1000, Math.ceil(DOCS / (workers * 4))) },
    batch: { docs: BATCH, bytes: '8MB' }, worker: { slicesInFlight: 2, ...(CHECKPOINT_EVERY && ours ? { checkpointEvery: CHECKPOINT_EVERY } : {}) },
  }));
  return spec;
}

/** The stack's Elasticsearch servers' CPU, phase by phase (serverCpu.ts); null where it cannot be read. */
const meter = ServerCpu.forStack({ source: 'es-legacy', target: 'es-new' });

async function fleet(src: string, dst: string, workers: number, root: string, tune: boolean, ceiling: Ceilings): Promise<{ rate: number; planMs: number; detail: ReturnType<typeof fleetDetail>; serverRow: string[] }> {
  const spec = benchSpec(`bench${workers}${tune ? 'tuned' : ''}`, src, dst, workers, root, tune);
  const env = { BLUEGREEN_LOG_LEVEL: 'warn', BLUEGREEN_LOG_FORMAT: 'json' };
  const p0 = Date.now();
  if ((await runProcess(process.execPath, [bin, 'plan', '--spec', spec], env)) !== 0) throw new Error('plan failed');
  const planMs = Date.now() - p0;
  const { value: run, cpu } = await metered(meter, () => runWorkers(bin, spec, workers, [], (process.env.BENCH_WORKER_NODE_ARGS ?? '').split(' ').filter(Boolean)), () => new EsAdmin(stack.esNew).refresh(dst));
  // 3 = "others hold the rest" when the workers finish together: the copied count below is what counts.
  if (run.codes.some((c) => c !== 0 && c !== 3)) throw new Error(`workers exited ${run.codes}`);
  const workerCpuMs = run.finished.reduce((n, f) => n + f.cpuSeconds * 1000, 0);
  const rate = DOCS / ((run.endedAt - run.spawnedAt) / 1000);
  return { rate, planMs, detail: fleetDetail(run, DOCS), serverRow: cpu ? serverShareRow(cpu.spent, cpu.settled, DOCS, ceiling, { cpuMs: workerCpuMs, rate }) : [] };
}

async function main(): Promise<void> {
  const legacy = new EsAdmin(stack.esLegacy);
  const next = new EsAdmin(stack.esNew);
  const src = uniqueName('bench_src');
  const root = `/${uniqueName('bgbench')}`;
  const targets: string[] = [];
  const newTarget = async (create = true) => {
    const name = uniqueName('bench_dst');
    targets.push(name);
    if (create) await next.createIndex(name, { settings: SETTINGS, mappings: TEST_MAPPING });
    return name;
  };
  const copied = async (name: string) => {
    await next.refresh(name);
    return next.count(name);
  };
  if (ELASTICDUMP) elasticdumpBin(); // installed first, while nothing else is timing
  const zk = await ZkSession.connect({ connect: stack.zk, sessionTimeout: 10_000, connectTimeout: 10_000 });
  if (PIN && !meter) throw new Error('--pin-servers: the stack\'s pid files (.stack/run) or /proc cannot be read');
  const pinned = PIN ? meter!.pinApart() : null;
  try {
    process.stdout.write(`loading ${DOCS} documents into Elasticsearch ${await legacy.version()} ...\n`);
    await legacy.createIndex(src, { settings: SETTINGS, mappings: TEST_MAPPING });
    const profiles = [
      { name: 'big', docs: Math.floor(DOCS * 0.7), spanDays: 7 },
      { name: 'mid', docs: Math.floor(DOCS * 0.2), spanDays: 90 },
      { name: 'small', docs: DOCS - Math.floor(DOCS * 0.7) - Math.floor(DOCS * 0.2), spanDays: 900 },
    ];
    const docs: Array<Record<string, unknown>> = DATASET === 'wide' ? [...wideDocs(profiles, Date.now(), 3)] : [...generateDocs(profiles, Date.now(), 3)] as any[];
    const sourceMB = docs.reduce((n: number, d) => n + Buffer.byteLength(JSON.stringify(d)), 0) / 1e6;
    await legacy.index(src, docs.map((d) => ({ _id: String(d.id), source: d })));
    const rows: string[] = [];
    const row = (label: string, rate: number, name: string, extra = '') => copied(name).then((n) => {
      rows.push(`${label.padEnd(48)} ${String(Math.round(rate)).padStart(6)} docs/s  (${n}/${DOCS} copied${extra})`);
      process.stdout.write(`${rows[rows.length - 1]}\n`);
    });

    // The physical limits: as many streams as the largest fleet runs (workers × slicesInFlight).
    const streams = Math.max(...WORKERS) * 2;
    const tunedCeilingDst = await newTarget();
    await next.setSettings(tunedCeilingDst, { ...BULK_LOAD });
    const warmUp = WARM_UP > 0 ? {
      docs: WARM_UP,
      create: () => newTarget(),
      drop: async (dst: string) => { await next.deleteIndex(dst); targets.splice(targets.indexOf(dst), 1); },
    } : undefined;
    const ceiling = await esCeilings(stack.esLegacy, src, stack.esNew, await newTarget(), streams, BATCH, { tunedDst: tunedCeilingDst, meter, copyDst: await newTarget(), warmUp });
    const tunedBound = sharedCoreBound({ ...ceiling, ingest: ceiling.ingestTuned! });
    for (const line of [...ceilingRows(ceiling), `target ingest ceiling, tuned as tuneForBulk (refresh -1, 0 replicas) ${Math.round(ceiling.ingestTuned!)} docs/s; shared-core bound with it ${Math.round(tunedBound)} docs/s`]) {
      rows.push(line);
      process.stdout.write(`${line}\n`);
    }

    const dstTight = await newTarget();
    const { value: tight, cpu: tightCpu } = await metered(meter, () => tightLoop(src, dstTight), () => next.refresh(dstTight));
    await row('tight loop (no coordination, 1 stream)', tight, dstTight);
    if (tightCpu) {
      rows.push(...serverShareRow(tightCpu.spent, tightCpu.settled, DOCS, ceiling));
      process.stdout.write(`${rows[rows.length - 1]}\n`);
    }

    if (ELASTICDUMP) {
      const dstDump = await newTarget();
      await row(`elasticdump ${ELASTICDUMP_VERSION} (--limit ${BATCH})`, await elasticdump(src, dstDump), dstDump);
    }

    for (const w of WORKERS) {
      const dst = await newTarget();
      const r = await fleet(src, dst, w, root, false, ceiling);
      await row(`fleet, ${w} worker(s) x 2 slices, end to end`, r.rate, dst, `; plan ${r.planMs} ms; ${(r.rate / tight).toFixed(2)}× the tight loop, ${(r.rate / ceiling.ingest).toFixed(2)}× the ingest ceiling; steady state ${(r.detail.steady / ceiling.ingest).toFixed(2)}× the ingest ceiling, ${(r.detail.steady / sharedCoreBound(ceiling)).toFixed(2)}× the shared-core bound${ofCopyCeiling(r.detail.steady, ceiling)}`);
      rows.push(...r.detail.lines, ...r.serverRow);
      process.stdout.write(`${[...r.detail.lines, ...r.serverRow].join('\n')}\n`);
    }
    const w = Math.max(...WORKERS);
    const dst = await newTarget(false);
    const r = await fleet(src, dst, w, root, true, ceiling);
    await row(`fleet, ${w} worker(s), target.prepare tuneForBulk`, r.rate, dst, `; plan incl. create + tune ${r.planMs} ms; ${(r.rate / ceiling.ingestTuned!).toFixed(2)}× the tuned ingest ceiling; steady state ${(r.detail.steady / ceiling.ingestTuned!).toFixed(2)}× it, ${(r.detail.steady / tunedBound).toFixed(2)}× the shared-core bound with it`);
    rows.push(...r.detail.lines);
    if (BASELINE) {
      rows.push(await cpuAgainstBaseline({
        ref: BASELINE, runs: BASELINE_RUNS, bin, docs: DOCS, sourceMB,
        prepare: async (who, round, which) => {
          const dst = await newTarget();
          const spec = benchSpec(`cpu-${who}-${round}`, src, dst, 1, root, false, who === 'now');
          if ((await runProcess(process.execPath, [which, 'plan', '--spec', spec], { BLUEGREEN_LOG_LEVEL: 'warn' })) !== 0) throw new Error(`plan (${who}) failed`);
          return { spec, copied: () => copied(dst) };
        },
      }));
      process.stdout.write(`${rows[rows.length - 1]}\n`);
    }
    process.stdout.write(`\n${DOCS} documents (${DATASET} dataset), batch ${BATCH}, Elasticsearch 7.17 → 8.19 on one ${require('node:os').cpus().length}-core machine (${pinned ? `source pinned to cores ${pinned.source}, target to ${pinned.target}, workers on any` : 'servers and workers share it'}; load average ${require('node:os').loadavg().map((x: number) => x.toFixed(1)).join(' ')}):\n${rows.join('\n')}\n`);
  } finally {
    pinned?.undo();
    await zk.removeRecursive(root);
    zk.close();
    await legacy.deleteIndex(src);
    for (const t of targets) await next.deleteIndex(t);
  }
}

main().catch((e) => {
  process.stderr.write(`bench failed: ${e instanceof Error ? e.stack : e}\n`);
  process.exitCode = 1;
});
