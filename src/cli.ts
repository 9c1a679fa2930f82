/**
 * The `bluegreen` command line. Each subcommand loads the spec, opens what it needs, and maps errors
 * to exit codes (errors.ts): a UserError prints what is wrong and what to do, without a stack trace.
 */
import { processId } from './util';
import yargs, { type Argv } from 'yargs';
import { openBackend } from './backends';
import { loadSpec, type Spec } from './config/spec';
import { MultiError, ZK_CODES, ZkSession, zkCode } from './coordination/zk';
import { EXIT, UserError, describeError } from './errors';
import { log } from './log';
import { Planner, type CustomerPlan } from './planner/planner';
import { assertNestingCarried } from './planner/nesting';
import { Worker } from './worker/worker';
import { Verifier, type VerifyReport } from './verifier/verifier';
import { Cutover, type ReadSide } from './cutover/cutover';
import { collectStatus, neverPlanned, releaseSlice, renderStatus } from './status/status';
import { assertTargetIsNotSource } from './backends/identity';
import { CorruptNodeError } from './coordination/nodes';
import { describeBounds, describeCustomers } from './coordination/workNode';
import { customerFromNodeName } from './coordination/layout';
import { MigrationStore } from './coordination/migration';
import { cancelMigration, completeMigration } from './ops/lifecycle';
import { OpsServer } from './ops/server';
import { diagnostics } from './ops/diagnostics';
import { observeFleet } from './metrics';
import type { Backend } from './backends/types';
import { transformTest } from './transform/testRun';
import { derivedTargetMapping, targetMapping, type TargetMapping } from './prepare/targetPrep';
import { formatTranslation } from './backends/solr/schemaMapping';

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

/**
 * A number flag with its range. yargs' own `type: 'number'` turns "abc" into NaN and lets it through
 * (`plan --concurrency abc` once planned nothing and exited 0), so the raw value is checked here.
 */
export function numberFlag(name: string, min: number, max: number, opts: { integer?: boolean; label?: (raw: unknown) => string } = {}) {
  return (raw: unknown): number => {
    const origin = opts.label?.(raw) ?? `--${name}`;
    const range = `${opts.integer === false ? 'a number' : 'a whole number'} from ${min} to ${max}`;
    if (Array.isArray(raw)) throw new UserError(`--${name} is given ${raw.length} times (${raw.map(String).join(', ')}).`, `Give it once: ${range}.`);
    const text = typeof raw === 'string' ? raw.trim() : raw;
    const value = typeof text === 'number' ? text : typeof text === 'string' && /^[+-]?(\d+(\.\d*)?|\.\d+)$/.test(text) ? Number(text) : NaN;
    if (!Number.isFinite(value) || (opts.integer !== false && !Number.isInteger(value)) || value < min || value > max) {
      throw new UserError(`${origin} is ${typeof raw === 'string' ? JSON.stringify(raw) : String(raw)}: allowed ${range}.`, `Give ${origin} ${range}.`);
    }
    return value;
  };
}

/** A number option: no yargs type (it would make "abc" NaN), the value checked by numberFlag. */
function numberOption(describe: string, defaultValue: number | string, check: (raw: unknown) => number, defaultDescription?: string) {
  return { requiresArg: true, default: defaultValue, describe, coerce: check, ...(defaultDescription ? { defaultDescription } : {}) } as const;
}

/** Port for /metrics, /healthz, /readyz: --http-port, else BLUEGREEN_HTTP_PORT, else `fallback`; 0 = none. */
function httpPortOption<T>(y: Argv<T>, fallback = 9464) {
  const env = process.env.BLUEGREEN_HTTP_PORT;
  const fromEnv = env !== undefined && env !== '';
  // The default is checked as well: a BLUEGREEN_HTTP_PORT of "abc" is refused, naming the variable.
  const check = numberFlag('http-port', 0, 65535, { label: (raw) => (fromEnv && raw === env ? 'BLUEGREEN_HTTP_PORT (or --http-port)' : '--http-port') });
  return y.option('http-port', numberOption('Serve /metrics, /healthz, /readyz here (0: off; 0-65535)', fromEnv ? env : fallback, check, `BLUEGREEN_HTTP_PORT, else ${fallback}`));
}

/** Starts the ops server and the fleet gauges for a long-running command. */
async function serveOps(s: Spec, zk: ZkSession, source: Backend, target: Backend, port: number): Promise<OpsServer | null> {
  // Counting slices reads the bucket summaries and the queue: at most once per 30 s, never two at once.
  let cached: { at: number; counts: Record<string, number> } | null = null;
  let inFlight: Promise<Record<string, number>> | null = null;
  observeFleet(s.migration, async () => {
    if (cached && Date.now() - cached.at < 30_000) return cached.counts;
    inFlight ??= collectStatus(s, zk, { customers: false }).then((st) => {
      const t = st.totals.slices;
      cached = { at: Date.now(), counts: { todo: t.todo, in_progress: t.inProgress, done: t.done, failed: t.failed } };
      return cached.counts;
    }).finally(() => (inFlight = null));
    return inFlight;
  }, () => zk.isConnected && !zk.suspect());
  if (!port) return null;
  const server = new OpsServer(() => zk, source, target);
  try {
    await server.listen(port);
  } catch (e) {
    // Copying matters more than the metrics endpoint (several local workers share one default port);
    // on Kubernetes each pod has its own, and a missing /readyz shows as an unready pod.
    log.warn({ port, err: describeError(e) }, 'cannot serve /metrics, /healthz, /readyz: pick a free --http-port (or 0 for none); going on without them');
    await server.close();
    return null;
  }
  return server;
}

function spec(argv: Common): Spec {
  const s = loadSpec(argv.spec, { zk: argv.zk, migration: argv.migration });
  log.setBindings({ migration: s.migration });
  return s;
}

async function connect(s: Spec): Promise<ZkSession> {
  return ZkSession.connect({ connect: s.zookeeper.connect, sessionTimeout: s.zookeeper.sessionTimeout, connectTimeout: s.zookeeper.connectTimeout, auth: s.zookeeper.auth });
}

/** Rows a plan table shows; beyond that the biggest customers, and a line for the rest (--json lists all). */
const PLAN_ROWS = 40;

export function formatPlanTable(rows: CustomerPlan[]): string {
  const head = ['customer', 'slices', 'docs', 'min', 'median', 'max', 'shares a slice with', 'outcome'];
  const shown = rows.length <= PLAN_ROWS ? rows : [...rows].sort((a, b) => b.docs - a.docs).slice(0, PLAN_ROWS);
  const body = shown.map((r) => [r.customer ?? '(no customer)', r.slices, r.docs, r.min, r.median, r.max, r.packedWith ? `${r.packedWith} others` : '', r.outcome].map(String));
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 || i >= 6 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  const total = rows.reduce((a, r) => ({ docs: a.docs + r.docs }), { docs: 0 });
  const packed = rows.filter((r) => r.packedWith > 0).length;
  const more = rows.length > shown.length ? [`… and ${rows.length - shown.length} smaller customers (the ${shown.length} biggest are shown; --json lists all)`] : [];
  return [line(head), ...body.map(line), ...more,
    `${rows.length} customers (${packed} packed with others into shared slices), ${total.docs} documents`].join('\n');
}

/** The target mapping of a Solr → Elasticsearch / OpenSearch plan, as `plan --dry-run` prints it. */
function formatTargetMapping(s: Spec, m: TargetMapping): string {
  const used = s.target.prepare
    ? 'target.prepare creates the target index with it when the index is missing'
    : 'target.prepare is not set: bluegreen creates no index, create it yourself (this mapping is a start)';
  const text = formatTranslation({ ...m, used });
  return m.problems.length ? `${text}\nthis mapping cannot be migrated into:\n  - ${m.problems.join('\n  - ')}` : text;
}

async function planCommand(argv: Common & { dryRun: boolean; json: boolean; concurrency: number }): Promise<number> {
  const s = spec(argv);
  const source = openBackend(s.source, s);
  await source.check();
  if (argv.dryRun) {
    const rows = await new Planner(s, source, null).dryRun();
    // Solr → Elasticsearch / OpenSearch: the target mapping translated from the Solr schema, beside the table.
    const mapping = argv.json ? null : await targetMapping(s, source);
    process.stdout.write(argv.json ? `${JSON.stringify(rows, null, 2)}\n`
      : `${formatPlanTable(rows)}\n${mapping ? `${formatTargetMapping(s, mapping)}\n` : ''}(dry run: nothing written)\n`);
    return EXIT.OK;
  }
  const target = openBackend(s.target, s);
  await target.check();
  await target.checkWritable?.();
  // Before anything is written: the target is not the source, whatever the URLs look like, and the
  // pair can carry the source's nested documents.
  await assertTargetIsNotSource(s);
  await assertNestingCarried(source, target);
  // Solr → Elasticsearch / OpenSearch: a translated mapping bluegreen could not migrate into stops here, before ZooKeeper.
  await derivedTargetMapping(s, target);
  const zk = await connect(s);
  try {
    // A migration planned before: every node it has decodes, or nothing is written.
    const store = new MigrationStore(zk, s);
    if (await store.readSpecNode()) await store.validateAll();
    const rows = await new Planner(s, source, zk).run(argv.concurrency).catch((e) => {
      throw e instanceof CorruptNodeError ? e.withChanges('Planning stopped there; customers planned before it are complete (see `bluegreen status`); the source was not touched.') : e;
    });
    const plan = await store.readPlan();
    process.stdout.write(argv.json ? `${JSON.stringify(rows, null, 2)}\n`
      : `${formatPlanTable(rows)}\n${plan ? `plan: ${plan.slices} slices (median ${plan.summary.median}, largest ${plan.summary.max} documents) in ${plan.buckets} bucket(s)\n` : ''}`);
    return EXIT.OK;
  } finally {
    zk.close();
  }
}

async function workCommand(argv: Common & { follow: boolean; httpPort: number }): Promise<number> {
  const s = spec(argv);
  // Every log line of a worker names its migration and itself, from the first one on.
  const id = processId();
  log.setBindings({ worker: id });
  // Raw pages only where they are written as they came: a copy without a transform between two
  // clusters of one family (Solr to Solr; Elasticsearch or OpenSearch to either). With a transform,
  // or across families, every document is parsed anyway, and a whole page at once costs less than
  // each document alone.
  const family = (kind: string) => (kind === 'solr' ? 'solr' : 'elasticsearch');
  const source = openBackend(s.source, s, { rawPages: s.copy.mode === 'copy' && !s.transform && family(s.source.kind) === family(s.target.kind) });
  const target = openBackend(s.target, s);
  await source.check();
  await target.check();
  await target.checkWritable?.();
  await assertTargetIsNotSource(s);
  const zk = await connect(s);
  const worker = new Worker(s, zk, source, target, { follow: argv.follow, id });
  const ops = await serveOps(s, zk, source, target, argv.httpPort).catch((e) => {
    zk.close();
    throw e;
  });
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
    await ops?.close();
    zk.close();
  }
}

async function transformTestCommand(argv: Common & { id?: string[]; limit: number; sample?: number; customer?: string[]; requireIdempotent?: boolean; json: boolean }): Promise<number> {
  if (argv.id?.length && argv.sample !== undefined) throw new UserError('--id and --sample both say which documents to test.', 'Give one of them: --id <id> (repeatable) for those documents, or --sample N for N documents of every customer.');
  if (argv.customer?.length && argv.sample === undefined) throw new UserError('--customer chooses the customers of --sample.', 'Add --sample N (documents per customer), or leave --customer out.');
  const s = spec(argv);
  const source = openBackend(s.source, s);
  try {
    await source.check();
    const r = await transformTest(s, source, { ids: argv.id, limit: argv.limit, sample: argv.sample, customers: argv.customer });
    process.stdout.write(argv.json ? `${JSON.stringify(r, null, 2)}\n` : `${r.lines.join('\n')}\n`);
    // In place the transform must be idempotent (a document re-read after a live write goes through it
    // again); a copy applies it to the source only, so there it fails the test when asked to.
    const required = s.copy.mode === 'in-place' || argv.requireIdempotent === true;
    if (r.notIdempotent.length && required) {
      process.stderr.write(`transform ${s.transform?.module}: not idempotent on ${r.notIdempotent.length} document(s): ${r.notIdempotent.slice(0, 20).map((n) => n.id).join(', ')} (transform(transform(d)) differs from transform(d); the diffs are above). ${s.copy.mode === 'in-place' ? 'copy.mode in-place needs transform(transform(d)) == transform(d)' : '--require-idempotent was given'}: fix map so that its output is a fixed point.\n`);
      return EXIT.DIFFERENCES;
    }
    return EXIT.OK;
  } finally {
    await source.close();
  }
}

export function formatVerifyReport(r: VerifyReport): string {
  const head = ['customer', 'slice', 'bounds', 'source', 'target', 'missing', 'extra', 'different', 'in flight', 'repaired'];
  const rows = r.results.filter((x) => !x.clean || x.repaired).map((x) => [
    describeCustomers(x.customers), x.index, describeBounds(x.bounds), x.sourceCount, x.targetCount, x.missingCount, x.extraCount, x.differentCount,
    x.resolvedInFlight, x.repaired ? `+${x.repaired.created} ~${x.repaired.replaced} -${x.repaired.deleted}${x.repaired.conflicts ? ` (${x.repaired.conflicts} left: live writes)` : ''}` : '',
  ].map(String));
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((x) => x[i].length)));
  const line = (c: string[]) => c.map((x, i) => (i < 3 ? x.padEnd(w[i]) : x.padStart(w[i]))).join('  ');
  const t = r.run.totals;
  const out = [`verification ${r.run.id}: ${r.run.status.toUpperCase()} — ${t?.clean}/${t?.slices} slices clean; missing ${t?.missing}, extra ${t?.extra}, different ${t?.different}; ${t?.unstable} left to live traffic`];
  const rec = r.run.recorded;
  if (rec?.checked) {
    out.push(`ids recorded by the dual writer: ${rec.checked} checked; ${rec.equal} equal, ${rec.repaired} repaired (records removed); ${rec.different} still different${rec.different ? ` (run with --repair): ${rec.ids.join(' ')}` : ''}`);
  }
  if (rows.length) out.push('', line(head), ...rows.map(line));
  if (r.run.uncovered?.length) {
    out.push('', `OUTSIDE EVERY SLICE: ${r.run.uncovered.length} customer(s) without a plan whose documents differ between the clusters (run \`bluegreen plan\` to plan them; remove what the target should not hold):`);
    for (const u of r.run.uncovered.slice(0, 20)) out.push(`  ${u.customer ?? '(no customer)'}: source ${u.source}, target ${u.target}`);
  }
  for (const x of r.results.filter((y) => !y.clean)) {
    const ids = [['missing', x.missing], ['extra', x.extra], ['different', x.different]].filter(([, l]) => (l as string[]).length);
    for (const [k, l] of ids) out.push(`  slice ${x.index} ${k}: ${(l as string[]).join(' ')}`);
    // A packed slice holds many customers: whose documents differ.
    if (x.customers.length > 1) {
      for (const [cn, d] of Object.entries(x.byCustomer ?? {})) out.push(`    customer ${customerFromNodeName(cn) ?? '(no customer)'}: missing ${d.missing}, extra ${d.extra}, different ${d.different}: ${d.ids.join(' ')}`);
    }
  }
  return out.join('\n');
}

async function verifyCommand(argv: Common & { repair: boolean; new: boolean; onlyFailed: boolean; json: boolean; concurrency: number; httpPort: number }): Promise<number> {
  const s = spec(argv);
  const source = openBackend(s.source, s);
  const target = openBackend(s.target, s);
  await source.check();
  await target.check();
  if (argv.repair) await target.checkWritable?.();
  await assertTargetIsNotSource(s);
  const zk = await connect(s);
  let ops: OpsServer | null = null;
  try {
    await new MigrationStore(zk, s).validateAll();
    ops = await serveOps(s, zk, source, target, argv.httpPort);
    const report = await new Verifier(s, zk, source, target).run({ repair: argv.repair, newRun: argv.new, onlyFailed: argv.onlyFailed, concurrency: argv.concurrency }).catch((e) => {
      throw e instanceof CorruptNodeError ? e.withChanges(`The verification stopped there; it may have recorded results for the slices it checked before (under ${new MigrationStore(zk, s).layout.verify})${argv.repair ? ' and repaired documents in the target' : ''}; the source was not touched.`) : e;
    });
    process.stdout.write(argv.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatVerifyReport(report)}\n`);
    return report.run.status === 'passed' ? EXIT.OK : EXIT.DIFFERENCES;
  } finally {
    await ops?.close();
    zk.close();
  }
}

async function cutoverCommand(argv: Common & { to: ReadSide; customer?: string; force?: string; json: boolean }): Promise<number> {
  const s = spec(argv);
  const zk = await connect(s);
  try {
    await new MigrationStore(zk, s).validateAll();
    const state = await new Cutover(s, zk).run({ to: argv.to, customer: argv.customer, force: argv.force });
    const last = state.history[state.history.length - 1];
    process.stdout.write(argv.json ? `${JSON.stringify(state, null, 2)}\n`
      : `reads ${argv.customer !== undefined ? `for ${argv.customer} ` : ''}now go to ${argv.to} (verification ${last.verification ?? 'none'}${last.forced ? `, FORCED: ${last.forced}` : ''})\n`);
    return EXIT.OK;
  } finally {
    zk.close();
  }
}

async function statusCommand(argv: Common & { json: boolean; watch: boolean; interval: number; top?: number; all: boolean }): Promise<number> {
  const s = spec(argv);
  const zk = await connect(s);
  // A table a person reads stays short at 100,000 tenants: the customers with most work left; JSON lists all.
  const top = argv.all ? undefined : argv.top ?? (argv.json ? undefined : 40);
  try {
    for (;;) {
      const st = await collectStatus(s, zk, { top });
      if (!st.planned && !argv.watch) throw neverPlanned(s);
      if (argv.json) process.stdout.write(`${JSON.stringify(st, null, 2)}\n`);
      else process.stdout.write(`${argv.watch ? '\x1b[2J\x1b[H' : ''}${renderStatus(st)}\n`);
      if (!argv.watch) return st.stuck.length || st.failed.length ? EXIT.SLICES_FAILED : EXIT.OK;
      await new Promise((r) => setTimeout(r, argv.interval * 1000));
    }
  } finally {
    zk.close();
  }
}

async function diagnosticsCommand(argv: Common): Promise<number> {
  const s = spec(argv);
  const source = openBackend(s.source, s);
  const target = openBackend(s.target, s);
  const describe = async (b: Backend) => {
    try {
      await b.version();
    } catch (e) {
      return `unreachable: ${describeError(e)}`;
    }
    return b.describe();
  };
  const backends = { source: await describe(source), target: await describe(target) };
  const zk = await connect(s);
  try {
    process.stdout.write(`${JSON.stringify(await diagnostics(s, zk, backends), (_k, v) => (typeof v === 'bigint' ? v.toString() : v), 2)}\n`);
    return EXIT.OK;
  } finally {
    zk.close();
  }
}

async function completeCommand(argv: Common & { json: boolean }): Promise<number> {
  const s = spec(argv);
  const zk = await connect(s);
  try {
    await new MigrationStore(zk, s).validateAll();
    const r = await completeMigration(s, zk, processId());
    const t = r.totals;
    process.stdout.write(argv.json ? `${JSON.stringify(r, null, 2)}\n`
      : `migration ${s.migration} completed: ${t.read} documents read over ${t.slices} slices (copied ${t.written}, skipped ${t.skipped}, rejected ${t.rejected}); `
        + `pruned ${r.pruned.slices} work nodes and ${r.pruned.verifyRuns} verification runs; the read flag, plans and history are kept\n`);
    return EXIT.OK;
  } finally {
    zk.close();
  }
}

async function cancelCommand(argv: Common & { reason: string; json: boolean }): Promise<number> {
  if (!argv.reason.trim()) throw new UserError('cancel needs a reason (--reason "<why>"): it is recorded in the lifecycle history.', 'Say why, e.g. --reason "wrong target mapping".');
  const s = spec(argv);
  const target = openBackend(s.target, s);
  await target.check();
  const zk = await connect(s);
  try {
    await new MigrationStore(zk, s).validateAll();
    const l = await cancelMigration(s, zk, target, processId(), argv.reason);
    process.stdout.write(argv.json ? `${JSON.stringify(l, null, 2)}\n`
      : `migration ${s.migration} cancelled (${l.cancelled?.reason}): workers stop at their next look, the target's settings are restored, the legacy cluster was not touched\n`);
    return EXIT.OK;
  } finally {
    zk.close();
  }
}

async function releaseCommand(argv: Common & { slice: string; retry: boolean }): Promise<number> {
  const s = spec(argv);
  const zk = await connect(s);
  try {
    await new MigrationStore(zk, s).requireSpec();
    process.stdout.write(`${await releaseSlice(s, zk, argv.slice, { retry: argv.retry })}\n`);
    return EXIT.OK;
  } finally {
    zk.close();
  }
}

export async function main(args: string[]): Promise<number> {
  let result: Promise<number> | undefined;
  const run = (fn: () => Promise<number>) => {
    result = fn();
  };
  const parser = yargs(args)
    .scriptName('bluegreen')
    .usage('$0 <command> [options]\n\nMigrate Solr / Elasticsearch data from a legacy cluster to a new one with zero read downtime.')
    .command('plan', 'Count each customer\'s data and cut it into slices (work nodes in ZooKeeper)', (y) =>
      common(y)
        .option('dry-run', { type: 'boolean', default: false, describe: 'Print the plan; write nothing' })
        .option('json', { type: 'boolean', default: false, describe: 'Print JSON instead of a table' })
        .option('concurrency', numberOption('Customers planned at once by this process (1-64)', 4, numberFlag('concurrency', 1, 64))),
    (argv) => run(() => planCommand(argv as any)))
    .command('work', 'Claim slices and copy them legacy → new, never overwriting; resumable', (y) =>
      httpPortOption(common(y).option('follow', { type: 'boolean', default: false, describe: 'Keep waiting for new work instead of exiting' })),
    (argv) => run(() => workCommand(argv as any)))
    .command('status', 'Progress per customer, rate, ETA, stuck slices, live workers, verification, read flag', (y) =>
      common(y)
        .option('json', { type: 'boolean', default: false, describe: 'Print JSON' })
        .option('watch', { type: 'boolean', default: false, describe: 'Refresh until interrupted' })
        .option('interval', numberOption('Seconds between refreshes with --watch (0.5-3600)', 2, numberFlag('interval', 0.5, 3600, { integer: false })))
        .option('top', { requiresArg: true, describe: 'List only the N customers with most work left (1-100000; default 40, JSON: all)', coerce: numberFlag('top', 1, 100_000) })
        .option('all', { type: 'boolean', default: false, describe: 'List every customer' }),
    (argv) => run(() => statusCommand(argv as any)))
    .command('release', 'Take a (stuck) slice away from its worker; it resumes from its checkpoint elsewhere', (y) =>
      common(y)
        .option('slice', { type: 'string', demandOption: true, describe: 'the slice number, as status shows it' })
        .option('retry', { type: 'boolean', default: false, describe: 'Put a failed slice back in the queue (failures reset)' }),
    (argv) => run(() => releaseCommand(argv as any)))
    .command('verify-integrity', 'Compare legacy and new slice by slice; report (and --repair) persistent differences', (y) =>
      httpPortOption(common(y), 0)
        .option('repair', { type: 'boolean', default: false, describe: 'Fix persistent differences (never touching newer live writes)' })
        .option('new', { type: 'boolean', default: false, describe: 'Start a new run instead of joining an unfinished one' })
        .option('only-failed', { type: 'boolean', default: false, describe: 'New run over the slices the last run found unclean' })
        .option('concurrency', numberOption('Slices verified at once by this process (1-64)', 2, numberFlag('concurrency', 1, 64)))
        .option('json', { type: 'boolean', default: false, describe: 'Print JSON' }),
    (argv) => run(() => verifyCommand(argv as any)))
    .command('diagnostics', 'Dump the whole state of one migration as one JSON report (for a support ticket)', (y) => common(y),
      (argv) => run(() => diagnosticsCommand(argv as any)))
    .command('cutover', 'Flip the read flag (and read alias) to the new cluster, or back to legacy', (y) =>
      common(y)
        .option('to', { choices: ['new', 'legacy'] as const, demandOption: true, describe: 'Where reads go' })
        .option('customer', { type: 'string', describe: 'Only this customer (the read router answers per customer)' })
        .option('force', { type: 'string', describe: 'Cut over despite failed checks; the reason is recorded' })
        .option('json', { type: 'boolean', default: false, describe: 'Print the new state as JSON' }),
    (argv) => run(() => cutoverCommand(argv as any)))
    .command('complete', 'After a cutover has held: record the migration completed, prune its coordination state', (y) =>
      common(y).option('json', { type: 'boolean', default: false, describe: 'Print the result as JSON' }),
    (argv) => run(() => completeCommand(argv as any)))
    .command('cancel', 'Before any cutover: stop the fleet, restore the target\'s settings, keep the record', (y) =>
      common(y)
        .option('reason', { type: 'string', demandOption: true, requiresArg: true, describe: 'Why (recorded in the lifecycle history)' })
        .option('json', { type: 'boolean', default: false, describe: 'Print the lifecycle as JSON' }),
    (argv) => run(() => cancelCommand(argv as any)))
    .command('transform', 'The spec\'s transform: `transform test` runs it on real documents and prints before → after, writing nothing', (y) =>
      y.command('test', 'Run the transform on a few source documents (source.query applies) and print the changes; writes nothing', (t) =>
        common(t)
          .option('id', { type: 'string', array: true, requiresArg: true, describe: 'These source documents (repeatable)' })
          .option('limit', numberOption('Documents read when neither --id nor --sample is given, customer after customer (1-1000)', 5, numberFlag('limit', 1, 1000)))
          .option('sample', { requiresArg: true, describe: 'Documents read of every customer (1-1000): N per customer', coerce: numberFlag('sample', 1, 1000) })
          .option('customer', { type: 'string', array: true, requiresArg: true, describe: 'With --sample: only this customer (repeatable)' })
          .option('require-idempotent', { type: 'boolean', default: false, describe: 'Exit 5 when the transform is not idempotent (always so with copy.mode in-place)' })
          .option('json', { type: 'boolean', default: false, describe: 'Print JSON' }),
      (argv) => run(() => transformTestCommand(argv as any)))
        .demandCommand(1, 'Name a transform command: test.'))
    .demandCommand(1, 'Name a command: plan, work, status, release, verify-integrity, cutover, complete, cancel or transform.')
    .epilogue('Exit codes: 0 done. 1 internal error. 2 bad input (spec, flags, unreachable cluster, missing collection, ZooKeeper down, corrupt work node; nothing was changed). 3 work: nothing left to take, other workers hold the rest. 4 work: finished but some slices failed; status: stuck or failed slices. 5 verify-integrity: persistent differences; transform test: the transform is not idempotent (in place, or --require-idempotent). 143 work: stopped by SIGTERM after checkpointing. README: exit codes, spec, guarantees.')
    .wrap(Math.min(110, process.stdout.columns || 100))
    .strict()
    .help()
    .fail((msg, err) => {
      // Throwing stops yargs here: without it, it would still run the command with the bad argument.
      if (err instanceof UserError) throw err;
      // yargs' own validation (requiresArg, choices) and a flag refused by its check (numberFlag), which yargs wraps.
      if (err?.name === 'YError') throw new UserError(err.message, 'See `bluegreen --help` or `bluegreen <command> --help`; nothing was changed.');
      if (err) throw err;
      throw new UserError(msg, 'See `bluegreen --help` or `bluegreen <command> --help`.');
    });
  try {
    await parser.parseAsync();
  } catch (e) {
    if (e instanceof UserError) {
      process.stderr.write(`error: ${e.message}\n  what to do: ${e.hint}\n`);
      return e.exitCode;
    }
    throw e;
  }
  if (!result) return EXIT.OK; // --help, --version
  try {
    return await result;
  } catch (caught) {
    let e = caught;
    if (zkCode(e) === ZK_CODES.NO_AUTH || (e instanceof MultiError && e.code === ZK_CODES.NO_AUTH)) {
      e = new UserError(`ZooKeeper refused the change (NO_AUTH${e instanceof MultiError ? ` on ${e.op.op} ${e.op.path}` : ''}): wrong or missing BLUEGREEN_ZK_AUTH (or zookeeper.auth): the migration's nodes belong to another identity (digest ACL). Nothing was written by the refused request.`,
        'Run with the migration\'s ZooKeeper credentials: BLUEGREEN_ZK_AUTH=user:password (or zookeeper.auth in the spec) as used by `bluegreen plan`.');
    }
    if (e instanceof UserError) {
      process.stderr.write(`error: ${e.message}\n${e.hint ? `  what to do: ${e.hint}\n` : ''}`);
      return e.exitCode;
    }
    log.error({ err: e instanceof Error ? { message: e.message, stack: e.stack } : describeError(e) }, 'unexpected error');
    return EXIT.INTERNAL;
  }
}
