/** Runs the real `bin/bluegreen` as a child process, as an operator (or Kubernetes) would. */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { expect } from 'chai';
import yaml from 'js-yaml';
import type { VerifyReport } from '../../src/verifier/verifier';

export const BIN = resolve(__dirname, '../../../bin/bluegreen');

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export function writeSpec(spec: object): string {
  const dir = mkdtempSync(join(tmpdir(), 'bg-test-'));
  const file = join(dir, 'spec.yaml');
  writeFileSync(file, yaml.dump(spec));
  return file;
}

export interface Running {
  child: ChildProcess;
  done: Promise<CliResult>;
  output: () => { stdout: string; stderr: string };
}

/** The JSON log lines (pino) a CLI process wrote to stderr, parsed; anything else (a crash's stack) is left out. */
export function logLines(stderr: string): Array<Record<string, any>> {
  return stderr.split('\n').filter((l) => l.startsWith('{')).flatMap((l) => {
    try {
      return [JSON.parse(l)];
    } catch {
      return [];
    }
  });
}

/** Writes a worker sent again after a failure (each logged as a write backing off), over these processes' stderr. */
export function writeRetriesLogged(stderrs: string[]): number {
  return stderrs.flatMap(logLines).filter((l) => l.msg === 'backing off' && l.side === 'write').length;
}

/** CLI processes a test started that have not ended yet (stopLeftProcesses, from the root hooks). */
const running = new Set<ChildProcess>();

/**
 * Kills (SIGKILL, by its pid) every CLI process a test started that is still running, and waits for
 * each to end. A test that fails before it stops its `work --follow` would otherwise leave the worker
 * copying into the next test's collections, and keep mocha from ever exiting.
 */
export async function stopLeftProcesses(): Promise<number> {
  // Ended but not yet closed (its output still draining): waited for, not counted as killed.
  const alive = [...running].filter((c) => c.exitCode === null && c.signalCode === null);
  const closed = [...running].map((c) => new Promise<void>((res) => c.once('close', () => res())));
  for (const c of alive) c.kill('SIGKILL');
  await Promise.all(closed);
  return alive.length;
}

export function start(args: string[], env: NodeJS.ProcessEnv = {}): Running {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { ...process.env, BLUEGREEN_LOG_FORMAT: 'json', BLUEGREEN_LOG_LEVEL: process.env.BLUEGREEN_TEST_LOG_LEVEL ?? 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  child.on('close', () => running.delete(child));
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const done = new Promise<CliResult>((res) => child.on('close', (code, signal) => res({ code, signal, stdout, stderr })));
  return { child, done, output: () => ({ stdout, stderr }) };
}

export function run(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return start(args, env).done;
}

/** `verify-integrity --json` of a spec: its exit code and its report (the run must print one). */
export async function verifyJson(spec: string, ...flags: string[]): Promise<{ code: number | null; report: VerifyReport; stderr: string }> {
  const r = await run(['verify-integrity', '--spec', spec, '--json', ...flags]);
  expect(r.stdout, r.stderr).to.not.equal('');
  return { code: r.code, report: JSON.parse(r.stdout) as VerifyReport, stderr: r.stderr };
}

/** The ids a report lists under one kind, over all its slices, sorted. */
export const reportIds = (rep: VerifyReport, kind: 'missing' | 'extra' | 'different'): string[] => rep.results.flatMap((x) => x[kind]).sort();
