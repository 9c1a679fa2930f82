/**
 * What operators watch: /metrics moving with a real migration and matching what was copied,
 * /healthz and /readyz flipping with ZooKeeper, log lines carrying their context and no secret.
 */
import { expect } from 'chai';
import { generateDocs } from '../../src/demo/dataset';
import { SolrAdmin } from '../../src/demo/solrAdmin';
import { EXIT } from '../../src/errors';
import { run, start, writeSpec } from '../support/cli';
import { PrivateZk, freePort } from '../support/privateZk';
import { stack, uniqueName } from '../support/stack';

const SECRET = 'TopSecret-9f3a';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function metric(text: string, name: string): number {
  return text.split('\n').filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `))
    .reduce((s, l) => s + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
}

describe('operations: metrics, health, logs', function () {
  this.timeout(180_000);
  const legacy = new SolrAdmin(stack.solrLegacy);
  const next = new SolrAdmin(stack.solrNew);
  const collection = uniqueName('bgtest_ops');
  let zk: PrivateZk;
  const TOTAL = 3000;

  before(async () => {
    zk = await PrivateZk.start();
    await Promise.all([legacy.createCollection(collection, 1), next.createCollection(collection, 1)]);
    await legacy.index(collection, [...generateDocs([{ name: 'one', docs: 2000, spanDays: 5 }, { name: 'two', docs: 1000, spanDays: 50 }], Date.now(), 5)], true);
  });
  after(async () => {
    await zk.down();
    await Promise.all([legacy.deleteCollection(collection), next.deleteCollection(collection)]);
  });

  it('scrapes counters that move during the copy and match it; readiness follows ZooKeeper; logs carry context, never secrets', async () => {
    const spec = writeSpec({
      migration: 'ops',
      zookeeper: { connect: zk.connect, sessionTimeout: '10s' },
      source: { kind: 'solr', url: stack.solrLegacy, collection, auth: { username: 'reader' } },
      target: { kind: 'solr', url: stack.solrNew, collection },
      slicing: { targetDocsPerSlice: 500 },
      batch: { docs: 100 },
      worker: { docsPerSecond: 1000, slicesInFlight: 1 },
    });
    const env = { BLUEGREEN_SOURCE_PASSWORD: SECRET, BLUEGREEN_LOG_LEVEL: 'debug' };
    const plan = await run(['plan', '--spec', spec], env);
    expect(plan.code, plan.stderr).to.equal(0);
    const port = await freePort();
    const w = start(['work', '--spec', spec, '--follow', '--http-port', String(port)], env);
    const base = `http://127.0.0.1:${port}`;
    const scrape = async () => (await fetch(`${base}/metrics`)).text();

    let first = '';
    for (let i = 0; i < 100 && !first; i++) {
      await sleep(100);
      first = await scrape().then((t) => (metric(t, 'bluegreen_documents_read_total') > 0 ? t : ''), () => '');
    }
    expect(first, 'metrics served during the copy').to.not.equal('');
    await sleep(1000);
    const second = await scrape();
    expect(metric(second, 'bluegreen_documents_read_total')).to.be.greaterThan(metric(first, 'bluegreen_documents_read_total'));
    let final = second;
    for (let i = 0; i < 150 && metric(final, 'bluegreen_documents_read_total') < TOTAL; i++) {
      await sleep(200);
      final = await scrape();
    }
    await next.commit(collection);
    expect(metric(final, 'bluegreen_documents_read_total')).to.equal(TOTAL);
    expect(metric(final, 'bluegreen_documents_written_total')).to.equal(await next.count(collection));
    expect(metric(final, 'bluegreen_documents_skipped_total')).to.equal(0);
    expect(final).to.match(/bluegreen_documents_written_total\{migration="ops",customer="one"\} 2000/);
    expect(final).to.match(/bluegreen_read_batch_seconds_count\{migration="ops"\} \d+/);
    expect(final).to.match(/bluegreen_process_cpu_seconds_total/);
    expect(metric(final, 'bluegreen_zookeeper_connected')).to.equal(1);
    expect(final).to.match(/bluegreen_slices\{migration="ops",state="done"\} \d+/);

    expect((await fetch(`${base}/healthz`)).status).to.equal(200);
    expect((await fetch(`${base}/readyz`)).status).to.equal(200);
    await zk.down();
    let ready = 200;
    // Deadlines, not counts of tries: on a busy machine the session's loss and its return take longer.
    for (const end = Date.now() + 30_000; ready === 200 && Date.now() < end;) {
      await sleep(100);
      ready = (await fetch(`${base}/readyz`)).status;
    }
    expect(ready, '/readyz flips when ZooKeeper is gone').to.equal(503);
    expect((await fetch(`${base}/healthz`)).status, 'the process itself is alive').to.equal(200);
    expect(metric(await scrape(), 'bluegreen_zookeeper_connected')).to.equal(0);
    await zk.up();
    for (const end = Date.now() + 60_000; ready !== 200 && Date.now() < end;) {
      await sleep(100);
      ready = (await fetch(`${base}/readyz`)).status;
    }
    expect(ready, '/readyz recovers with ZooKeeper').to.equal(200);

    w.child.kill('SIGTERM');
    const r = await w.done;
    expect(r.code).to.equal(EXIT.INTERRUPTED);
    const lines = r.stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
    expect(lines.length).to.be.greaterThan(10);
    for (const l of lines) expect(l, JSON.stringify(l)).to.include.keys('migration', 'worker');
    const sliceLines = lines.filter((l) => /slice (done|starting)|starting slice/.test(l.msg));
    expect(sliceLines.length).to.be.greaterThan(0);
    for (const l of sliceLines) expect(l).to.include.keys('customers', 'slice');

    const diag = await run(['diagnostics', '--spec', spec], env);
    expect(diag.code, diag.stderr).to.equal(0);
    const report = JSON.parse(diag.stdout);
    expect(Object.keys(report.customers).sort()).to.deep.equal(['one', 'two']);
    expect(report.spec.source.auth.password).to.equal('[redacted]');
    for (const text of [r.stdout, r.stderr, final, diag.stdout, diag.stderr, plan.stdout, plan.stderr]) {
      expect(text.includes(SECRET), 'a secret leaked').to.equal(false);
    }
  });
});
