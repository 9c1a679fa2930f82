/**
 * Root hooks: after a failed test, the CLI processes it left running are killed (a worker it never
 * stopped would go on writing and hold mocha open); at the end, any left at all; then the servers'
 * versions the run talked to are printed (the CI log shows them).
 */
import type { Context } from 'mocha';
import { stopLeftProcesses } from './cli';
import { versionsSeen } from './stack';

export const mochaHooks = {
  async afterEach(this: Context): Promise<void> {
    if (this.currentTest?.state !== 'failed') return;
    const n = await stopLeftProcesses();
    if (n) process.stdout.write(`      (${n} process(es) the failed test left running: killed)\n`);
  },
  async afterAll(): Promise<void> {
    const n = await stopLeftProcesses();
    if (n) process.stdout.write(`\n  ${n} process(es) left running at the end: killed\n`);
    if (versionsSeen.size === 0) return;
    const line = [...versionsSeen].map(([k, v]) => `${k} ${v}`).join(', ');
    process.stdout.write(`\n  servers: ${line}\n`);
  },
};
