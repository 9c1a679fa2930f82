/**
 * What the copy benchmarks (solrCopy.ts, esCopy.ts) share (issue 15): the "wide" dataset (about 2 KB
 * per document, 20 numeric fields of which 6 are 64-bit integers beyond 2^53, written as their exact
 * text), and the fleet's figures taken from the workers' own "worker finished" lines — the honest
 * end-to-end rate (spawn to the last exit) beside the start-up cost and the steady-state rate (first
 * write to last checkpoint over the fleet), where the lanes spent their time, and MB of documents per
 * worker CPU-second.
 */
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { prng } from '../../src/demo/dataset';

/**
 * Runs a command to its end and resolves its exit code; what it said on stderr (its last 2,000
 * characters) is shown when it fails (exit 3, every slice claimed by others, is not a failure): a
 * plan refused, a CLI started on a Node too old for it.
 */
export function runProcess(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<number> {
  return new Promise((res) => {
    const c = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } });
    let err = '';
    c.stderr!.on('data', (d) => (err = (err + d).slice(-2000)));
    c.on('close', (code) => {
      if (code !== 0 && code !== 3) process.stderr.write(`${cmd} ${args[0]} exited ${code}: ${err}\n`);
      res(code ?? 1);
    });
  });
}

const WORDS = ['search', 'cluster', 'shard', 'replica', 'cursor', 'slice', 'migration', 'verify', 'green', 'blue', 'legacy', 'index'];

/**
 * About 2 KB of JSON per document: the demo's fields (customer, timestamp, text) plus 20 numbers —
 * n0_l..n5_l 19-digit integers (beyond 2^53: exact only as text), n6_i..n12_i integers, n13_d..n19_d
 * decimals — under Solr dynamic-field names (*_l, *_i, *_d) that Elasticsearch maps dynamically.
 */
export function* wideDocs(profiles: Array<{ name: string; docs: number; spanDays: number }>, end: number, seed = 3): Generator<Record<string, unknown>> {
  const rnd = prng(seed);
  const pick = () => WORDS[Math.floor(rnd() * WORDS.length)];
  for (const p of profiles) {
    for (let i = 0; i < p.docs; i++) {
      const doc: Record<string, unknown> = {
        id: `${p.name}-${String(i).padStart(7, '0')}`,
        customer: p.name,
        timestamp: new Date(Math.floor(end - Math.pow(rnd(), 1.5) * p.spanDays * 86_400_000)).toISOString(),
        title: `${pick()} ${pick()} ${i}`,
        body: Array.from({ length: 200 }, pick).join(' '),
        category: `cat-${Math.floor(rnd() * 5)}`,
        tags: [pick(), pick()],
        price: Math.round(rnd() * 100_000) / 100,
        quantity: Math.floor(rnd() * 1000),
      };
      // 19 digits, below 2^63 and far beyond 2^53: a double would change them.
      for (let k = 0; k < 6; k++) doc[`n${k}_l`] = JSON.rawJSON(`${1 + Math.floor(rnd() * 8)}${String(Math.floor(rnd() * 1e9)).padStart(9, '0')}${String(Math.floor(rnd() * 1e9)).padStart(9, '0')}`);
      for (let k = 6; k < 13; k++) doc[`n${k}_i`] = Math.floor(rnd() * 2_000_000_000) - 1_000_000_000;
      for (let k = 13; k < 20; k++) doc[`n${k}_d`] = Math.round(rnd() * 1e8) / 1e4;
      yield doc;
    }
  }
}

/** A worker's "worker finished" line: the fields issue 15's figures need (worker.ts, cost()). */
export interface Finished {
  docs: number;
  cpuSeconds: number;
  copyCpuSeconds: number;
  bytesRead: number;
  bytesWritten: number;
  pages: number;
  laneMs: Record<string, number>;
  processStartedAt: number;
  firstClaimAt: number | null;
  firstWriteAt: number | null;
  lastCheckpointAt: number | null;
}

export interface FleetRun {
  codes: number[];
  finished: Finished[];
  spawnedAt: number;
  endedAt: number;
}

/** Starts `n` `bluegreen work` processes at once and waits for them; their finished lines parsed. */
export async function runWorkers(bin: string, spec: string, n: number, extraArgs: string[] = [], nodeArgs: string[] = []): Promise<FleetRun> {
  const finished: Finished[] = [];
  const spawnedAt = Date.now();
  const codes = await Promise.all(Array.from({ length: n }, (_, i) => new Promise<number>((res) => {
    const c = spawn(process.execPath, [...nodeArgs, bin, 'work', '--spec', spec, ...extraArgs], {
      stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, BLUEGREEN_LOG_LEVEL: 'info', BLUEGREEN_LOG_FORMAT: 'json' },
    });
    let rest = '';
    let tail = '';
    c.stderr!.setEncoding('utf8');
    const keep = process.env.BENCH_LOG_DIR ? createWriteStream(join(process.env.BENCH_LOG_DIR, `worker-${spawnedAt}-${i}.log`)) : null;
    c.stderr!.on('data', (d: string) => {
      keep?.write(d);
      tail = (tail + d).slice(-2000);
      const lines = (rest + d).split('\n');
      rest = lines.pop()!;
      for (const l of lines) if (l.includes('"msg":"worker finished"')) finished.push(JSON.parse(l));
    });
    c.on('close', (code) => {
      if (code !== 0 && code !== 3) process.stderr.write(`worker exited ${code}: ${tail}\n`);
      res(code ?? 1);
    });
  })));
  return { codes, finished, spawnedAt, endedAt: Date.now() };
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

/** The fleet's figures beside its end-to-end rate: start-up, steady state, lane split, MB per CPU-second. */
export function fleetDetail(run: FleetRun, docs: number): { steady: number; startupMs: number; mbPerCpuSecond: number; lines: string[] } {
  const f = run.finished;
  if (f.length === 0) return { steady: 0, startupMs: 0, mbPerCpuSecond: 0, lines: ['    (no "worker finished" line: no figures)'] };
  const firstWrite = Math.min(...f.map((x) => x.firstWriteAt ?? Infinity));
  const lastCheckpoint = Math.max(...f.map((x) => x.lastCheckpointAt ?? 0));
  const steady = docs / Math.max(0.001, (lastCheckpoint - firstWrite) / 1000);
  const startupMs = firstWrite - run.spawnedAt;
  const toClaim = f.filter((x) => x.firstClaimAt).map((x) => x.firstClaimAt! - x.processStartedAt);
  const nodeStart = f.map((x) => x.processStartedAt - run.spawnedAt);
  const lane: Record<string, number> = {};
  for (const x of f) for (const [k, v] of Object.entries(x.laneMs ?? {})) lane[k] = (lane[k] ?? 0) + v;
  const laneTotal = Math.max(1, sum(Object.values(lane)));
  const mb = sum(f.map((x) => x.bytesRead)) / 1e6;
  const copyCpu = sum(f.map((x) => x.copyCpuSeconds));
  const cpu = sum(f.map((x) => x.cpuSeconds));
  const mbPerCpuSecond = mb / Math.max(0.001, copyCpu);
  return {
    steady, startupMs, mbPerCpuSecond,
    lines: [
      `    steady state (first write → last checkpoint, ${((lastCheckpoint - firstWrite) / 1000).toFixed(1)} s): ${Math.round(steady)} docs/s; start-up (spawn → first write) ${startupMs} ms, of which spawn → Node running ${Math.round(Math.max(...nodeStart))} ms, Node running → first claim ${Math.round(Math.max(...toClaim))} ms (slowest worker); last checkpoint → last exit ${run.endedAt - lastCheckpoint} ms`,
      `    lanes' time: ${Object.entries(lane).map(([k, v]) => `${k} ${Math.round((v / laneTotal) * 100)} %`).join(', ')} (${Math.round(laneTotal / 1000)} lane-s over ${f.length} worker(s)); ${sum(f.map((x) => x.pages))} pages read, ${Math.round(sum(f.map((x) => x.docs)) / Math.max(1, sum(f.map((x) => x.pages))))} documents a page on average`,
      `    worker CPU: ${cpu.toFixed(1)} s in all (${copyCpu.toFixed(1)} s from first claim); ${mb.toFixed(1)} MB of documents read, ${(sum(f.map((x) => x.bytesWritten)) / 1e6).toFixed(1)} MB written: ${mbPerCpuSecond.toFixed(1)} MB per worker CPU-second while copying (${(mb / Math.max(0.001, cpu)).toFixed(1)} over the whole process)`,
    ],
  };
}
