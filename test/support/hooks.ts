/** Root hooks: print the servers' versions the run talked to (the CI log shows them). */
import { versionsSeen } from './stack';

export const mochaHooks = {
  afterAll(): void {
    if (versionsSeen.size === 0) return;
    const line = [...versionsSeen].map(([k, v]) => `${k} ${v}`).join(', ');
    process.stdout.write(`\n  servers: ${line}\n`);
  },
};
