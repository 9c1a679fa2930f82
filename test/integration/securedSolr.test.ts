/**
 * Per-endpoint basic auth against a real secured Solr (optional server solr-secure: Solr 9 with
 * security.json, BasicAuthPlugin with blockUnknown and rule-based authorization; this file starts it
 * and stops it after). A copy from it works with a read-only user's credentials from the environment;
 * a wrong password, or none, is a clear error naming the endpoint, exit 2, nothing written (ZooKeeper
 * and both clusters as they were); the same as a target; no password in any output, log, status or
 * diagnostics report. The node serves https only, with a self-signed certificate: the spec gives it as
 * tls.caFile; without it, a clear error naming the endpoint, exit 2, nothing written. A read-only user
 * as the target's credentials, and a user of the wrong role (the node's version only) as either side,
 * are refused before anything is written: what the user may not do on which collection, and what to do.
 */
import { expect } from 'chai';
import yaml from 'js-yaml';
import { readFileSync } from 'node:fs';
import { fetch } from 'undici';
import type { ZkSession } from '../../src/coordination/zk';
import { generateDocs } from '../../src/demo/dataset';
import { SolrAdmin } from '../../src/demo/solrAdmin';
import { EXIT } from '../../src/errors';
import { run, writeSpec, type CliResult } from '../support/cli';
import { solrSnapshot, zkSnapshot } from '../support/snapshot';
import { connectZk, solrSecureCaFile, solrSecureDispatcher, solrSecureUsers, stack, uniqueName, withOptionalServer } from '../support/stack';

const secure = stack['solr-secure'];
const { admin, reader, guest } = solrSecureUsers;
const basic = (u: { username: string; password: string }) => `Basic ${Buffer.from(`${u.username}:${u.password}`).toString('base64')}`;

/** As the secured Solr's admin user (the operator's side: collections, documents). */
async function asAdmin(method: string, path: string, body?: string): Promise<any> {
  const res = await fetch(`${secure}${path}`, {
    method,
    headers: { authorization: `Basic ${Buffer.from(`${admin.username}:${admin.password}`).toString('base64')}`, 'content-type': 'application/json' },
    body,
    dispatcher: solrSecureDispatcher(),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status} ${text.slice(0, 300)}`);
  return JSON.parse(text);
}

/** The secured Solr's collections and their counts (solrSnapshot's, with the admin's credentials). */
async function secureSnapshot(): Promise<Record<string, number>> {
  const { collections } = await asAdmin('GET', '/admin/collections?action=LIST&wt=json');
  const out: Record<string, number> = {};
  for (const c of (collections as string[]).sort()) out[c] = Number((await asAdmin('GET', `/${c}/select?q=*:*&rows=0&wt=json`)).response.numFound);
  return out;
}

describe('secured Solr: basic auth against a real Solr with security.json (optional server, started for this file)', function () {
  this.timeout(300_000);
  withOptionalServer('solr-secure');
  const next = new SolrAdmin(stack.solrNew);
  const collection = uniqueName('bgtest_secure');
  const root = `/${uniqueName('bgtest')}`;
  let zk: ZkSession;
  const outputs: CliResult[] = [];
  const runLogged = async (args: string[], env: NodeJS.ProcessEnv = {}) => {
    const r = await run(args, env);
    outputs.push(r);
    return r;
  };
  const specFor = (migration: string, from: 'secure' | 'plain', ca: 'ca' | 'no-ca' = 'ca') => writeSpec({
    migration,
    zookeeper: { connect: stack.zk, root },
    source: from === 'secure' ? { kind: 'solr', url: secure, collection, ...(ca === 'ca' ? { tls: { caFile: solrSecureCaFile } } : {}) } : { kind: 'solr', url: stack.solrNew, collection },
    target: from === 'secure' ? { kind: 'solr', url: stack.solrNew, collection } : { kind: 'solr', url: secure, collection: `${collection}_t`, ...(ca === 'ca' ? { tls: { caFile: solrSecureCaFile } } : {}) },
    slicing: { targetDocsPerSlice: 30 },
    batch: { docs: 20 },
    verify: { gracePeriod: '1s' },
  });
  const sourceEnv = (password: string) => ({ BLUEGREEN_SOURCE_USERNAME: reader.username, BLUEGREEN_SOURCE_PASSWORD: password });

  before(async () => {
    zk = await connectZk();
    await asAdmin('GET', `/admin/collections?action=CREATE&name=${collection}&numShards=2&replicationFactor=1&collection.configName=bluegreen&wt=json`);
    await asAdmin('GET', `/admin/collections?action=CREATE&name=${collection}_t&numShards=1&replicationFactor=1&collection.configName=bluegreen&wt=json`);
    const docs = [...generateDocs([{ name: 'acme', docs: 50, spanDays: 2 }, { name: 'bolt', docs: 20, spanDays: 1 }], Date.UTC(2025, 5, 2), 7)];
    await asAdmin('POST', `/${collection}/update?commit=true&wt=json`, JSON.stringify(docs));
    await next.createCollection(collection, 1);
    // The premise: without credentials the secured Solr answers nothing.
    expect((await fetch(`${secure}/${collection}/select?q=*:*&wt=json`, { dispatcher: solrSecureDispatcher() })).status).to.equal(401);
    // And it speaks https only, with a certificate no default CA store trusts.
    expect(secure.startsWith('https://')).to.equal(true);
    let untrusted: unknown;
    await fetch(`${secure}/admin/info/system?wt=json`).catch((e) => (untrusted = e));
    expect(String((untrusted as any)?.cause?.code)).to.match(/SELF_SIGNED|UNABLE_TO_VERIFY/);
  });

  after(async () => {
    await zk.removeRecursive(root);
    zk.close();
    await next.deleteCollection(collection);
    for (const c of [collection, `${collection}_t`]) await asAdmin('GET', `/admin/collections?action=DELETE&name=${c}&wt=json`).catch(() => undefined);
  });

  it('a wrong password (or none) for the source: a clear error naming the endpoint, exit 2, nothing written', async () => {
    const spec = specFor(uniqueName('sec_wrong'), 'secure');
    const zkBefore = await zkSnapshot(zk);
    const [plainBefore, secureBefore] = await Promise.all([solrSnapshot(stack.solrNew), secureSnapshot()]);
    for (const env of [sourceEnv('not-the-password'), {}] as NodeJS.ProcessEnv[]) {
      for (const cmd of [['plan', '--spec', spec, '--dry-run'], ['plan', '--spec', spec], ['work', '--spec', spec]]) {
        const r = await runLogged(cmd, env);
        expect(r.code, `${cmd.join(' ')}: ${r.stderr}`).to.equal(EXIT.USAGE);
        expect(r.stderr).to.contain(`Solr at ${secure} refused the credentials (HTTP 401)`);
        expect(r.stderr).to.contain((env as NodeJS.ProcessEnv).BLUEGREEN_SOURCE_USERNAME ? `of user "${reader.username}"` : ': none were given');
        expect(r.stderr).to.contain('BLUEGREEN_SOURCE_PASSWORD');
      }
    }
    expect(await zkSnapshot(zk)).to.deep.equal(zkBefore);
    expect(await solrSnapshot(stack.solrNew)).to.deep.equal(plainBefore);
    expect(await secureSnapshot()).to.deep.equal(secureBefore);
  });

  it('https without the CA in the spec (source or target): a clear error naming the endpoint and tls.caFile, exit 2, nothing written', async () => {
    const zkBefore = await zkSnapshot(zk);
    const [plainBefore, secureBefore] = await Promise.all([solrSnapshot(stack.solrNew), secureSnapshot()]);
    const source = specFor(uniqueName('sec_noca'), 'secure', 'no-ca');
    const target = specFor(uniqueName('sec_noca_t'), 'plain', 'no-ca');
    // A dry run does not contact the target (as for its credentials): plan does.
    const cases: [string[][], NodeJS.ProcessEnv][] = [
      [[['plan', '--spec', source, '--dry-run'], ['plan', '--spec', source], ['work', '--spec', source]], sourceEnv(reader.password)],
      [[['plan', '--spec', target]], { BLUEGREEN_TARGET_USERNAME: admin.username, BLUEGREEN_TARGET_PASSWORD: admin.password }],
    ];
    for (const [cmds, env] of cases) {
      for (const cmd of cmds) {
        const r = await runLogged(cmd, env);
        expect(r.code, `${cmd.join(' ')}: ${r.stderr}`).to.equal(EXIT.USAGE);
        expect(r.stderr).to.contain(`Solr at ${secure} presented a TLS certificate that is not trusted`);
        expect(r.stderr).to.contain('as tls.caFile of that endpoint in the spec');
      }
    }
    // A CA that did not sign the server's certificate (the system's bundle): the same error.
    const wrongCa = writeSpec({ ...yaml.load(readFileSync(source, 'utf8')) as any, source: { kind: 'solr', url: secure, collection, tls: { caFile: '/etc/ssl/certs/ca-certificates.crt' } } });
    const w = await runLogged(['plan', '--spec', wrongCa], sourceEnv(reader.password));
    expect(w.code, w.stderr).to.equal(EXIT.USAGE);
    expect(w.stderr).to.contain(`Solr at ${secure} presented a TLS certificate that is not trusted`);
    // A caFile that is not there: bad input naming the file.
    const missing = writeSpec({ ...yaml.load(readFileSync(source, 'utf8')) as any, source: { kind: 'solr', url: secure, collection, tls: { caFile: `${solrSecureCaFile}.missing` } } });
    const m = await runLogged(['plan', '--spec', missing], sourceEnv(reader.password));
    expect(m.code, m.stderr).to.equal(EXIT.USAGE);
    expect(m.stderr).to.contain(`tls.caFile ${solrSecureCaFile}.missing cannot be read: ENOENT`);
    expect(await zkSnapshot(zk)).to.deep.equal(zkBefore);
    expect(await solrSnapshot(stack.solrNew)).to.deep.equal(plainBefore);
    expect(await secureSnapshot()).to.deep.equal(secureBefore);
  });

  it('a copy from the secured Solr over https (CA in the spec) with a read-only user\'s credentials from the environment: plan, work, verify, status', async () => {
    const spec = specFor(uniqueName('sec_copy'), 'secure');
    const env = sourceEnv(reader.password);
    const p = await runLogged(['plan', '--spec', spec], env);
    expect(p.code, p.stderr).to.equal(EXIT.OK);
    const w = await runLogged(['work', '--spec', spec], env);
    expect(w.code, w.stderr).to.equal(EXIT.OK);
    await next.commit(collection);
    expect(await next.count(collection)).to.equal(70);
    const v = await runLogged(['verify-integrity', '--spec', spec, '--json'], env);
    expect(v.code, v.stderr).to.equal(EXIT.OK);
    expect(JSON.parse(v.stdout).run.totals).to.include({ missing: 0, extra: 0, different: 0 });
    const s = await runLogged(['status', '--spec', spec, '--json'], env);
    expect(s.code, s.stderr).to.equal(EXIT.OK);
    expect(JSON.parse(s.stdout).migration).to.be.a('string');
    const d = await runLogged(['diagnostics', '--spec', spec], env);
    expect(d.code, d.stderr).to.equal(EXIT.OK);
  });

  it('as a target: a wrong password is exit 2 with nothing written; the admin\'s credentials copy into it', async () => {
    const spec = specFor(uniqueName('sec_target'), 'plain');
    const zkBefore = await zkSnapshot(zk);
    const secureBefore = await secureSnapshot();
    const wrong = await runLogged(['plan', '--spec', spec], { BLUEGREEN_TARGET_USERNAME: admin.username, BLUEGREEN_TARGET_PASSWORD: 'wrong' });
    expect(wrong.code).to.equal(EXIT.USAGE);
    expect(wrong.stderr).to.contain(`Solr at ${secure} refused the credentials (HTTP 401)`);
    expect(await zkSnapshot(zk)).to.deep.equal(zkBefore);
    expect(await secureSnapshot()).to.deep.equal(secureBefore);
    // With the admin's credentials the copy into the secured Solr works.
    const env = { BLUEGREEN_TARGET_USERNAME: admin.username, BLUEGREEN_TARGET_PASSWORD: admin.password };
    expect((await runLogged(['plan', '--spec', spec], env)).code).to.equal(EXIT.OK);
    const w = await runLogged(['work', '--spec', spec], env);
    expect(w.code, w.stderr).to.equal(EXIT.OK);
    await asAdmin('GET', `/${collection}_t/update?commit=true&wt=json`);
    expect((await secureSnapshot())[`${collection}_t`]).to.equal(70);
  });

  it('a read-only user\'s credentials for the target: plan, work and verify --repair say it may not write to the collection, exit 2, nothing changed', async () => {
    const spec = specFor(uniqueName('sec_ro_target'), 'plain');
    const env = { BLUEGREEN_TARGET_USERNAME: reader.username, BLUEGREEN_TARGET_PASSWORD: reader.password };
    const zkBefore = await zkSnapshot(zk);
    const [plainBefore, secureBefore] = await Promise.all([solrSnapshot(stack.solrNew), secureSnapshot()]);
    // The premise: the reader may read the collection, and Solr refuses it a write (403).
    expect((await fetch(`${secure}/${collection}_t/select?q=*:*&rows=0&wt=json`, { headers: { authorization: basic(reader) }, dispatcher: solrSecureDispatcher() })).status).to.equal(200);
    expect((await fetch(`${secure}/${collection}_t/update?wt=json`, { method: 'POST', headers: { authorization: basic(reader), 'content-type': 'application/json' }, body: '[]', dispatcher: solrSecureDispatcher() })).status).to.equal(403);
    for (const cmd of [['plan', '--spec', spec], ['work', '--spec', spec], ['verify-integrity', '--spec', spec, '--repair']]) {
      const r = await runLogged(cmd, env);
      expect(r.code, `${cmd.join(' ')}: ${r.stderr}`).to.equal(EXIT.USAGE);
      expect(r.stderr).to.contain(`Solr at ${secure} accepted the credentials of user "${reader.username}" but it may not write to collection "${collection}_t" (HTTP 403: not authorized)`);
      expect(r.stderr).to.contain('Give that user a role with the "update" permission').and.to.contain('Nothing was changed.');
      expect(r.stderr, 'no stack trace for an operator error').to.not.match(/\n\s+at /);
    }
    expect(await zkSnapshot(zk)).to.deep.equal(zkBefore);
    expect(await solrSnapshot(stack.solrNew)).to.deep.equal(plainBefore);
    expect(await secureSnapshot()).to.deep.equal(secureBefore);
  });

  it('a user of the wrong role (the node\'s version only) as the source or the target: it may not read the collection\'s schema, exit 2, nothing changed', async () => {
    const source = specFor(uniqueName('sec_guest'), 'secure');
    const target = specFor(uniqueName('sec_guest_t'), 'plain');
    const zkBefore = await zkSnapshot(zk);
    const [plainBefore, secureBefore] = await Promise.all([solrSnapshot(stack.solrNew), secureSnapshot()]);
    const cases: Array<[string[], NodeJS.ProcessEnv, string]> = [
      [['plan', '--spec', source, '--dry-run'], { BLUEGREEN_SOURCE_USERNAME: guest.username, BLUEGREEN_SOURCE_PASSWORD: guest.password }, collection],
      [['plan', '--spec', source], { BLUEGREEN_SOURCE_USERNAME: guest.username, BLUEGREEN_SOURCE_PASSWORD: guest.password }, collection],
      [['work', '--spec', source], { BLUEGREEN_SOURCE_USERNAME: guest.username, BLUEGREEN_SOURCE_PASSWORD: guest.password }, collection],
      [['plan', '--spec', target], { BLUEGREEN_TARGET_USERNAME: guest.username, BLUEGREEN_TARGET_PASSWORD: guest.password }, `${collection}_t`],
    ];
    for (const [cmd, env, coll] of cases) {
      const r = await runLogged(cmd, env);
      expect(r.code, `${cmd.join(' ')}: ${r.stderr}`).to.equal(EXIT.USAGE);
      expect(r.stderr).to.contain(`Solr at ${secure} accepted the credentials of user "${guest.username}" but it may not read the schema of collection "${coll}" (HTTP 403: not authorized)`);
      expect(r.stderr).to.contain('Give that user a role with the "schema-read" permission');
      expect(r.stderr, 'no stack trace for an operator error').to.not.match(/\n\s+at /);
    }
    expect(await zkSnapshot(zk)).to.deep.equal(zkBefore);
    expect(await solrSnapshot(stack.solrNew)).to.deep.equal(plainBefore);
    expect(await secureSnapshot()).to.deep.equal(secureBefore);
  });

  it('no password appears in any output, log line, status or diagnostics report', () => {
    expect(outputs.length).to.be.greaterThan(5);
    for (const r of outputs) {
      for (const secret of [admin.password, reader.password, guest.password, 'not-the-password']) {
        expect(r.stdout).to.not.contain(secret);
        expect(r.stderr).to.not.contain(secret);
        // Nor its basic-auth form.
        for (const u of [admin.username, reader.username, guest.username]) {
          const b64 = Buffer.from(`${u}:${secret}`).toString('base64');
          expect(r.stdout + r.stderr).to.not.contain(b64);
        }
      }
    }
  });
});
