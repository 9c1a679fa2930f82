/**
 * Where the operator tools the packaging tests run are: helm and docker compose, installed by
 * `scripts/tools install` into .stack/cache/bin (or named by BLUEGREEN_HELM / BLUEGREEN_COMPOSE).
 * A missing tool fails the test that needs it, with the command that installs it: never a skip.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const REPO = resolve(__dirname, '../../..');
const binDir = join(process.env.BLUEGREEN_STACK_DIR ?? join(REPO, '.stack'), 'cache', 'bin');

export function toolPath(tool: 'helm' | 'compose'): string {
  const fromEnv = tool === 'helm' ? process.env.BLUEGREEN_HELM : process.env.BLUEGREEN_COMPOSE;
  const path = fromEnv || join(binDir, tool === 'helm' ? 'helm' : 'docker-compose');
  if (!existsSync(path)) {
    throw new Error(`${tool} is not installed at ${path}. Run \`scripts/tools install\` (scripts/test does) or set ${tool === 'helm' ? 'BLUEGREEN_HELM' : 'BLUEGREEN_COMPOSE'}.`);
  }
  return path;
}

export interface ToolResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runTool(tool: 'helm' | 'compose', args: string[], env: NodeJS.ProcessEnv = process.env): ToolResult {
  const r = spawnSync(toolPath(tool), args, { cwd: REPO, env, encoding: 'utf8', timeout: 60_000, maxBuffer: 64 * 1024 * 1024 });
  if (r.error) throw r.error;
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
