/**
 * The `bluegreen` command line. Each subcommand loads the spec, opens what it needs, and maps errors
 * to exit codes (errors.ts): a UserError prints what is wrong and what to do, without a stack trace.
 */
import yargs, { type Argv } from 'yargs';
import { openBackend } from './backends';
import { loadSpec, type Spec } from './config/spec';
import { ZkSession } from './coordination/zk';
import { EXIT, UserError, describeError } from './errors';
import { log } from './log';
import { Planner, type CustomerPlan } from './planner/planner';
import { Worker } from './worker/worker';

interface Common {
  spec: string;
  zk?: string;
  migration?: string;
}

function common<T>(y: Argv<T>) {
  return y
    .option('spec', { type: 'string', describe: 'Migration spec file (YAML or JSON)', default: process.env.BLUEGREEN_SPEC, demandOption: !process.env.BLUEGREEN_SPEC })
    .option('zk', { type: 'string', describe: 'ZooKeeper connect string (overrides the spec and BLUEGREEN_ZK_CONNECT)' })
    .option('migration', { type: 'string', describe: 'Migration name (overrides the spec)' });
}

function spec(argv: Common): Spec {
  return loadSpec(argv.spec, { zk: argv.zk, migration: argv.migration });
}

async function connect(s: Spec): Promise<ZkSession> {
  return ZkSession.connect({ connect: s.zookeeper.connect, sessionTimeout: s.zookeeper.sessionTimeout, connectTimeout: s.zookeeper.connectTimeout });
}

export function formatPlanTable(rows: CustomerPlan[]): string {
  const head = ['customer', 'slices', 'docs', 'min', 'median', 'max', 'outcome'];
  const body = rows.map((r) => [r.customer ?? '(no customer)', r.slices, r.docs, r.min, r.median, r.max, r.outcome].map(String));
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 || i === 6 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  const total = rows.reduce((a, r) => ({ slices: a.slices + r.slices, docs: a.docs + r.docs }), { slices: 0, docs: 0 });
  return [line(head), ...body.map(line), `${rows.length} customers, ${total.slices} slices, ${total.docs} documents`].join('\n');
}

async function planCommand(argv: Common & { dryRun: boolean; json: boolean; concurrency: number }): Promise<number> {
  const s = spec(argv);
  const source = openBackend(s.source, s);
  await source.check();
  if (argv.dryRun) {
    const rows = await new Planner(s, source, null).dryRun();
    process.stdout.write(argv.json ? `${JSON.stringify(rows, null, 2)}\n` : `${formatPlanTable(rows)}\n(dry run: nothing written)\n`);
    return EXIT.OK;
  }
  const target = openBackend(s.target, s);
  await target.check();
  const zk = await connect(s);
  try {
    const rows = await new Planner(s, source, zk).run(argv.concurrency);
    process.stdout.write(argv.json ? `${JSON.stringify(rows, null, 2)}\n` : `${formatPlanTable(rows)}\n`);
    return EXIT.OK;
  } finally {
    zk.close();
  }
}

async function workCommand(argv: Common & { follow: boolean }): Promise<number> {
  const s = spec(argv);
  const source = openBackend(s.source, s);
  const target = openBackend(s.target, s);
  await source.check();
  await target.check();
  const zk = await connect(s);
  const worker = new Worker(s, zk, source, target, { follow: argv.follow });
  const onSignal = (sig: string) => {
    log.info({ signal: sig }, 'signal received');
    worker.stop();
  };
  process.once('SIGTERM', () => onSignal('SIGTERM'));
  process.once('SIGINT', () => onSignal('SIGINT'));
  log.info({ worker: worker.id, migration: s.migration, source: source.describe(), target: target.describe() }, 'worker started');
  try {
    return await worker.run();
  } finally {
    zk.close();
  }
}

function notYet(name: string, issue: string) {
  return async (): Promise<number> => {
    throw new UserError(`\`bluegreen ${name}\` is not built yet (${issue}).`, 'See the README for what this build can do.');
  };
}

export async function main(args: string[]): Promise<number> {
  let result: Promise<number> | undefined;
  const run = (fn: () => Promise<number>) => {
    result = fn();
  };
  await yargs(args)
    .scriptName('bluegreen')
    .usage('$0 <command> [options]\n\nMigrate Solr / Elasticsearch data from a legacy cluster to a new one with zero read downtime.')
    .command('plan', 'Count each customer\'s data and cut it into slices (work nodes in ZooKeeper)', (y) =>
      common(y)
        .option('dry-run', { type: 'boolean', default: false, describe: 'Print the plan; write nothing' })
        .option('json', { type: 'boolean', default: false, describe: 'Print JSON instead of a table' })
        .option('concurrency', { type: 'number', default: 4, describe: 'Customers planned at once by this process' }),
    (argv) => run(() => planCommand(argv as any)))
    .command('work', 'Claim slices and copy them legacy → new, never overwriting; resumable', (y) =>
      common(y).option('follow', { type: 'boolean', default: false, describe: 'Keep waiting for new work instead of exiting' }),
    (argv) => run(() => workCommand(argv as any)))
    .command('status', 'Progress per customer, rate, ETA, stuck slices, live workers', (y) => common(y), () => run(notYet('status', 'issue 5')))
    .command('verify-integrity', 'Compare legacy and new slice by slice; report and repair differences', (y) => common(y), () => run(notYet('verify-integrity', 'issue 5')))
    .command('cutover', 'Flip the read flag to the new (or back to the legacy) cluster', (y) => common(y), () => run(notYet('cutover', 'issue 5')))
    .demandCommand(1, 'Name a command: plan, work, status, verify-integrity or cutover.')
    .epilogue([
      'Exit codes: 0 done; 1 internal error; 2 bad input (spec, flags, unreachable cluster, missing collection,',
      'ZooKeeper down, corrupt work node); 3 (work) nothing left to take, other workers hold the rest;',
      '4 (work) all finished but some slices failed; 143 (work) stopped by SIGTERM after checkpointing.',
    ].join('\n'))
    .strict()
    .help()
    .fail((msg, err, y) => {
      if (err) throw err;
      process.stderr.write(`${y.help()}\n\nerror: ${msg}\n`);
      process.exitCode = EXIT.USAGE;
    })
    .parseAsync();
  if (!result) return process.exitCode === EXIT.USAGE ? EXIT.USAGE : EXIT.OK;
  try {
    return await result;
  } catch (e) {
    if (e instanceof UserError) {
      process.stderr.write(`error: ${e.message}\n${e.hint ? `  what to do: ${e.hint}\n` : ''}`);
      return e.exitCode;
    }
    log.error({ err: e instanceof Error ? { message: e.message, stack: e.stack } : describeError(e) }, 'unexpected error');
    return EXIT.INTERNAL;
  }
}
