/**
 * CPU the local stack's servers spent, phase by phase (issue 15, "the fleet's share of the physical
 * limit"): on this machine the source, the target and the workers share the cores, so a rate alone
 * cannot say whose cycles a copy spends. The servers are found by the pid files scripts/stack writes
 * (`.stack/run/<name>.pid`), their CPU read from /proc (user + system, all threads). Where either is
 * missing (not Linux, a stack started elsewhere) there is no meter and the benches print no CPU rows.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join, resolve } from 'node:path';

export interface ServerNames {
  source: string;
  target: string;
}

/** Milliseconds of CPU each server spent in a phase. */
export interface CpuSpent {
  source: number;
  target: number;
  zookeeper: number;
}

type Role = keyof CpuSpent;
const ROLES: Role[] = ['source', 'target', 'zookeeper'];

/** Clock ticks per second in /proc/<pid>/stat (USER_HZ: 100 on every Linux this runs on). */
const TICK_MS = 10;
/** A server is quiet when it spends less than this share of one core (background upkeep). */
const QUIET_SHARE = 0.05;
const QUIET_WINDOW_MS = 1000;
const SETTLE_DEADLINE_MS = 20_000;

function cpuMsOf(pid: number): number {
  // Fields after the command (which may hold spaces): state is the 3rd field, utime the 14th, stime the 15th.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) * TICK_MS;
}

export class ServerCpu {
  private constructor(private readonly pids: Record<Role, number>) {}

  /** The meter for the stack's `source` and `target` servers (scripts/stack names), or null when it cannot read them. */
  static forStack(names: ServerNames): ServerCpu | null {
    const run = join(process.env.BLUEGREEN_STACK_DIR ?? resolve(__dirname, '../../../.stack'), 'run');
    const pids = {} as Record<Role, number>;
    for (const [role, name] of [['source', names.source], ['target', names.target], ['zookeeper', 'zookeeper']] as Array<[Role, string]>) {
      const file = join(run, `${name}.pid`);
      if (!existsSync(file)) return null;
      const pid = Number(readFileSync(file, 'utf8').trim());
      if (!Number.isInteger(pid) || !existsSync(`/proc/${pid}/stat`)) return null;
      pids[role] = pid;
    }
    return new ServerCpu(pids);
  }

  /**
   * `--pin-servers`: the source's threads on the first half of the cores, the target's on the other
   * (taskset, every thread), as clusters on machines of their own would be; ZooKeeper and the workers
   * keep every core. Returns what undoes it (every core again) and the cores each got.
   */
  pinApart(): { undo: () => void; source: string; target: string } {
    const n = cpus().length;
    if (n < 2) throw new Error('--pin-servers needs at least 2 cores');
    const half = Math.floor(n / 2);
    const range = (from: number, to: number) => (from === to ? String(from) : `${from}-${to}`);
    const cores = { source: range(0, half - 1), target: range(half, n - 1) };
    const set = (pid: number, list: string) => execFileSync('taskset', ['-a', '-p', '-c', list, String(pid)], { stdio: 'ignore' });
    const undo = () => {
      for (const pid of [this.pids.source, this.pids.target]) set(pid, range(0, n - 1));
      process.off('SIGINT', interrupted);
      process.off('SIGTERM', interrupted);
    };
    // A bench stopped by a signal leaves the servers on every core as well.
    const interrupted = (signal: NodeJS.Signals) => {
      undo();
      process.kill(process.pid, signal);
    };
    process.once('SIGINT', interrupted);
    process.once('SIGTERM', interrupted);
    set(this.pids.source, cores.source);
    set(this.pids.target, cores.target);
    return { ...cores, undo };
  }

  private sample(): CpuSpent {
    return { source: cpuMsOf(this.pids.source), target: cpuMsOf(this.pids.target), zookeeper: cpuMsOf(this.pids.zookeeper) };
  }

  /**
   * Runs `fn` and returns what the servers spent on it: from its start until both clusters are quiet
   * again (the merges and commits its writes set off are its cost too), or SETTLE_DEADLINE_MS after it.
   * `finish` (a commit of what `fn` wrote) runs first, so that a commit due later (commitWithin) is
   * counted here and not in the next phase.
   */
  async phase<T>(fn: () => Promise<T>, finish?: () => Promise<unknown>): Promise<{ value: T; spent: CpuSpent; settled: boolean }> {
    const start = this.sample();
    const value = await fn();
    await finish?.();
    const deadline = Date.now() + SETTLE_DEADLINE_MS;
    let before = this.sample();
    let settled = false;
    while (Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, QUIET_WINDOW_MS));
      const now = this.sample();
      const busiest = Math.max(now.source - before.source, now.target - before.target);
      before = now;
      if (busiest < QUIET_SHARE * QUIET_WINDOW_MS) {
        settled = true;
        break;
      }
    }
    const spent = {} as CpuSpent;
    for (const r of ROLES) spent[r] = before[r] - start[r];
    return { value, spent, settled };
  }
}

/** `fn`, and with a meter what the servers spent on it (ServerCpu.phase); without one, `fn` alone. */
export async function metered<T>(meter: ServerCpu | null | undefined, fn: () => Promise<T>, finish?: () => Promise<unknown>): Promise<{ value: T; cpu?: { spent: CpuSpent; settled: boolean } }> {
  if (!meter) return { value: await fn() };
  const r = await meter.phase(fn, finish);
  return { value: r.value, cpu: { spent: r.spent, settled: r.settled } };
}

/** CPU milliseconds per 1,000 documents. */
export const perThousand = (ms: number, docs: number): number => (ms / Math.max(1, docs)) * 1000;

/** "source 114 ms, target 90 ms, ZooKeeper 2 ms" per 1,000 documents, the roles given. */
export function describeSpent(spent: CpuSpent, docs: number, roles: Role[] = ROLES, settled = true): string {
  const label: Record<Role, string> = { source: 'source', target: 'target', zookeeper: 'ZooKeeper' };
  return `${roles.map((r) => `${label[r]} ${perThousand(spent[r], docs).toFixed(0)} ms`).join(', ')} per 1,000 documents${settled ? '' : ' (the servers were still busy 20 s after it)'}`;
}
