/**
 * `npm run demo` (src/demo/run.ts) on the real stack, both kinds, small (--quick): the compiled entry
 * point run as a child process with the stack's ports from the environment (BG_* variables, as
 * test/support/stack.ts reads them). From its exit code and output, and from the clusters and
 * ZooKeeper it leaves: zero failed reads, reads served by both sides, the same documents on both
 * clusters, a passing verification behind the cutover, both flips (new, back to legacy, new again)
 * seen by the readers. Bad flags: exit 2 before anything is touched.
 */
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { expect } from 'chai';
import { loadSpec } from '../../src/config/spec';
import { Layout } from '../../src/coordination/layout';
import { MigrationStore } from '../../src/coordination/migration';
import type { ZkSession } from '../../src/coordination/zk';
import type { CutoverState } from '../../src/cutover/cutover';
import { SolrAdmin } from '../../src/demo/solrAdmin';
import { VerifyStore } from '../../src/verifier/verifier';
import { EsAdmin } from '../support/esAdmin';
import { connectZk, stack, uniqueName } from '../support/stack';

const RUN = resolve(__dirname, '../../src/demo/run.js');

function demo(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((res) => {
    const child = spawn(process.execPath, [RUN, ...args], { env: process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => res({ code, stdout, stderr }));
  });
}

/** Every document's id → title on one side (the title changes with every live update). */
interface Side {
  docs(collection: string): Promise<Map<string, string>>;
  drop(collection: string): Promise<void>;
}

const solr = (url: string): Side => {
  const admin = new SolrAdmin(url);
  return {
    docs: async (c) => new Map([...(await admin.all(c, 'id,title'))].map(([id, d]) => [id, String(d.title)])),
    drop: (c) => admin.deleteCollection(c),
  };
};
const es = (url: string): Side => {
  const admin = new EsAdmin(url);
  return {
    docs: async (c) => new Map([...(await admin.all(c))].map(([id, d]) => [id, String(d.source.title)])),
    drop: (c) => admin.deleteIndex(c),
  };
};

const KINDS = [
  { kind: 'solr', label: 'Solr 8 → 9', legacy: solr(stack.solrLegacy), new: solr(stack.solrNew) },
  { kind: 'elasticsearch', label: 'Elasticsearch 7 → 8', legacy: es(stack.esLegacy), new: es(stack.esNew) },
];

for (const k of KINDS) {
  describe(`npm run demo -- --kind ${k.kind} --quick (${k.label})`, function () {
    this.timeout(400_000);
    const name = uniqueName('bgtest_demo');
    const root = `/${name}`;
    let zk: ZkSession;
    let result: { code: number | null; stdout: string; stderr: string };

    before(async () => {
      zk = await connectZk();
      result = await demo(['--kind', k.kind, '--quick', '--name', name]);
    });

    after(async () => {
      await zk.removeRecursive(root);
      zk.close();
      await Promise.all([k.legacy.drop(name), k.new.drop(name)]);
    });

    it('plays the day and passes its own checks: zero failed reads, reads on both sides, a passing verification, both flips seen', () => {
      const out = result.stdout;
      expect(result.code, `${out.slice(-3000)}\n${result.stderr.slice(-2000)}`).to.equal(0);
      // No check of its own failed (a first verification may fail and be repaired: the demo says so).
      expect(out).to.match(/^Checks:$/m);
      expect(out).to.not.match(/^ +FAIL +/m);
      const reads = out.match(/reads served: legacy (\d+), new (\d+); failed reads: (\d+)/);
      expect(reads, out.slice(-3000)).to.not.equal(null);
      expect(Number(reads![3])).to.equal(0);
      expect(Number(reads![1])).to.be.greaterThan(0);
      expect(Number(reads![2])).to.be.greaterThan(0);
      const writes = out.match(/live writes made: (\d+) \((\d+) inserts, (\d+) updates, (\d+) deletes\); failed writes: (\d+)/);
      expect(writes).to.not.equal(null);
      expect(writes!.slice(2, 5).map(Number).every((n) => n > 0)).to.equal(true);
      expect(Number(writes![5])).to.equal(0);
      // The fleet was scaled: four workers at once, one SIGTERMed (exit 143) and replaced.
      expect(out).to.contain('--replicas=4: worker 4 started');
      expect(out).to.match(/worker \d exited with 143/);
      expect(out).to.contain('--replicas=4: worker 5 started');
      expect(out).to.match(/verification \S+: PASSED/);
      const flips = [...out.matchAll(/the readers first read from (new|legacy) [\d.]+ s after the flag was written; all 4 readers within [\d.]+ s/g)].map((m) => m[1]);
      expect(flips).to.deep.equal(['new', 'legacy', 'new']);
      expect(out).to.contain('spec: ');
      expect(out).to.contain('bin/bluegreen cutover --to new --spec ');
    });

    it('leaves both clusters holding the same documents, with the same content, legacy data and live writes alike', async () => {
      const [legacy, next] = await Promise.all([k.legacy.docs(name), k.new.docs(name)]);
      expect(legacy.size).to.be.greaterThan(2000);
      expect([...legacy.keys()].filter((id) => id.startsWith('live-')).length).to.be.greaterThan(0);
      const differing = [...new Set([...legacy.keys(), ...next.keys()])].filter((id) => legacy.get(id) !== next.get(id));
      expect(differing).to.deep.equal([]);
    });

    it('leaves the read flag on new after new → legacy → new, each behind a passing verification (none forced)', async () => {
      const specFile = result.stdout.match(/^spec: (\S+)/m)![1];
      const spec = loadSpec(specFile);
      expect(spec.zookeeper.root).to.equal(root);
      const got = await zk.getDataOrNull(new Layout(root, spec.migration).cutover);
      const state = JSON.parse(got!.data.toString()) as CutoverState;
      expect(state.read).to.equal('new');
      expect(state.history.map((h) => h.to)).to.deep.equal(['new', 'legacy', 'new']);
      const behind = state.history.filter((h) => h.to === 'new');
      expect(behind.every((h) => h.verification && !h.forced)).to.equal(true);
      const run = await new VerifyStore(zk, new MigrationStore(zk, spec)).readRun(behind[1].verification!);
      expect(run?.run.status).to.equal('passed');
    });
  });
}

describe('npm run demo: bad flags', () => {
  it('exits 2 with what is wrong, before touching the stack', async () => {
    const name = uniqueName('bgtest_demo_bad');
    const zk = await connectZk();
    try {
      for (const args of [['--kind', 'mongodb'], ['--docs', 'abc'], ['--docs', '50'], ['--bogus-flag'], ['--docs']]) {
        const r = await demo([...args, '--name', name]);
        expect(r.code, `${args.join(' ')}: ${r.stderr}`).to.equal(2);
        expect(r.stderr).to.match(/^error: /m);
        expect(r.stderr).to.contain(args[0].replace(/^--/, ''));
        expect(r.stdout).to.not.contain('bluegreen demo');
      }
      const r = await demo(['--name', 'Bad-Name']);
      expect(r.code).to.equal(2);
      expect(r.stderr).to.contain('--name is "Bad-Name"');
      expect(await zk.getDataOrNull(`/${name}`)).to.equal(null);
    } finally {
      zk.close();
    }
  });
});
