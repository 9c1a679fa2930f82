/** Runs the real `bin/bluegreen` as a child process, as an operator (or Kubernetes) would. */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import yaml from 'js-yaml';

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

export function start(args: string[], env: NodeJS.ProcessEnv = {}): Running {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { ...process.env, BLUEGREEN_LOG_FORMAT: 'json', BLUEGREEN_LOG_LEVEL: process.env.BLUEGREEN_TEST_LOG_LEVEL ?? 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
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
