/**
 * Elasticsearch bad input gets a clear error, exit 2, and changes nothing: not ZooKeeper, not the clusters.
 */
import { expect } from 'chai';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateSpec } from '../../src/config/spec';
import type { ZkSession } from '../../src/coordination/zk';
import { EXIT, UserError } from '../../src/errors';
import { prepareTarget } from '../../src/prepare/targetPrep';
import { run, writeSpec } from '../support/cli';
import { EsAdmin, TEST_MAPPING } from '../support/esAdmin';
import { esSnapshot, zkSnapshot } from '../support/snapshot';
import { connectZk, stack, uniqueName } from '../support/stack';

/** ZooKeeper (every node, with its stat) and both Elasticsearch clusters (indices, settings, aliases), to compare before/after. */
async function snapshot(zk: ZkSession) {
  return { zk: await zkSnapshot(zk), legacy: await esSnapshot(stack.esLegacy), next: await esSnapshot(stack.esNew) };
}

describe('Elasticsearch bad input', function () {
  this.timeout(120_000);
  const legacy = new EsAdmin(stack.esLegacy);
  const next = new EsAdmin(stack.esNew);
  const index = uniqueName('bgtest_es_bad');
  const textId = uniqueName('bgtest_es_textid');
  const noId = uniqueName('bgtest_es_noid');
  const missingTarget = uniqueName('bgtest_es_missing');
  const root = `/${uniqueName('bgtest')}`;
  let zk: ZkSession;
  const base = () => ({
    migration: 'bad',
    zookeeper: { connect: stack.zk, root, connectTimeout: '3s' },
    source: { kind: 'elasticsearch', url: stack.esLegacy, collection: index },
    target: { kind: 'elasticsearch', url: stack.esNew, collection: index },
  });
  const doc = { id: 'x1', customer: 'c', timestamp: '2024-01-01T00:00:00Z', title: 't' };

  before(async () => {
    zk = await connectZk();
    await Promise.all([
      legacy.createIndex(index, { mappings: TEST_MAPPING }),
      next.createIndex(index, { mappings: TEST_MAPPING }),
      // Dynamic mapping makes a string id a text field (with an id.keyword sub-field).
      legacy.createIndex(textId, {}),
      legacy.createIndex(noId, { mappings: TEST_MAPPING }),
    ]);
    await legacy.index(index, [{ _id: 'x1', source: doc }]);
    await legacy.index(textId, [{ _id: 'x1', source: doc }]);
    await legacy.index(noId, [{ _id: 'x1', source: doc }, { _id: 'x2', source: { customer: 'c', timestamp: '2024-01-01T00:00:00Z' } }]);
  });
  after(async () => {
    await zk.removeRecursive(root);
    zk.close();
    await Promise.all([legacy.deleteIndex(index), next.deleteIndex(index), legacy.deleteIndex(textId), legacy.deleteIndex(noId), next.deleteIndex(missingTarget)]);
  });

  async function expectRefused(spec: object, message: RegExp, command = ['plan']) {
    const before = await snapshot(zk);
    const r = await run([...command, '--spec', writeSpec(spec)]);
    expect(r.code, r.stderr).to.equal(EXIT.USAGE);
    expect(r.stderr).to.match(message);
    expect(r.stderr).to.match(/what to do: /);
    expect(r.stderr, 'no stack trace for an operator error').not.to.match(/\n\s+at /);
    expect(await zk.exists(root), 'nothing written to ZooKeeper').to.equal(null);
    await next.refresh(index);
    expect(await next.count(index), 'nothing written to the target').to.equal(0);
    expect(await next.exists(missingTarget), 'no index created').to.equal(false);
    expect(await snapshot(zk), 'ZooKeeper and both clusters exactly as they were').to.deep.equal(before);
  }

  it('a missing source index', () =>
    expectRefused({ ...base(), source: { ...base().source, collection: 'no_such_index' } }, /has no index \(or alias\) "no_such_index"[\s\S]*what to do: Fix source\.collection/));

  it('a missing target index, with no target.prepare to create it', () =>
    expectRefused({ ...base(), target: { ...base().target, collection: missingTarget } }, /has no index \(or alias\) "bgtest_es_missing_\w+"[\s\S]*target\.prepare\.mappingsFile/));

  it('a uniqueKey that is not a keyword field (a dynamically mapped id)', () =>
    expectRefused({ ...base(), source: { ...base().source, collection: textId } },
      /"id" \(fields\.uniqueKey\) is a text field; paging sorts on it \(search_after\), so it must be a keyword field/));

  it('documents with no unique key value', () =>
    expectRefused({ ...base(), source: { ...base().source, collection: noId } }, /1 document\(s\) of .* have no value in "id"/));

  it('a customer field that is not mapped, and a version field that is not numeric, all named at once', () =>
    expectRefused({ ...base(), fields: { customer: 'tenant' }, copy: { versionField: 'title' } },
      /(?=[\s\S]*no field "tenant" \(fields\.customer\))(?=[\s\S]*"title" \(copy\.versionField\) is a text field)/));

  it('an unreachable cluster', () =>
    expectRefused({ ...base(), source: { ...base().source, url: 'http://127.0.0.1:1' } }, /Elasticsearch at http:\/\/127\.0\.0\.1:1 is unreachable/));

  it('a URL that is not Elasticsearch', () =>
    expectRefused({ ...base(), target: { ...base().target, url: `${stack.solrNew}` } }, /does not look like an Elasticsearch node/));

  it('a mappings file for target.prepare that would not do', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bg-es-bad-'));
    const mappingsFile = join(dir, 'mappings.json');
    writeFileSync(mappingsFile, JSON.stringify({ mappings: { properties: { id: { type: 'text' }, customer: { type: 'keyword' }, timestamp: { type: 'date' } } } }));
    return expectRefused({ ...base(), target: { ...base().target, collection: missingTarget, prepare: { mappingsFile, tuneForBulk: true } } },
      /The mappings file .*mappings\.json \(target\.prepare\.mappingsFile\) would create an index bluegreen cannot migrate into:\n\s+- "id" \(fields\.uniqueKey\) is a text field/);
  });

  it('work on a missing source index is refused the same way', () =>
    expectRefused({ ...base(), source: { ...base().source, collection: 'no_such_index' } }, /has no index \(or alias\) "no_such_index"/, ['work']));

  describe('the target is the source, with target.prepare.tuneForBulk', () => {
    const alias = uniqueName('bgtest_es_bad_alias');
    const hostPort = stack.esLegacy.replace(/^http:\/\/[^:/]+/, '');
    const prepare = { tuneForBulk: true };
    let original: Awaited<ReturnType<EsAdmin['bulkSettings']>>;
    before(async () => {
      await legacy.putAlias(index, alias);
      original = await legacy.bulkSettings(index);
      expect(original.refresh_interval).not.to.equal('-1');
    });
    const sourceUntouched = async () => expect(await legacy.bulkSettings(index), 'the source index is not tuned').to.deep.equal(original);

    for (const [what, url] of [
      ['a trailing slash', `${stack.esLegacy}/`],
      ['localhost for 127.0.0.1', `http://localhost${hostPort}`],
      ['the URL given as a list', [stack.esNew, `${stack.esLegacy}//`]],
    ] as Array<[string, string | string[]]>) {
      it(`the same index, ${what}`, async () => {
        await expectRefused({ ...base(), target: { ...base().source, url, prepare } }, /same collection on the same cluster/);
        await sourceUntouched();
      });
    }

    it('an alias of the source index on the source cluster, spelled another way (asked of Elasticsearch: index UUIDs)', async () => {
      await expectRefused({ ...base(), target: { ...base().source, url: `http://localhost${hostPort}/`, collection: alias, prepare } },
        new RegExp(`The target is the source: target\\.collection "${alias}" \\(${index}\\)[\\s\\S]*one cluster, cluster UUID`));
      await sourceUntouched();
    });

    it('work and verify-integrity refuse it too', async () => {
      for (const cmd of ['work', 'verify-integrity']) {
        await expectRefused({ ...base(), target: { ...base().source, collection: alias, prepare } }, /The target is the source/, [cmd]);
      }
      await sourceUntouched();
    });

    it('target.prepare itself refuses to touch an index that resolves to the source (whoever calls it)', async () => {
      const spec = validateSpec({ ...base(), target: { ...base().source, url: `http://localhost${hostPort}`, collection: alias, prepare } });
      const before = await snapshot(zk);
      let err: unknown;
      await prepareTarget(zk, spec, 'test').catch((e) => (err = e));
      expect(err).to.be.instanceOf(UserError);
      expect((err as Error).message).to.match(/The target is the source/);
      expect(await snapshot(zk)).to.deep.equal(before);
      await sourceUntouched();
    });
  });
});
