/**
 * The demo (README quick start): load a legacy Solr 8 with customers of very different volume and
 * retention, plan, run three workers, and show what happened. Runs on the local stack.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import yaml from 'js-yaml';
import { Layout } from '../coordination/layout';
import type { WorkNode } from '../coordination/workNode';
import { ZkSession } from '../coordination/zk';
import { formatDuration } from '../config/units';
import { DEMO_CUSTOMERS, generateDocs } from './dataset';
import { SolrAdmin } from './solrAdmin';

const repo = resolve(__dirname, '../../..');
const bin = join(repo, 'bin/bluegreen');
const host = process.env.BG_HOST ?? '127.0.0.1';
const zkConnect = `${host}:${process.env.BG_ZK_PORT ?? 2181}`;
const legacyUrl = `http://${host}:${process.env.BG_SOLR_LEGACY_PORT ?? 8983}/solr`;
const newUrl = `http://${host}:${process.env.BG_SOLR_NEW_PORT ?? 8984}/solr`;
const COLLECTION = 'demo_events';
const MIGRATION = 'demo';
const ROOT = '/bluegreen';
const WORKERS = 3;

const say = (s: string) => process.stdout.write(`${s}\n`);

function runCli(args: string[], quiet = false): Promise<number> {
  return new Promise((res) => {
    const child = spawn(process.execPath, [bin, ...args], {
      stdio: ['ignore', quiet ? 'ignore' : 'inherit', 'pipe'],
      env: { ...process.env, BLUEGREEN_LOG_FORMAT: 'json' },
    });
    let err = '';
    child.stderr!.on('data', (d) => (err += d));
    child.on('close', (code) => {
      if (code !== 0 && code !== 3) process.stderr.write(err);
      res(code ?? 1);
    });
  });
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

function table(head: string[], rows: Array<Array<string | number>>): string {
  const cells = rows.map((r) => r.map(String));
  const w = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]) => c.map((x, i) => (i === 0 ? x.padEnd(w[i]) : x.padStart(w[i]))).join('  ');
  return [line(head), ...cells.map(line)].join('\n');
}

async function main(): Promise<void> {
  const legacy = new SolrAdmin(legacyUrl);
  const next = new SolrAdmin(newUrl);
  const zk = await ZkSession.connect({ connect: zkConnect, sessionTimeout: 10_000, connectTimeout: 15_000 });
  const layout = new Layout(ROOT, MIGRATION);
  try {
    say(`bluegreen demo: Solr ${await legacy.version()} (legacy, ${legacyUrl}) → Solr ${await next.version()} (new, ${newUrl})\n`);
    say(`1. Fresh collection "${COLLECTION}" on both clusters, fresh ZooKeeper path ${layout.base}`);
    await zk.removeRecursive(layout.base);
    await Promise.all([legacy.createCollection(COLLECTION, 2), next.createCollection(COLLECTION, 2)]);

    const end = Date.now();
    const docs = [...generateDocs(DEMO_CUSTOMERS, end, 42)];
    say(`2. Loading ${docs.length} documents into legacy:`);
    say(table(['customer', 'documents', 'retention', 'no timestamp'], DEMO_CUSTOMERS.map((p) => [p.name ?? '(no customer)', p.docs, `${p.spanDays} days`, p.noTimestamp ?? 0])));
    await legacy.index(COLLECTION, docs, true);
    // The application dual-writes: some documents reached the new cluster with newer content already.
    const live = docs.filter((_, i) => i % 997 === 0).map((d) => ({ ...d, title: `${d.title} (live update, newer)` }));
    await next.index(COLLECTION, live, true);
    say(`   + ${live.length} live writes with newer content already in the new cluster (they must survive)\n`);

    const specDir = join(repo, '.stack', 'demo');
    mkdirSync(specDir, { recursive: true });
    const specFile = join(specDir, 'spec.yaml');
    writeFileSync(specFile, yaml.dump({
      migration: MIGRATION,
      zookeeper: { connect: zkConnect, root: ROOT },
      source: { kind: 'solr', url: legacyUrl, collection: COLLECTION },
      target: { kind: 'solr', url: newUrl, collection: COLLECTION },
      fields: { customer: 'customer', timestamp: 'timestamp', uniqueKey: 'id' },
      slicing: { targetDocsPerSlice: 1000 },
      batch: { docs: 250, bytes: '1MB' },
      worker: { slicesInFlight: 2 },
    }));
    say(`3. bluegreen plan --spec ${specFile}`);
    if ((await runCli(['plan', '--spec', specFile])) !== 0) throw new Error('plan failed');

    say(`\n4. ${WORKERS} workers: bluegreen work --spec ${specFile}`);
    const started = Date.now();
    const workers = Array.from({ length: WORKERS }, () => runCli(['work', '--spec', specFile], true));
    let finished = false;
    void Promise.all(workers).then(() => (finished = true));
    while (!finished) {
      await new Promise((r) => setTimeout(r, 1000));
      const nodes = await sliceNodes(zk, layout);
      const done = nodes.filter((n) => n.status === 'done').length;
      const read = nodes.reduce((s, n) => s + n.counts.read, 0);
      const secs = (Date.now() - started) / 1000;
      process.stdout.write(`\r   slices ${done}/${nodes.length}  documents ${read}/${docs.length}  ${Math.round(read / secs)} docs/s  ${formatDuration(Date.now() - started)}   `);
    }
    const codes = await Promise.all(workers);
    const seconds = (Date.now() - started) / 1000;
    process.stdout.write('\n');
    // Two workers may exit 3 ("the rest is claimed by others") while the third finishes the last slice.
    if (!codes.includes(0) || codes.some((c) => c !== 0 && c !== 3)) throw new Error(`workers exited with ${codes.join(', ')}`);

    await next.commit(COLLECTION);
    const nodes = await sliceNodes(zk, layout);
    say('\n5. Result');
    const rows = [];
    for (const p of DEMO_CUSTOMERS) {
      const q = p.name === null ? '*:* -customer:[* TO *]' : `customer:"${p.name}"`;
      const mine = nodes.filter((n) => n.customers.includes(p.name));
      rows.push([p.name ?? '(no customer)', await legacy.count(COLLECTION, q), await next.count(COLLECTION, q), mine.length,
        mine.reduce((s, n) => s + n.counts.written, 0), mine.reduce((s, n) => s + n.counts.skipped, 0)]);
    }
    say(table(['customer', 'legacy', 'new', 'slices', 'copied', 'skipped (live write won)'], rows));
    const survived = (await next.all(COLLECTION, 'id,title'));
    const kept = live.filter((d) => String(survived.get(d.id)?.title) === d.title).length;
    const total = nodes.reduce((s, n) => s + n.counts.read, 0);
    say(`\n${nodes.length} slices, ${total} documents read in ${seconds.toFixed(1)} s (${Math.round(total / seconds)} docs/s) by ${WORKERS} workers.`);
    say(`Live writes kept their newer content: ${kept}/${live.length}.`);
    const ok = rows.every((r) => r[1] === r[2]) && kept === live.length;
    say(ok ? '\nlegacy and new hold the same documents. The stack is still up: scripts/stack status | down.' : '\nMISMATCH: see above.');
    process.exitCode = ok ? 0 : 1;
  } finally {
    zk.close();
  }
}

main().catch((e) => {
  process.stderr.write(`demo failed: ${e instanceof Error ? e.message : e}\n`);
  process.exitCode = 1;
});
