/**
 * Figures, not a test (issue 14, "Targets"): what coordination costs with many customers. The same
 * documents are copied twice by the real fleet (3 planners at once, then N workers), once spread over
 * a few customers and once over many (Zipf sizes: most tiny, a few huge), against a private ZooKeeper
 * so that `mntr` counts exactly our requests. Prints a table of figures and ratios, then one JSON line
 * with every figure (for the README).
 *
 * Only the CLI's own outputs (plan --json, status --json, exit codes) and a generic walk of the
 * ZooKeeper tree are used, never the layout: the benchmark must measure the layout that replaces it.
 *
 * Run: npm run bench:scale [-- --kind solr|elasticsearch --docs 164266 --customers 10000 --few 10
 *      --workers 4 --slices-in-flight 2 --planners 3 --slice-docs 5000 --batch 1000
 *      --lanes 10x10 (processes x lanes; 0: skip) --lanes-slice-docs 200]
 * Quick: npm run bench:scale -- --docs 20000 --customers 2000
 */
import { once } from 'node:events';
import zookeeper from 'node-zookeeper-client';
import { prng } from '../../src/demo/dataset';
import { spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, run, start, writeSpec, type CliResult, type Running } from '../support/cli';
import { EsAdmin, TEST_MAPPING } from '../support/esAdmin';
import { PrivateZk, freePort } from '../support/privateZk';
import { SolrAdmin } from '../../src/demo/solrAdmin';
import { stack, uniqueName } from '../support/stack';

const arg = (name: string, def: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : def;
};
const KIND = arg('kind', 'solr') as 'solr' | 'elasticsearch';
const DOCS = Number(arg('docs', '164266'));
const CUSTOMERS = Number(arg('customers', '10000'));
const FEW = Number(arg('few', '10'));
const WORKERS = Number(arg('workers', '4'));
const IN_FLIGHT = Number(arg('slices-in-flight', '2'));
const PLANNERS = Number(arg('planners', '3'));
const SLICE_DOCS = Number(arg('slice-docs', '5000'));
const BATCH = Number(arg('batch', '1000'));
/** "<processes>x<lanes>" for the contention phase, or 0 to skip it. */
const LANES = arg('lanes', '10x10');
/** Small slices for the contention phase, so that claims (not copying) dominate it. */
const LANES_SLICE_DOCS = Number(arg('lanes-slice-docs', '200'));
const QUIET = { BLUEGREEN_LOG_LEVEL: 'warn' };

// ---------------------------------------------------------------- the dataset

interface Doc {
  id: string;
  customer?: string;
  timestamp?: string;
  title: string;
  body: string;
  category: string;
  tags: string[];
  price: number;
  quantity: number;
}

const WORDS = ['search', 'cluster', 'shard', 'replica', 'cursor', 'slice', 'migration', 'verify', 'green', 'blue', 'legacy', 'index'];

/** Zipf sizes (exponent 1) summing to `total`, every customer at least 1: a SaaS cluster's tenants. */
function zipfSizes(total: number, customers: number): number[] {
  const n = Math.min(customers, total);
  const weights = Array.from({ length: n }, (_, i) => 1 / (i + 1));
  const sum = weights.reduce((a, b) => a + b, 0);
  const sizes = weights.map((w) => 1 + Math.floor(((total - n) * w) / sum));
  let left = total - sizes.reduce((a, b) => a + b, 0);
  for (let i = 0; left > 0; i = (i + 1) % n, left--) sizes[i]++; // rounding remainder to the biggest
  return sizes;
}

/**
 * The documents without customers (same ids, content and timestamps for both datasets, so the two
 * runs copy the same volume): 1 in 97 has no timestamp, 1 in 211 no customer.
 */
function baseDocs(total: number, end: number): Doc[] {
  const rnd = prng(14);
  const pick = () => WORDS[Math.floor(rnd() * WORDS.length)];
  return Array.from({ length: total }, (_, i) => {
    const d: Doc = {
      id: `doc-${String(i).padStart(8, '0')}`,
      title: `${pick()} ${pick()} ${i}`,
      body: Array.from({ length: 8 + Math.floor(rnd() * 24) }, pick).join(' '),
      category: `cat-${Math.floor(rnd() * 5)}`,
      tags: [pick(), pick()],
      price: Math.round(rnd() * 100_000) / 100,
      quantity: Math.floor(rnd() * 1000),
    };
    // Skewed towards recent days (as real traffic grows), over two years.
    if (i % 97 !== 5) d.timestamp = new Date(Math.floor(end - Math.pow(rnd(), 1.5) * 730 * 86_400_000)).toISOString();
    return d;
  });
}

/** The same documents, spread over `customers` tenants of Zipf sizes (the no-customer ones kept so). */
function withCustomers(docs: Doc[], customers: number): Doc[] {
  const sizes = zipfSizes(docs.length, customers);
  const out: Doc[] = [];
  let c = 0;
  let inC = 0;
  for (let i = 0; i < docs.length; i++) {
    if (inC >= sizes[c]) {
      c++;
      inC = 0;
    }
    inC++;
    out.push(i % 211 === 7 ? { ...docs[i] } : { ...docs[i], customer: `tenant-${String(c).padStart(6, '0')}` });
  }
  return out;
}

// ---------------------------------------------------------------- the clusters (operator's side)

interface Cluster {
  version(): Promise<string>;
  createSource(name: string): Promise<void>;
  createTarget(name: string): Promise<void>;
  load(name: string, docs: Doc[]): Promise<void>;
  /** Searchable count (after a commit / refresh). */
  count(name: string, target?: boolean): Promise<number>;
  drop(name: string, target?: boolean): Promise<void>;
  sourceUrl: string;
  targetUrl: string;
}

async function post(url: string, body: string, type = 'application/json'): Promise<any> {
  const r = await fetch(url, { method: 'POST', headers: { 'content-type': type }, body });
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status} ${(await r.text()).slice(0, 300)}`);
  return r.json();
}

/** Big batches, two requests in flight: loading is not what is measured. */
async function inBatches(docs: Doc[], size: number, send: (batch: Doc[]) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < docs.length) {
      const from = next;
      next += size;
      await send(docs.slice(from, from + size));
    }
  };
  await Promise.all([lane(), lane()]);
}

function solrCluster(): Cluster {
  const legacy = new SolrAdmin(stack.solrLegacy);
  const next = new SolrAdmin(stack.solrNew);
  const side = (target?: boolean) => (target ? next : legacy);
  return {
    sourceUrl: stack.solrLegacy,
    targetUrl: stack.solrNew,
    version: async () => `Solr ${await legacy.version()} → ${await next.version()}`,
    createSource: (name) => legacy.createCollection(name, 2),
    createTarget: (name) => next.createCollection(name, 2),
    load: async (name, docs) => {
      await inBatches(docs, 10_000, async (b) => void (await post(`${stack.solrLegacy}/${name}/update?wt=json`, JSON.stringify(b))));
      await legacy.commit(name);
    },
    count: async (name, target) => {
      await side(target).commit(name);
      return side(target).count(name);
    },
    drop: (name, target) => side(target).deleteCollection(name),
  };
}

function esCluster(): Cluster {
  const legacy = new EsAdmin(stack.esLegacy);
  const next = new EsAdmin(stack.esNew);
  const side = (target?: boolean) => (target ? next : legacy);
  const definition = { settings: { number_of_shards: 2, number_of_replicas: 0 }, mappings: TEST_MAPPING };
  return {
    sourceUrl: stack.esLegacy,
    targetUrl: stack.esNew,
    version: async () => `Elasticsearch ${await legacy.version()} → ${await next.version()}`,
    createSource: (name) => legacy.createIndex(name, definition),
    createTarget: (name) => next.createIndex(name, definition),
    load: async (name, docs) => {
      await inBatches(docs, 5_000, async (b) => {
        const body = b.map(({ id, ...d }) => `${JSON.stringify({ index: { _id: id } })}\n${JSON.stringify({ id, ...d })}\n`).join('');
        const res = await post(`${stack.esLegacy}/${name}/_bulk`, body, 'application/x-ndjson');
        if (res.errors) throw new Error(`bulk into ${name}: item errors`);
      });
      await legacy.refresh(name);
    },
    count: async (name, target) => {
      await side(target).refresh(name);
      return side(target).count(name);
    },
    drop: (name, target) => side(target).deleteIndex(name),
  };
}

// ---------------------------------------------------------------- ZooKeeper

type Mntr = Record<string, number>;

/** The server's last zxid (`srvr`): its delta counts write transactions (session create/close included). */
function zxid(zk: PrivateZk): Promise<number> {
  return new Promise((res, rej) => {
    const net = require('node:net') as typeof import('node:net');
    const sock = net.connect(Number(zk.connect.split(':').pop()), '127.0.0.1', () => sock.write('srvr'));
    let out = '';
    sock.on('data', (d) => (out += d));
    sock.on('error', rej);
    sock.on('end', () => {
      const m = /Zxid: (0x[0-9a-f]+)/i.exec(out);
      return m ? res(Number(BigInt(m[1]) & 0xffffffffn)) : rej(new Error(`srvr: no Zxid in ${out.slice(0, 200)}`));
    });
  });
}
const delta = (a: Mntr, b: Mntr, k = 'zk_packets_received') => (b[k] ?? 0) - (a[k] ?? 0);

interface TreeFigures {
  znodes: number;
  dataBytes: number;
  /** The node whose getChildren answer is the largest, by bytes of names. */
  widest: { path: string; children: number; nameBytes: number };
}

/** Every node under `root`, breadth first, 32 requests in flight; nothing assumed about the layout. */
async function walkTree(connect: string, root: string): Promise<TreeFigures> {
  const client = zookeeper.createClient(connect, { sessionTimeout: 30_000 });
  client.connect();
  await once(client, 'connected');
  const figures: TreeFigures = { znodes: 0, dataBytes: 0, widest: { path: root, children: 0, nameBytes: 0 } };
  const queue = [root];
  const children = (path: string) => new Promise<[string[], zookeeper.Stat]>((res, rej) =>
    client.getChildren(path, (err, names, stat) => (err ? rej(err) : res([names, stat]))));
  let active = 0;
  try {
    await new Promise<void>((res, rej) => {
      const pump = () => {
        if (!queue.length && !active) return res();
        while (queue.length && active < 32) {
          const path = queue.shift()!;
          active++;
          children(path).then(([names, stat]) => {
            figures.znodes++;
            figures.dataBytes += stat.dataLength;
            const nameBytes = names.reduce((a, n) => a + Buffer.byteLength(n), 0);
            if (nameBytes > figures.widest.nameBytes) figures.widest = { path, children: names.length, nameBytes };
            for (const n of names) queue.push(`${path === '/' ? '' : path}/${n}`);
            active--;
            pump();
          }, rej);
        }
      };
      pump();
    });
  } finally {
    client.close();
  }
  return figures;
}

// ---------------------------------------------------------------- the fleet (real processes)

const seconds = (ms: number) => ms / 1000;

function must(what: string, r: { code: number | null; stderr: string; stdout: string }, ok = [0]): void {
  if (!ok.includes(r.code ?? -1)) throw new Error(`${what} exited ${r.code}: ${(r.stderr || r.stdout).slice(-1500)}`);
}

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t0 = Date.now();
  const v = await fn();
  return [v, Date.now() - t0];
}

interface StatusFigures {
  ms: number;
  slices: number;
  done: number;
  estimate: number;
  read: number;
}

/**
 * As `run`, with stdout into a file: bin/bluegreen leaves with process.exit 100 ms after its answer,
 * and into a pipe a multi-megabyte answer (status --json or plan --json at 100,000 customers) is cut
 * short then; writes to a file are synchronous, so the whole answer is read.
 */
function runToFile(args: string[], env: NodeJS.ProcessEnv): Promise<CliResult> {
  const dir = mkdtempSync(join(tmpdir(), 'bg-scale-'));
  const file = join(dir, 'stdout');
  const fd = openSync(file, 'w');
  const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, BLUEGREEN_LOG_FORMAT: 'json', ...env }, stdio: ['ignore', fd, 'pipe'] });
  closeSync(fd);
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  return new Promise((res) => child.on('close', (code, signal) => {
    const stdout = readFileSync(file, 'utf8');
    rmSync(dir, { recursive: true, force: true });
    res({ code, signal, stdout, stderr });
  }));
}

async function status(spec: string): Promise<StatusFigures> {
  const [r, ms] = await timed(() => runToFile(['status', '--spec', spec, '--json'], QUIET));
  must('status', r, [0, 4]);
  const st = JSON.parse(r.stdout);
  return { ms, slices: st.totals.slices.total, done: st.totals.slices.done, estimate: st.totals.estimate, read: st.totals.read };
}

/**
 * The copy phase's requests split by estimate (mntr counts no request types): heartbeats (a lifecycle
 * read and a worker-node write every sessionTimeout/5 = 3 s, per worker, upper bound: workers that exit
 * early beat less), checkpoints (one per page: copied/batch, plus one end page per slice), start-up
 * validation (the first worker reads every unfinished slice once, for the fleet: slices), each
 * process's fixed cost (measured: one more worker once all is copied) and the rest per slice (claims
 * and what else a slice costs). Writes are the zxid delta.
 */
interface WorkSplit {
  writes: number;
  heartbeats: number;
  checkpoints: number;
  startupReads: number;
  /** Requests of one worker started after the copy (nothing to claim), and its wall time. */
  idleWorker: number;
  idleWorkerMs: number;
  restPerSlice: number;
}

function workSplit(requests: number, writes: number, ms: number, copied: number, slices: number, idleWorker: number, idleWorkerMs: number): WorkSplit {
  const heartbeats = WORKERS * Math.floor(ms / 3000) * 2;
  const checkpoints = Math.ceil(copied / BATCH) + slices;
  const startupReads = slices;
  const rest = requests - heartbeats - checkpoints - startupReads - WORKERS * idleWorker;
  return { writes, heartbeats, checkpoints, startupReads, idleWorker, idleWorkerMs, restPerSlice: rest / Math.max(1, slices) };
}

interface DatasetFigures {
  customers: number;
  sourceDocs: number;
  copied: number;
  slices: number;
  plan: { ms: number; requests: number; plannedDocs: number; plannedCustomers: number; estimate: number; duplicates: boolean };
  work: { ms: number; docsPerSecond: number; requests: number; requestsPerSlice: number; split: WorkSplit; cost: ZkCost };
  status: { ms: number; requests: number; responseBytes: number };
  verify: { ms: number; docsPerSecond: number; requests: number; passed: boolean };
  tree: TreeFigures & { mntrZnodes: number; mntrDataBytes: number };
}

function specFor(zk: PrivateZk, c: Cluster, root: string, src: string, dst: string, sliceDocs: number, inFlight: number): string {
  return writeSpec({
    migration: 'scale', zookeeper: { connect: zk.connect, root },
    source: { kind: KIND, url: c.sourceUrl, collection: src },
    target: { kind: KIND, url: c.targetUrl, collection: dst },
    slicing: { targetDocsPerSlice: sliceDocs },
    batch: { docs: BATCH, bytes: '8MB' }, worker: { slicesInFlight: inFlight },
  });
}

/**
 * `plan` by several processes at once. No duplicate: each customer's documents are planned by exactly
 * one of them (the others report it existing or waited for), and the estimates status sums from the
 * slices equal the source's count.
 */
async function planPhase(spec: string, sourceDocs: number, customers: number) {
  const [results, ms] = await timed(() => Promise.all(Array.from({ length: PLANNERS }, () => runToFile(['plan', '--spec', spec, '--json'], QUIET))));
  results.forEach((r, i) => must(`planner ${i + 1}`, r));
  const rows = results.flatMap((r) => JSON.parse(r.stdout) as Array<{ customer: string | null; docs: number; outcome: string }>).filter((x) => x.outcome === 'planned');
  const plannedDocs = rows.reduce((a, x) => a + x.docs, 0);
  const plannedCustomers = new Set(rows.map((x) => x.customer)).size;
  const duplicates = rows.length !== plannedCustomers || plannedDocs !== sourceDocs;
  if (duplicates) process.stdout.write(`  !! planners planned ${rows.length} customer plans for ${plannedCustomers} customers, ${plannedDocs}/${sourceDocs} documents (expected ${customers + 1} customers incl. "no customer")\n`);
  return { ms, plannedDocs, plannedCustomers, duplicates };
}

/** N `work` processes at once, until all exit (3: others hold the rest, when they finish together). */
async function workPhase(spec: string, workers: number): Promise<{ ms: number; cost: ZkCost }> {
  const [results, ms] = await timed(() => Promise.all(Array.from({ length: workers }, () => run(['work', '--spec', spec, '--http-port', '0'], { BLUEGREEN_LOG_LEVEL: 'info' }))));
  results.forEach((r, i) => must(`worker ${i + 1}`, r, [0, 3]));
  return { ms, cost: costOf(results.map((r) => r.stderr)) };
}

/**
 * ZooKeeper requests counted by the workers themselves, by purpose (their "worker finished" line:
 * bluegreen_zookeeper_requests_total by purpose, claims taken, checkpoints written), summed over the
 * fleet. mntr cannot tell requests apart; this can, and its total is checked against mntr's.
 */
interface ZkCost { byPurpose: Record<string, number>; claims: number; checkpoints: number; total: number; perClaim: number; perCheckpoint: number }

function zkCost(byPurpose: Record<string, number>, claims: number, checkpoints: number): ZkCost {
  const total = Object.values(byPurpose).reduce((a, n) => a + n, 0);
  return { byPurpose, claims, checkpoints, total, perClaim: (byPurpose.claim ?? 0) / Math.max(1, claims), perCheckpoint: (byPurpose.checkpoint ?? 0) / Math.max(1, checkpoints) };
}

function costOf(stderrs: string[]): ZkCost {
  const byPurpose: Record<string, number> = {};
  let claims = 0;
  let checkpoints = 0;
  for (const text of stderrs) {
    for (const line of text.split('\n')) {
      if (!line.includes('"msg":"worker finished"')) continue;
      const z: Record<string, number> = JSON.parse(line).zookeeper ?? {};
      for (const [k, v] of Object.entries(z)) {
        if (k === 'claims') claims += v;
        else if (k === 'checkpoints') checkpoints += v;
        else byPurpose[k] = (byPurpose[k] ?? 0) + v;
      }
    }
  }
  return zkCost(byPurpose, claims, checkpoints);
}

/** The same figures from the workers' /metrics (a --follow fleet, scraped before it stops). */
/** Checkpoint requests less the one summary read each finished slice makes (claims ≈ slices finished), per checkpoint. */
function multisPerCheckpoint(c: ZkCost): number {
  return ((c.byPurpose.checkpoint ?? 0) - c.claims) / Math.max(1, c.checkpoints);
}

function purposeRow(c: ZkCost): string {
  return ['heartbeat', 'wait', 'other'].map((p) => fmt(c.byPurpose[p] ?? 0)).join(' / ');
}

function costOfScrapes(scrapes: string[]): ZkCost {
  const all = scrapes.flatMap(parseProm);
  const byPurpose: Record<string, number> = {};
  for (const x of all.filter((x) => x.name === 'bluegreen_zookeeper_requests_total')) {
    const p = /purpose="([^"]+)"/.exec(x.labels)?.[1] ?? 'other';
    byPurpose[p] = (byPurpose[p] ?? 0) + x.value;
  }
  const sum = (name: string) => all.filter((x) => x.name === name).reduce((a, x) => a + x.value, 0);
  const claims = sum('bluegreen_claims_taken_total');
  const checkpoints = sum('bluegreen_checkpoints_total');
  return zkCost(byPurpose, claims, checkpoints);
}

async function dataset(label: string, zk: PrivateZk, c: Cluster, src: string, customers: number, sourceDocs: number, targets: string[]): Promise<DatasetFigures> {
  const dst = uniqueName(`scale_${label}_dst`);
  targets.push(dst);
  await c.createTarget(dst);
  const root = `/bgscale_${label}`;
  const spec = specFor(zk, c, root, src, dst, SLICE_DOCS, IN_FLIGHT);
  const say = (s: string) => process.stdout.write(`  [${label}] ${s}\n`);

  const m0 = await zk.mntr();
  const plan = await planPhase(spec, sourceDocs, customers);
  const m1 = await zk.mntr();
  say(`plan: ${PLANNERS} planners in ${seconds(plan.ms)} s`);
  const planned = await status(spec);
  if (planned.estimate !== sourceDocs) say(`!! the slices' estimates sum to ${planned.estimate}, the source holds ${sourceDocs}`);

  const [m2, z2] = [await zk.mntr(), await zxid(zk)];
  const { ms: workMs, cost } = await workPhase(spec, WORKERS);
  const [m3, z3] = [await zk.mntr(), await zxid(zk)];
  const copied = await c.count(dst, true);
  say(`work: ${WORKERS} workers in ${seconds(workMs)} s, ${copied}/${sourceDocs} copied`);
  // One more worker once all is copied: what a process costs ZooKeeper with no slice to claim.
  const idleMs = (await workPhase(spec, 1)).ms;
  const m3b = await zk.mntr();

  const st = await status(spec);
  const m4 = await zk.mntr();
  const [vr, verifyMs] = await timed(() => run(['verify-integrity', '--spec', spec], QUIET));
  must('verify-integrity', vr, [0, 5]);
  const m5 = await zk.mntr();
  say(`status ${seconds(st.ms)} s, verify ${seconds(verifyMs)} s (${vr.code === 0 ? 'passed' : 'DIFFERENCES'})`);

  const tree = await walkTree(zk.connect, root);
  return {
    customers, sourceDocs, copied, slices: st.slices,
    plan: { ms: plan.ms, requests: delta(m0, m1), plannedDocs: plan.plannedDocs, plannedCustomers: plan.plannedCustomers, estimate: planned.estimate, duplicates: plan.duplicates || planned.estimate !== sourceDocs },
    work: { ms: workMs, docsPerSecond: copied / seconds(workMs), requests: delta(m2, m3), requestsPerSlice: delta(m2, m3) / Math.max(1, st.slices), split: workSplit(delta(m2, m3), z3 - z2, workMs, copied, st.slices, delta(m3, m3b), idleMs), cost },
    status: { ms: st.ms, requests: delta(m3b, m4), responseBytes: delta(m3b, m4, 'zk_response_bytes') },
    verify: { ms: verifyMs, docsPerSecond: sourceDocs / seconds(verifyMs), requests: delta(m4, m5), passed: vr.code === 0 },
    tree: { ...tree, mntrZnodes: m5.zk_znode_count, mntrDataBytes: m5.zk_approximate_data_size },
  };
}

// ---------------------------------------------------------------- contention: many lanes, small slices

interface PromSample {
  name: string;
  labels: string;
  value: number;
}

function parseProm(text: string): PromSample[] {
  return text.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => {
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/.exec(l);
    return m ? { name: m[1], labels: m[2] ?? '', value: Number(m[3]) } : null;
  }).filter((x): x is PromSample => x !== null);
}

/**
 * Claim retries per claim from the workers' /metrics, summed over the fleet: a histogram named
 * bluegreen_claim_retries gives its median, a counter (bluegreen_claim_retries[_total]) the mean per
 * claim taken; no such metric (today's worker): null.
 */
function claimRetries(scrapes: string[]): { median: number | null; mean: number | null; claims: number; source: string } {
  const all = scrapes.flatMap(parseProm);
  const sum = (name: string) => all.filter((s) => s.name === name).reduce((a, s) => a + s.value, 0);
  const claims = sum('bluegreen_claims_taken_total');
  const buckets = all.filter((s) => s.name === 'bluegreen_claim_retries_bucket');
  if (buckets.length) {
    const byLe = new Map<number, number>();
    for (const b of buckets) {
      const le = /le="([^"]+)"/.exec(b.labels)?.[1] ?? '+Inf';
      byLe.set(le === '+Inf' ? Infinity : Number(le), (byLe.get(le === '+Inf' ? Infinity : Number(le)) ?? 0) + b.value);
    }
    const total = sum('bluegreen_claim_retries_count');
    const median = [...byLe.entries()].sort((a, b) => a[0] - b[0]).find(([, n]) => n >= total / 2)?.[0] ?? null;
    return { median, mean: total ? sum('bluegreen_claim_retries_sum') / total : null, claims, source: 'histogram bluegreen_claim_retries (median: upper bound of its bucket)' };
  }
  for (const name of ['bluegreen_claim_retries_total', 'bluegreen_claim_retries']) {
    if (all.some((s) => s.name === name)) return { median: null, mean: claims ? sum(name) / claims : null, claims, source: `counter ${name} / bluegreen_claims_taken_total (mean)` };
  }
  return { median: null, mean: null, claims, source: 'n/a: the worker exposes no claim-retry metric (bluegreen_claim_retries)' };
}

async function scrape(port: number): Promise<string> {
  const r = await fetch(`http://127.0.0.1:${port}/metrics`);
  return r.text();
}

/** Counts the JSON log lines with this message that a process writes on stderr (lines split across chunks included). */
function countLines(w: Running, msg: string): () => number {
  let n = 0;
  let partial = '';
  const needle = `"msg":${JSON.stringify(msg)}`;
  w.child.stderr!.on('data', (d: Buffer) => {
    const lines = (partial + d.toString()).split('\n');
    partial = lines.pop()!;
    for (const l of lines) if (l.includes(needle)) n++;
  });
  return () => n;
}

/**
 * P processes × L lanes, `--follow` so that each one's /metrics can be read once every slice is done
 * (a worker that exits takes its counters with it), then stopped with SIGTERM. The end is seen in
 * the workers' own "slice done" log lines, so that no status scan adds to the ZooKeeper requests
 * (status is polled instead, and counted in, only if those lines stop matching).
 */
async function lanesPhase(zk: PrivateZk, c: Cluster, src: string, sourceDocs: number, targets: string[]) {
  const [procs, lanes] = LANES.split('x').map(Number);
  const dst = uniqueName('scale_lanes_dst');
  targets.push(dst);
  await c.createTarget(dst);
  const spec = specFor(zk, c, '/bgscale_lanes', src, dst, LANES_SLICE_DOCS, lanes);
  must('plan (lanes)', await run(['plan', '--spec', spec], QUIET));
  const { slices } = await status(spec);
  process.stdout.write(`  [lanes] ${slices} slices planned; ${procs} x ${lanes} lanes copying ...\n`);
  const ports = await Promise.all(Array.from({ length: procs }, () => freePort()));
  const m0 = await zk.mntr();
  const t0 = Date.now();
  const fleet: Running[] = ports.map((p) => start(['work', '--spec', spec, '--follow', '--http-port', String(p)], { BLUEGREEN_LOG_LEVEL: 'info' }));
  const done = fleet.map((w) => countLines(w, 'slice done'));
  let statusPolled = false;
  try {
    let allCopiedAt: number | null = null;
    while (done.reduce((a, n) => a + n(), 0) < slices) {
      if (fleet.some((w) => w.child.exitCode !== null)) throw new Error(`a --follow worker exited: ${fleet.map((w) => w.output().stderr).join('').slice(-1500)}`);
      await new Promise((r) => setTimeout(r, 1000));
      if (allCopiedAt === null && (await c.count(dst, true)) >= sourceDocs) allCopiedAt = Date.now();
      if (allCopiedAt !== null && Date.now() - allCopiedAt > 30_000) {
        statusPolled = true;
        if ((await status(spec)).done >= slices) break;
      }
    }
    const ms = Date.now() - t0;
    const m1 = await zk.mntr();
    const scrapes = await Promise.all(ports.map(scrape));
    const retries = claimRetries(scrapes);
    const cost = costOfScrapes(scrapes);
    const copied = await c.count(dst, true);
    return { processes: procs, lanes, slices, ms, copied, docsPerSecond: copied / seconds(ms), requests: delta(m0, m1), requestsPerSlice: delta(m0, m1) / Math.max(1, slices), statusPolled, retries, cost };
  } finally {
    for (const w of fleet) w.child.kill('SIGTERM');
    await Promise.all(fleet.map((w) => w.done));
  }
}

// ---------------------------------------------------------------- the report

const fmt = (n: number | null | undefined, digits = 0) => (n === null || n === undefined || !Number.isFinite(n) ? 'n/a' : n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }));

function report(few: DatasetFigures, many: DatasetFigures, lanes: Awaited<ReturnType<typeof lanesPhase>> | null, versions: string): void {
  const rows: Array<[string, string, string, string]> = [
    ['customers', fmt(few.customers), fmt(many.customers), ''],
    ['slices', fmt(few.slices), fmt(many.slices), fmt(many.slices / few.slices, 1)],
    ['copied / source docs', `${fmt(few.copied)}/${fmt(few.sourceDocs)}`, `${fmt(many.copied)}/${fmt(many.sourceDocs)}`, ''],
    [`plan, ${PLANNERS} planners at once (s)`, fmt(seconds(few.plan.ms), 1), fmt(seconds(many.plan.ms), 1), fmt(many.plan.ms / few.plan.ms, 1)],
    ['plan: duplicates (planned docs = source)', few.plan.duplicates ? 'YES' : 'none', many.plan.duplicates ? 'YES' : 'none', ''],
    ['plan: ZooKeeper requests', fmt(few.plan.requests), fmt(many.plan.requests), fmt(many.plan.requests / few.plan.requests, 1)],
    [`copy, ${WORKERS} workers x ${IN_FLIGHT} (docs/s)`, fmt(few.work.docsPerSecond), fmt(many.work.docsPerSecond), fmt(many.work.docsPerSecond / few.work.docsPerSecond, 2)],
    ['copy wall time (s)', fmt(seconds(few.work.ms), 1), fmt(seconds(many.work.ms), 1), ''],
    ['copy: ZooKeeper requests', fmt(few.work.requests), fmt(many.work.requests), fmt(many.work.requests / few.work.requests, 1)],
    ['copy: requests per slice claimed *', fmt(few.work.requestsPerSlice, 1), fmt(many.work.requestsPerSlice, 1), fmt(many.work.requestsPerSlice / few.work.requestsPerSlice, 2)],
    ['copy: counted: claim requests per slice claimed', fmt(few.work.cost.perClaim, 2), fmt(many.work.cost.perClaim, 2), fmt(many.work.cost.perClaim / few.work.cost.perClaim, 2)],
    ['copy: counted: requests per checkpoint', fmt(few.work.cost.perCheckpoint, 2), fmt(many.work.cost.perCheckpoint, 2), fmt(many.work.cost.perCheckpoint / few.work.cost.perCheckpoint, 2)],
    ['copy: counted: start-up check requests (fleet)', fmt(few.work.cost.byPurpose.check ?? 0), fmt(many.work.cost.byPurpose.check ?? 0), ''],
    ['copy: counted: heartbeat / wait / other requests', purposeRow(few.work.cost), purposeRow(many.work.cost), ''],
    ['copy: counted total / mntr packets', `${fmt(few.work.cost.total)} / ${fmt(few.work.requests)}`, `${fmt(many.work.cost.total)} / ${fmt(many.work.requests)}`, ''],
    ['copy: writes (zxid delta)', fmt(few.work.split.writes), fmt(many.work.split.writes), ''],
    ['copy: est. heartbeats (2 per 3 s per worker)', fmt(few.work.split.heartbeats), fmt(many.work.split.heartbeats), ''],
    ['copy: est. checkpoints (pages + slices)', fmt(few.work.split.checkpoints), fmt(many.work.split.checkpoints), ''],
    ['copy: est. start-up check (slices, once per plan)', fmt(few.work.split.startupReads), fmt(many.work.split.startupReads), ''],
    ['copy: one idle worker (requests, measured)', fmt(few.work.split.idleWorker), fmt(many.work.split.idleWorker), ''],
    ['copy: the rest per slice (claims, ...)', fmt(few.work.split.restPerSlice, 1), fmt(many.work.split.restPerSlice, 1), ''],
    ['status --json (s)', fmt(seconds(few.status.ms), 2), fmt(seconds(many.status.ms), 2), fmt(many.status.ms / few.status.ms, 1)],
    ['status: ZooKeeper requests', fmt(few.status.requests), fmt(many.status.requests), fmt(many.status.requests / few.status.requests, 1)],
    ['status: bytes ZooKeeper answered', fmt(few.status.responseBytes), fmt(many.status.responseBytes), fmt(many.status.responseBytes / few.status.responseBytes, 1)],
    ['verify-integrity (s)', fmt(seconds(few.verify.ms), 1), fmt(seconds(many.verify.ms), 1), ''],
    ['verify-integrity (docs/s)', fmt(few.verify.docsPerSecond), fmt(many.verify.docsPerSecond), fmt(many.verify.docsPerSecond / few.verify.docsPerSecond, 2)],
    ['verify: passed / ZooKeeper requests', `${few.verify.passed ? 'yes' : 'NO'} / ${fmt(few.verify.requests)}`, `${many.verify.passed ? 'yes' : 'NO'} / ${fmt(many.verify.requests)}`, ''],
    ['znodes (walk / mntr, whole server)', `${fmt(few.tree.znodes)} / ${fmt(few.tree.mntrZnodes)}`, `${fmt(many.tree.znodes)} / ${fmt(many.tree.mntrZnodes)}`, fmt(many.tree.znodes / few.tree.znodes, 1)],
    ['data bytes in the tree (walk)', fmt(few.tree.dataBytes), fmt(many.tree.dataBytes), fmt(many.tree.dataBytes / few.tree.dataBytes, 1)],
    ['largest getChildren: children', fmt(few.tree.widest.children), fmt(many.tree.widest.children), ''],
    ['largest getChildren: bytes of names', fmt(few.tree.widest.nameBytes), fmt(many.tree.widest.nameBytes), ''],
  ];
  const w = [Math.max(...rows.map((r) => r[0].length)), 18, 18, 9];
  const line = (r: string[]) => `${r[0].padEnd(w[0])}  ${r[1].padStart(w[1])}  ${r[2].padStart(w[2])}  ${r[3].padStart(w[3])}`;
  const out = [
    '', `${fmt(few.sourceDocs)} documents, ${versions}, ZooKeeper private (mntr deltas), on a ${require('node:os').cpus().length}-core machine shared by servers and workers:`, '',
    line(['', `${FEW} customers`, `${CUSTOMERS} customers`, 'many/few']), ...rows.map(line),
    `largest getChildren node: few ${few.tree.widest.path}, many ${many.tree.widest.path}`,
    '* ZooKeeper requests are zk_packets_received deltas: they include the workers\' heartbeats (worker node writes) and the sessions\' pings; per slice = copy-phase requests / slices in status.',
    '  "counted" rows: the workers\' own count by purpose (bluegreen_zookeeper_requests_total): a claim is a bucket listing, a work-node read and one multi (plus listings that found a bucket empty and races lost); a checkpoint one multi (the finishing one also reads its bucket summary); the rest of mntr\'s packets are pings and connection set-up.',
  ];
  if (lanes) {
    out.push('', `contention: ${lanes.processes} processes x ${lanes.lanes} lanes, ${fmt(lanes.slices)} slices of ~${LANES_SLICE_DOCS} docs over ${CUSTOMERS} customers (--follow):`,
      `  ${fmt(seconds(lanes.ms), 1)} s, ${fmt(lanes.copied)}/${fmt(DOCS)} copied, ${fmt(lanes.docsPerSecond)} docs/s, ${fmt(lanes.requestsPerSlice, 1)} ZooKeeper requests per slice (heartbeats, pings and idle --follow scans included${lanes.statusPolled ? ', and status polls: the "slice done" log lines did not add up' : ''}), ${fmt(lanes.retries.claims)} claims taken`,
      `  claim retries per claim: median ${fmt(lanes.retries.median, 2)}, mean ${fmt(lanes.retries.mean, 2)} (${lanes.retries.source})`,
      `  counted: ${fmt(lanes.cost.perClaim, 2)} claim requests per slice claimed, ${fmt(lanes.cost.perCheckpoint, 2)} per checkpoint; ${purposeRow(lanes.cost)} heartbeat / wait / other; ${fmt(lanes.cost.byPurpose.check ?? 0)} start-up check`);
  }
  const target = (label: string, value: string, goal: string, ok: boolean | null) => `  ${label.padEnd(44)} ${value.padStart(12)}   target ${goal.padEnd(12)} ${ok === null ? 'n/a' : ok ? 'ok' : 'MISSED'}`;
  const planAtN = seconds(many.plan.ms);
  out.push('', 'issue 14 targets:',
    target('docs/s many / few', fmt(many.work.docsPerSecond / few.work.docsPerSecond, 2), '>= 0.8', many.work.docsPerSecond / few.work.docsPerSecond >= 0.8),
    target(`plan at ${CUSTOMERS} customers (s)`, fmt(planAtN, 1), CUSTOMERS >= 100_000 ? '<= 300' : CUSTOMERS >= 10_000 ? '<= 30' : '(at 10,000: <= 30)', CUSTOMERS >= 100_000 ? planAtN <= 300 : CUSTOMERS >= 10_000 ? planAtN <= 30 : null),
    target('plan: no duplicates', few.plan.duplicates || many.plan.duplicates ? 'duplicates' : 'none', 'none', !(few.plan.duplicates || many.plan.duplicates)),
    target('claim requests per slice claimed (counted)', fmt(Math.max(many.work.cost.perClaim, lanes?.cost.perClaim ?? 0), 2), '<= 5', Math.max(many.work.cost.perClaim, lanes?.cost.perClaim ?? 0) <= 5),
    target('multis per checkpoint (counted, less 1 summary read per slice)', fmt(multisPerCheckpoint(many.work.cost), 2), '<= 1.1', multisPerCheckpoint(many.work.cost) <= 1.1),
    target('status (s, many)', fmt(seconds(many.status.ms), 2), '<= 2', seconds(many.status.ms) <= 2),
    target('verify docs/s many / few', fmt(many.verify.docsPerSecond / few.verify.docsPerSecond, 2), '>= 0.8', many.verify.docsPerSecond / few.verify.docsPerSecond >= 0.8),
    target('largest getChildren (bytes of names, many)', fmt(many.tree.widest.nameBytes), '<= 102400', many.tree.widest.nameBytes <= 100 * 1024),
    target('claim retries per claim, median', fmt(lanes?.retries.median ?? null, 2), '< 1', lanes?.retries.median === null || lanes?.retries.median === undefined ? null : lanes.retries.median < 1),
  );
  process.stdout.write(`${out.join('\n')}\n\n`);
  process.stdout.write(`${JSON.stringify({ bench: 'scale', kind: KIND, versions, docs: few.sourceDocs, workers: WORKERS, slicesInFlight: IN_FLIGHT, planners: PLANNERS, targetDocsPerSlice: SLICE_DOCS, batch: BATCH, few, many, lanes })}\n`);
}

async function main(): Promise<void> {
  const c = KIND === 'elasticsearch' ? esCluster() : solrCluster();
  const versions = await c.version();
  const sources = { few: uniqueName('scale_few_src'), many: uniqueName('scale_many_src') };
  const targets: string[] = [];
  let zk: PrivateZk | undefined;
  try {
    const base = baseDocs(DOCS, Date.now());
    process.stdout.write(`loading ${DOCS} documents twice (${FEW} and ${CUSTOMERS} customers, Zipf sizes) into ${versions.split(' →')[0]} ...\n`);
    for (const [label, n] of [['few', FEW], ['many', CUSTOMERS]] as const) {
      await c.createSource(sources[label]);
      await c.load(sources[label], withCustomers(base, n));
    }
    const sourceDocs = await c.count(sources.few);
    if ((await c.count(sources.many)) !== sourceDocs || sourceDocs !== DOCS) throw new Error(`loaded ${sourceDocs} and ${await c.count(sources.many)} documents, expected ${DOCS} each`);
    zk = await PrivateZk.start();
    process.stdout.write(`private ZooKeeper on ${zk.connect} (pid ${zk.pid})\n`);
    const few = await dataset('few', zk, c, sources.few, FEW, sourceDocs, targets);
    const many = await dataset('many', zk, c, sources.many, CUSTOMERS, sourceDocs, targets);
    const lanes = LANES !== '0' ? await lanesPhase(zk, c, sources.many, sourceDocs, targets) : null;
    report(few, many, lanes, versions);
  } finally {
    // The private ZooKeeper's data (every migration path of this run) goes with it.
    await zk?.remove();
    for (const s of Object.values(sources)) await c.drop(s).catch(() => undefined);
    for (const t of targets) await c.drop(t, true).catch(() => undefined);
  }
}

main().catch((e) => {
  process.stderr.write(`bench failed: ${e instanceof Error ? e.stack : e}\n`);
  process.exitCode = 1;
});
