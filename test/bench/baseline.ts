/**
 * MB of documents per worker CPU-second, this code against an earlier commit, on the same source in
 * the same run (issue 15, target "≥ 3× today's"): `bench:solr -- --baseline <git ref>`. The commit is
 * checked out into a temporary worktree and built there (with this checkout's node_modules); then
 * one `bluegreen work` of each, taken in turn, copies the same collection into a fresh one. Each
 * process's CPU is read at its exit (a `--require` preload: process.cpuUsage, the same for both
 * codes, which need not report it themselves), and so is the CPU of the same worker started again on
 * the finished migration: start-up and exit, which is taken off so that the figure is the copy's.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const repo = resolve(__dirname, '../../..');

/** A checkout of `ref` built in a temporary worktree; `remove` takes it away again. */
export function buildBaseline(ref: string): { bin: string; commit: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'bg-baseline-'));
  const git = (...args: string[]) => {
    const r = spawnSync('git', ['-C', repo, ...args], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`git ${args.join(' ')} failed: ${r.stderr.trim()}`);
    return r.stdout.trim();
  };
  const commit = git('rev-parse', '--verify', `${ref}^{commit}`);
  git('worktree', 'add', '--detach', dir, commit);
  const remove = () => {
    spawnSync('git', ['-C', repo, 'worktree', 'remove', '--force', dir]);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    symlinkSync(join(repo, 'node_modules'), join(dir, 'node_modules'));
    const tsc = spawnSync(process.execPath, [join(repo, 'node_modules/typescript/bin/tsc'), '-p', join(dir, 'tsconfig.json')], { encoding: 'utf8' });
    if (tsc.status !== 0) throw new Error(`building ${ref} failed: ${tsc.stdout.slice(0, 500)}`);
  } catch (e) {
    remove();
    throw e;
  }
  return { bin: join(dir, 'bin/bluegreen'), commit: commit.slice(0, 7), remove };
}

/** Writes the preload that records a process's CPU seconds at exit into `dir/<pid>.cpu`. */
export function cpuPreload(dir: string): string {
  const file = join(dir, 'cpu-at-exit.js');
  writeFileSync(file, `process.on('exit', () => { const u = process.cpuUsage(); require('node:fs').writeFileSync(${JSON.stringify(dir)} + '/' + process.pid + '.cpu', String((u.user + u.system) / 1e6)); });\n`);
  return file;
}

/** One `bluegreen work` run to its end: exit code and CPU seconds (whole process). */
export function workCpu(bin: string, spec: string, preload: string, dir: string): Promise<{ code: number; cpu: number }> {
  return new Promise((res, rej) => {
    const c = spawn(process.execPath, ['--require', preload, bin, 'work', '--spec', spec], { stdio: 'ignore', env: { ...process.env, BLUEGREEN_LOG_LEVEL: 'warn' } });
    c.on('error', rej);
    c.on('close', (code) => {
      try {
        res({ code: code ?? 1, cpu: Number(readFileSync(join(dir, `${c.pid}.cpu`), 'utf8')) });
      } catch (e) {
        rej(new Error(`worker ${bin} left no CPU figure (exit ${code}): ${(e as Error).message}`));
      }
    });
  });
}

export const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);

/** One copy for the comparison: the spec (planned already) and how many documents it left in the target. */
export interface CpuRun {
  spec: string;
  copied(): Promise<number>;
}

/**
 * The comparison's row: `runs` rounds, each one `work` of this code (`bin`) then one of `ref`'s, each
 * on a fresh target that `prepare(who, round, bin)` makes and plans; `sourceMB` of documents over the
 * copy's CPU (the whole process's, less the same worker's on the finished migration).
 */
export async function cpuAgainstBaseline(o: { ref: string; runs: number; bin: string; docs: number; sourceMB: number; prepare(who: 'now' | 'base', round: number, bin: string): Promise<CpuRun> }): Promise<string> {
  process.stdout.write(`building ${o.ref} for the CPU comparison ...\n`);
  const base = buildBaseline(o.ref);
  try {
    const dir = mkdtempSync(join(tmpdir(), 'bg-cpu-'));
    const preload = cpuPreload(dir);
    const figures: Record<'now' | 'base', number[]> = { now: [], base: [] };
    for (let round = 0; round < o.runs; round++) {
      for (const [who, which] of [['now', o.bin], ['base', base.bin]] as const) {
        const run = await o.prepare(who, round, which);
        const full = await workCpu(which, run.spec, preload, dir);
        if (full.code !== 0) throw new Error(`work (${who}) exited ${full.code}`);
        // The same worker on the finished migration: its start-up and exit alone.
        const idle = await workCpu(which, run.spec, preload, dir);
        const copied = await run.copied();
        if (copied !== o.docs) throw new Error(`work (${who}) copied ${copied} of ${o.docs}`);
        figures[who].push(o.sourceMB / Math.max(0.001, full.cpu - idle.cpu));
      }
    }
    const list = (xs: number[]) => xs.map((x) => x.toFixed(1)).join(', ');
    return `MB per copy CPU-second (one worker, ${o.runs} runs each in turn, start-up and exit taken off): this code ${mean(figures.now).toFixed(1)} (${list(figures.now)}), ${base.commit} ${mean(figures.base).toFixed(1)} (${list(figures.base)}): ${(mean(figures.now) / mean(figures.base)).toFixed(2)}×`;
  } finally {
    base.remove();
  }
}
