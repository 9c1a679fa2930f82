/**
 * The demo (README quick start, `npm run demo [-- --kind elasticsearch] [--quick | --docs N]`): the
 * operator's whole day on the local stack, in about three minutes.
 *
 *   1. a live application starts: writers insert, update and delete through DualWriter (both
 *      clusters), readers query through ReadRouter; both run until the end, every read counted;
 *   2. `bluegreen plan`;
 *   3. the worker Deployment scaled from 1 to 4 mid-copy (new `bluegreen work` processes join, one
 *      is SIGTERMed and replaced), `bluegreen status` shown as it moves;
 *   4. `bluegreen verify-integrity` under live traffic (repaired as an operator would if it must);
 *   5. `bluegreen cutover --to new`, `--to legacy`, `--to new`: when the readers first saw each flip;
 *   6. the report: documents per customer on both sides, reads per side, failed reads, live writes,
 *      the verification, the read flag's history.
 *
 * Its own checks (failed reads 0, clusters equal, verification passed, every flip seen by the
 * readers, workers exited as expected) decide its exit code: 0 only when all hold. Ports come from the
 * BG_* variables of the local stack (scripts/lib/common.sh), as scripts/stack uses them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import yaml from 'js-yaml';
import yargs from 'yargs';
import { openBackend } from '../backends';
import { loadSpec, type Spec } from '../config/spec';
import { DualWriteRecords } from '../coordination/dualWriteRecords';
import { Layout } from '../coordination/layout';
import { MigrationStore } from '../coordination/migration';
import type { WorkNode } from '../coordination/workNode';
import { ZkSession } from '../coordination/zk';
import type { CutoverState, ReadSide } from '../cutover/cutover';
import { describeError } from '../errors';
import { demoClusters, stackUrls, type DemoKind } from './clusters';
import { DEMO_CUSTOMERS, generateDocs, type CustomerProfile } from './dataset';
import { LiveApp } from './liveApp';

const repo = resolve(__dirname, '../../..');
const bin = join(repo, 'bin/bluegreen');
const say = (s = '') => process.stdout.write(`${s}\n`);
const indent = (s: string, by = '   ') => s.trimEnd().split('\n').map((l) => `${by}${l}`).join('\n');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const secs = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

interface Options {
  kind: DemoKind;
  docs: number;
  quick: boolean;
  name: string;
  cleanup: boolean;
}

function parseArgs(argv: string[]): Options {
  const a = yargs(argv)
    .scriptName('npm run demo --')
    .usage('$0 [--kind solr|elasticsearch] [--quick] [--docs N]\n\nThe operator\'s day on the local stack: live traffic, plan, scale, verify, cut over.')
    .option('kind', { choices: ['solr', 'elasticsearch'] as const, default: 'solr' as const, describe: 'Solr 8 → 9, or Elasticsearch 7 → 8' })
    .option('quick', { type: 'boolean', default: false, describe: 'A small day (2,000 documents, a copy of ~20 s): what the test suite runs' })
    .option('docs', { type: 'string', requiresArg: true, describe: 'Documents in the legacy cluster, 200-2000000 (default 17,540; --quick 2,000)' })
    .option('name', { type: 'string', default: 'bluegreen_demo', describe: 'Collection / index name and ZooKeeper root (/<name>) the demo owns and re-creates' })
    .option('cleanup', { type: 'boolean', default: false, describe: 'Delete the collections and the ZooKeeper root at the end (default: keep them to run the steps by hand)' })
    .strict()
    .version(false)
    .help()
    .fail((msg, err) => refuse(msg ?? err?.message ?? 'bad flags', 'See `npm run demo -- --help`.'))
    .parseSync();
  const docs = a.docs === undefined ? (a.quick ? 2000 : 17_540) : /^\d+$/.test(a.docs) ? Number(a.docs) : NaN;
  if (!Number.isInteger(docs) || docs < 200 || docs > 2_000_000) refuse(`--docs is ${JSON.stringify(a.docs)}.`, 'Give --docs a whole number from 200 to 2000000.');
  if (!/^[a-z][a-z0-9_]{0,60}$/.test(a.name)) {
    refuse(`--name is ${JSON.stringify(a.name)}: it names a collection, an index and a ZooKeeper root.`, 'Use lower-case letters, digits and _, starting with a letter.');
  }
  return { kind: a.kind, docs, quick: a.quick, name: a.name, cleanup: a.cleanup };
}

/** Bad input: what is wrong and what to do, exit 2; nothing has been touched yet. */
function refuse(what: string, todo: string): never {
  process.stderr.write(`error: ${what}\n  what to do: ${todo}\n`);
  process.exit(2);
}

/** The demo's customers, scaled to `docs` documents in all (shapes kept: volume and retention differ). */
function profiles(docs: number): CustomerProfile[] {
  const total = DEMO_CUSTOMERS.reduce((s, p) => s + p.docs, 0);
  return DEMO_CUSTOMERS.map((p) => ({
    ...p, docs: Math.max(10, Math.round((p.docs * docs) / total)),
    ...(p.noTimestamp ? { noTimestamp: Math.max(2, Math.round((p.noTimestamp * docs) / total)) } : {}),
  }));
}

function table(head: string[], rows: Array<Array<string | number>>): string {
  const cells = rows.map((r) => r.map(String));
  const w = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]) => c.map((x, i) => (i === 0 ? x.padEnd(w[i]) : x.padStart(w[i]))).join('  ');
  return [line(head), ...cells.map(line)].join('\n');
}

interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** One `bluegreen` command, as the operator types it; stdout returned (and its logs kept in `logFile`). */
function startCli(args: string[], logFile: string): { child: ChildProcess; done: Promise<CliRun> } {
  const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, BLUEGREEN_LOG_FORMAT: 'json' } });
  const log = createWriteStream(logFile, { flags: 'a' });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => {
    stderr += d;
    log.write(d);
  });
  const done = new Promise<CliRun>((res) => child.on('close', (code, signal) => {
    log.end();
    res({ code, signal, stdout, stderr });
  }));
  return { child, done };
}

async function sliceNodes(zk: ZkSession, layout: Layout): Promise<WorkNode[]> {
  const out: WorkNode[] = [];
  for (const bucket of await zk.childrenOrEmpty(layout.slices)) {
    for (const name of await zk.childrenOrEmpty(layout.sliceBucket(bucket))) {
      const got = await zk.getDataOrNull(layout.slice({ bucket, name }));
      if (got) out.push(JSON.parse(got.data.toString()));
    }
  }
  return out;
}

interface Check {
  what: string;
  ok: boolean;
  detail: string;
}

interface Worker {
  n: number;
  child: ChildProcess;
  done: Promise<CliRun>;
  result?: CliRun;
  terminated?: boolean;
}

async function main(): Promise<number> {
  const o = parseArgs(process.argv.slice(2));
  const clusters = demoClusters(o.kind);
  const collection = o.name;
  const root = `/${o.name}`;
  const migration = `${o.kind}-day`;
  const dir = join(process.env.BLUEGREEN_STACK_DIR ?? join(repo, '.stack'), 'demo', `${o.name}-${o.kind}`);
  mkdirSync(dir, { recursive: true });
  const specFile = join(dir, 'spec.yaml');
  const logs = join(dir, 'logs');
  mkdirSync(logs, { recursive: true });
  const shown = (f: string) => (f.startsWith(repo) ? relative(repo, f) : f);
  const byHand = (args: string) => `bin/bluegreen ${args} --spec ${shown(specFile)}`;
  const checks: Check[] = [];
  const check = (what: string, ok: boolean, detail: string) => checks.push({ what, ok, detail });
  const workers: Worker[] = [];
  let app: LiveApp | null = null;

  // Ctrl-C: the workers this demo started go first (by their pids), then the application.
  const interrupted = () => {
    for (const w of workers) if (!w.result) w.child.kill('SIGTERM');
    process.stderr.write('\ninterrupted: workers stopped; the clusters and ZooKeeper are left as they are\n');
    process.exit(130);
  };
  process.once('SIGINT', interrupted);

  const versions = await clusters.versions();
  say(`bluegreen demo — the operator's day: ${clusters.label} ${versions.legacy} (legacy, ${clusters.urls.legacy}) → ${clusters.label} ${versions.new} (new, ${clusters.urls.new})`);
  say(`ZooKeeper ${stackUrls.zk}, root ${root}, migration "${migration}", ${clusters.kind === 'solr' ? 'collection' : 'index'} "${collection}"`);
  say(`spec: ${specFile}   logs: ${logs}\n`);

  const zk = await ZkSession.connect({ connect: stackUrls.zk, sessionTimeout: 10_000, connectTimeout: 15_000 });
  const layout = new Layout(root, migration);
  try {
    // ---- 0. The legacy cluster as it is in the morning.
    const shapes = profiles(o.docs);
    const docs = [...generateDocs(shapes, Date.now(), 42)];
    say(`0. The morning: legacy holds ${docs.length} documents; the new cluster has an empty ${clusters.kind === 'solr' ? 'collection' : 'index'} (fresh ones, and a fresh ${root} in ZooKeeper)`);
    await zk.removeRecursive(root);
    await clusters.create(collection);
    await clusters.loadLegacy(collection, docs);
    say(indent(table(['customer', 'documents', 'retention', 'no timestamp'], shapes.map((p) => [p.name ?? '(no customer)', p.docs, `${p.spanDays} days`, p.noTimestamp ?? 0]))));

    const targetDocsPerSlice = Math.max(50, Math.round(docs.length / 20));
    // The copy is throttled per worker (worker.docsPerSecond) so that scaling the fleet shows: one
    // worker alone would take about copySeconds / 0.36; the fleet as scaled takes about copySeconds.
    const copySeconds = o.quick ? 18 : 60;
    const docsPerSecond = Math.max(20, Math.round((0.36 * docs.length) / copySeconds));
    const spec = {
      migration,
      zookeeper: { connect: stackUrls.zk, root },
      source: { kind: clusters.kind, url: clusters.urls.legacy, collection },
      target: { kind: clusters.kind, url: clusters.urls.new, collection },
      fields: { customer: 'customer', timestamp: 'timestamp', uniqueKey: 'id' },
      slicing: { targetDocsPerSlice },
      batch: { docs: Math.min(100, Math.max(20, Math.round(targetDocsPerSlice / 4))), bytes: '1MB' },
      worker: { slicesInFlight: 1, docsPerSecond },
      verify: { gracePeriod: '1s', rechecks: 1 },
    };
    writeFileSync(specFile, `# Written by the demo (src/demo/run.ts); every step below can be run by hand with it.\n${yaml.dump(spec)}`);
    const loaded: Spec = loadSpec(specFile);

    // ---- 1. The application, live all day.
    const existing = new Map<string | null, string[]>();
    for (const d of docs) {
      const c = d.customer ?? null;
      if (!existing.has(c)) existing.set(c, []);
      existing.get(c)!.push(d.id);
    }
    app = await LiveApp.start(loaded, { writers: 2, readers: 4, pauseMs: o.quick ? 40 : 60, customers: shapes.map((p) => p.name), existing });
    const live = app;
    await waitUntil(() => live.liveWrites >= 10 && live.counts.reads.legacy + live.counts.reads.new >= 10, 30_000);
    say(`\n1. The application is live: 2 writers insert, update and delete through DualWriter (both clusters, the read side first),`);
    say(`   4 readers list customers' documents from the side ReadRouter names (reads now: ${app.readSide}). They run until the end.`);
    say(`   so far: ${app.liveWrites} live writes, ${app.counts.reads.legacy + app.counts.reads.new} reads`);

    // ---- 2. Plan.
    say(`\n2. bluegreen plan            (by hand: ${byHand('plan')})`);
    const plan = await startCli(['plan', '--spec', specFile], join(logs, 'plan.log')).done;
    say(indent(plan.stdout));
    if (plan.code !== 0) throw new Error(`plan exited ${plan.code}: ${plan.stderr.slice(-500)}`);

    // ---- 3. The worker Deployment, scaled as the copy goes.
    say(`\n3. The worker Deployment scaled mid-copy, as \`kubectl scale deployment/bluegreen-worker --replicas=N\` would`);
    say(`   (each replica: ${byHand('work')}; here each worker is throttled to ${docsPerSecond} docs/s so the scaling shows)`);
    const total = (await sliceNodes(zk, layout)).reduce((s, n) => s + n.estimate, 0);
    const startWorker = (why: string): Worker => {
      const n = workers.length + 1;
      const { child, done } = startCli(['work', '--spec', specFile, '--http-port', '0'], join(logs, `worker-${n}.log`));
      const w: Worker = { n, child, done };
      void done.then((r) => (w.result = r));
      workers.push(w);
      const alive = workers.filter((x) => !x.result && !x.terminated).length;
      say(`   ${stamp()}  --replicas=${alive}: worker ${n} started (pid ${child.pid})${why ? ` — ${why}` : ''}`);
      return w;
    };
    const started = Date.now();
    const stamp = () => `+${((Date.now() - started) / 1000).toFixed(0).padStart(3)} s`;
    const showStatus = async () => {
      const st = await startCli(['status', '--spec', specFile], join(logs, 'status.log')).done;
      say(`   ${stamp()}  bluegreen status:`);
      say(indent(st.stdout, '      | '));
    };
    startWorker('');
    const steps: Array<{ at: number; run: () => Promise<void> }> = [
      { at: 0.1, run: async () => void startWorker('') },
      { at: 0.2, run: async () => void startWorker('') },
      { at: 0.3, run: async () => {
        startWorker('');
        await showStatus();
      } },
      { at: 0.5, run: async () => {
        const victim = workers.find((w) => !w.result && !w.terminated);
        if (!victim) return;
        victim.terminated = true;
        say(`   ${stamp()}  a pod is evicted: SIGTERM to worker ${victim.n} (pid ${victim.child.pid}); it checkpoints its slice and exits`);
        victim.child.kill('SIGTERM');
        const r = await victim.done;
        say(`   ${stamp()}  worker ${victim.n} exited with ${r.code ?? r.signal} (143: stopped by SIGTERM after checkpointing)`);
        check('the SIGTERMed worker stopped after checkpointing', r.code === 143 || r.code === 0 || r.code === 3, `exit ${r.code ?? r.signal}`);
        startWorker('the Deployment replaces it; its slice resumes from the checkpoint');
        await showStatus();
      } },
    ];
    let lastLine = 0;
    let read = 0;
    for (;;) {
      const nodes = await sliceNodes(zk, layout);
      read = nodes.reduce((s, n) => s + n.counts.read, 0);
      const done = nodes.filter((n) => n.status === 'done').length;
      while (steps.length && read >= steps[0].at * total) await steps.shift()!.run();
      if (Date.now() - lastLine > 5000) {
        lastLine = Date.now();
        const alive = workers.filter((w) => !w.result && !w.terminated).length;
        say(`   ${stamp()}  slices ${done}/${nodes.length} done, ${read}/${total} documents read, ${alive} worker(s) running; live: ${live.liveWrites} writes, ${live.counts.reads.legacy + live.counts.reads.new} reads, ${live.counts.failedReads} failed`);
      }
      if (workers.every((w) => w.result)) break;
      await sleep(500);
    }
    const copyMs = Date.now() - started;
    await showStatus();
    const codes = workers.map((w) => w.result!.code);
    say(`   the copy took ${secs(copyMs)}; worker exit codes: ${workers.map((w) => `${w.n}:${w.result!.code ?? w.result!.signal}`).join(' ')} (0 finished the last slice, 3 nothing left to take, 143 SIGTERMed)`);
    check('the workers finished the copy', codes.includes(0) && workers.every((w) => [0, 3].includes(w.result!.code ?? -1) || (w.terminated && w.result!.code === 143)),
      `exit codes ${codes.join(', ')}`);
    for (const w of workers.filter((x) => ![0, 3, 143].includes(x.result!.code ?? -1))) say(indent(w.result!.stderr.slice(-1500), '   ! '));
    check('workers scaled 1 → 4, one replaced', steps.length === 0 && workers.length >= 5, `${workers.length} worker processes started`);

    // ---- 4. Verify, under live traffic.
    say(`\n4. bluegreen verify-integrity — under live traffic   (by hand: ${byHand('verify-integrity')})`);
    const recordedNow = await new DualWriteRecords(zk, new MigrationStore(zk, loaded)).count();
    say(recordedNow
      ? `   ${recordedNow} id(s) are recorded by the dual writer (a second write that failed after retries): verify checks those first, --repair finishes them`
      : '   no id is recorded by the dual writer (every second write landed)');
    let verify = await startCli(['verify-integrity', '--spec', specFile, '--concurrency', '4'], join(logs, 'verify.log')).done;
    say(indent(verify.stdout));
    let verification = verify.stdout.match(/verification (\S+): (\w+)/);
    if (verify.code === 5) {
      say(`   Differences${recordedNow ? ` (and ${recordedNow} recorded id(s))` : ''}.`);
      say('   An "extra" document is one the application deleted just after a worker had read it: the create-only copy brought it back');
      say('   on the new side (the copy never overwrites, so it cannot know). Verification finds them; the operator repairs:');
      say(`   bluegreen verify-integrity --repair   (by hand: ${byHand('verify-integrity --repair')})`);
      const repair = await startCli(['verify-integrity', '--spec', specFile, '--repair'], join(logs, 'verify.log')).done;
      say(indent(repair.stdout));
      say(`   and proves the repair: bluegreen verify-integrity --only-failed   (by hand: ${byHand('verify-integrity --only-failed')})`);
      verify = await startCli(['verify-integrity', '--spec', specFile, '--only-failed'], join(logs, 'verify.log')).done;
      say(indent(verify.stdout));
      verification = verify.stdout.match(/verification (\S+): (\w+)/);
    } else if (recordedNow > 0) {
      say(`   the ${recordedNow} recorded id(s) were found equal on both sides: their records are removed.`);
    }
    if (verify.code !== 0 && verify.code !== 5) say(indent(verify.stderr.slice(-1500), '   ! '));
    check('verify-integrity passed under live traffic', verify.code === 0, verification ? `run ${verification[1]}: ${verification[2]}` : `exit ${verify.code}`);

    // ---- 5. Cut over, roll back, cut over again.
    const flips: Array<{ to: ReadSide; first?: number; all?: number }> = [];
    for (const [i, to] of (['new', 'legacy', 'new'] as ReadSide[]).entries()) {
      const label = ['reads move to the new cluster', 'a rollback, as an operator would if the new cluster misbehaved', 'and forward again'][i];
      say(`\n5${'abc'[i]}. bluegreen cutover --to ${to} — ${label}   (by hand: ${byHand(`cutover --to ${to}`)})`);
      const r = await startCli(['cutover', '--spec', specFile, '--to', to], join(logs, 'cutover.log')).done;
      say(indent(r.stdout || r.stderr));
      if (r.code !== 0) {
        check(`cutover --to ${to}`, false, `exit ${r.code}`);
        break;
      }
      const node = await zk.getDataOrNull(layout.cutover);
      const state = JSON.parse(node!.data.toString()) as CutoverState;
      const at = state.history[state.history.length - 1].at;
      const seen = await app.readersOn(to, at, 15_000);
      if (seen) {
        say(`   the readers first read from ${to} ${secs(seen.first - at)} after the flag was written; all 4 readers within ${secs(seen.all - at)}`);
        flips.push({ to, first: seen.first - at, all: seen.all - at });
      } else {
        say(`   NOT SEEN: not every reader read from ${to} within 15 s of the flag`);
        flips.push({ to });
      }
      check(`readers followed cutover --to ${to}`, !!seen, seen ? `first ${secs(seen.first - at)}, all ${secs(seen.all - at)}` : 'not seen within 15 s');
      // The readers serve a while from this side before the next move (the last one: the evening on new).
      const before = app.counts.reads[to];
      const more = (o.quick ? 20 : 150) * (i === 2 ? 2 : 1);
      await waitUntil(() => live.counts.reads[to] >= before + more, 60_000);
    }

    // ---- 6. The report.
    say('\n6. End of the day: the writers stop, both clusters commit / refresh, and we count');
    const flagHistory = app.flagHistory;
    await app.stop();
    const c = app.counts;
    const sides = { legacy: openBackend(loaded.source, loaded), new: openBackend(loaded.target, loaded) };
    await Promise.all([sides.legacy.refresh(), sides.new.refresh()]);
    const rows: Array<Array<string | number>> = [];
    let equal = true;
    for (const p of shapes) {
      const [l, n] = await Promise.all([sides.legacy.count(p.name, { kind: 'all' }), sides.new.count(p.name, { kind: 'all' })]);
      equal &&= l === n;
      rows.push([p.name ?? '(no customer)', l, n, l === n ? 'equal' : 'DIFFERENT']);
    }
    await Promise.all([sides.legacy.close(), sides.new.close()]);
    say(indent(table(['customer', 'legacy', 'new', ''], rows)));
    say(`   reads served: legacy ${c.reads.legacy}, new ${c.reads.new}; failed reads: ${c.failedReads}`);
    say(`   live writes made: ${c.writes.index + c.writes.update + c.writes.delete} (${c.writes.index} inserts, ${c.writes.update} updates, ${c.writes.delete} deletes); failed writes: ${c.failedWrites}; ids recorded for repair: ${c.recorded}`);
    say(`   verification: ${verification ? `run ${verification[1]}, ${verification[2]}` : 'none passed'}`);
    say('   read flag history:');
    for (const h of flagHistory) say(`     ${new Date(h.at).toISOString()}  → ${h.to}  by ${h.by}${h.verification ? `  (verification ${h.verification})` : ''}${h.forced ? `  FORCED: ${h.forced}` : ''}`);
    for (const f of flips) say(`     readers on ${f.to}: ${f.first !== undefined ? `first after ${secs(f.first)}, all after ${secs(f.all!)}` : 'NOT SEEN'}`);
    if (app.errors.length) say(indent(app.errors.join('\n'), '   ! '));
    check('failed reads: 0', c.failedReads === 0, `${c.failedReads} failed of ${c.reads.legacy + c.reads.new + c.failedReads}`);
    check('documents per customer equal in both clusters', equal, rows.map((r) => `${r[0]} ${r[1]}/${r[2]}`).join(', '));
    check('readers served by both sides', c.reads.legacy > 0 && c.reads.new > 0, `legacy ${c.reads.legacy}, new ${c.reads.new}`);
    check('live writes made all day', c.writes.index > 0 && c.writes.update > 0 && c.writes.delete > 0 && c.failedWrites === 0, `${app.liveWrites} writes, ${c.failedWrites} failed`);

    say('\nChecks:');
    for (const k of checks) say(`   ${k.ok ? 'ok  ' : 'FAIL'}  ${k.what} (${k.detail})`);
    const ok = checks.every((k) => k.ok);

    say('\nEach step by hand (the stack is still up; scripts/stack status | down):');
    for (const s of ['plan', 'work', 'status', 'verify-integrity', 'cutover --to new', 'cutover --to legacy']) say(`   ${byHand(s)}`);
    if (o.cleanup) {
      await clusters.drop(collection);
      await zk.removeRecursive(root);
      say(`   (--cleanup: ${collection} and ${root} removed)`);
    }
    say(ok ? '\nThe day went as it should: zero failed reads, both clusters equal, reads on the new cluster.' : '\nSOME CHECKS FAILED: see above.');
    return ok ? 0 : 1;
  } finally {
    for (const w of workers) if (!w.result) w.child.kill('SIGTERM');
    await app?.stop().catch(() => undefined);
    zk.close();
  }
}

async function waitUntil(cond: () => boolean, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error('the live application made no progress (see the errors above)');
    await sleep(50);
  }
}

main().then((code) => {
  process.exitCode = code;
}, (e) => {
  process.stderr.write(`demo failed: ${describeError(e)}\n`);
  process.exitCode = 1;
});
