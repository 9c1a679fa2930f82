/** The dual writer's ZooKeeper records: their paths (bucketed, any id a legal name) and their decoder. */
import { expect } from 'chai';
import { DUAL_WRITE_BUCKETS, Layout, idNodeName, recordBucket } from '../../src/coordination/layout';
import { CorruptNodeError, decodeNode, nodeKindOf } from '../../src/coordination/nodes';

const buf = (v: unknown) => Buffer.from(JSON.stringify(v));
const RECORD = { id: 'o/1', op: 'index', customer: 'acme', truth: 'legacy', behind: 'new', at: 1, by: 'host-1-abc', error: 'HTTP 403' };

describe('dual-write records in ZooKeeper', () => {
  it('names any id as one legal node name, reversibly', () => {
    for (const id of ['o-1', 'a/b', '.', '..', 'x.y', 'ünï côdé', '_none', '%41', 'a b?c#d']) {
      const name = idNodeName(id);
      expect(name, id).to.match(/^[A-Za-z0-9%_\-!~*'()]+$/);
      expect(name).to.not.be.oneOf(['.', '..']);
      expect(decodeURIComponent(name)).to.equal(id);
    }
  });

  it('spreads ids over a fixed number of buckets, the same bucket for the same id in every process', () => {
    const seen = new Map<string, number>();
    for (let i = 0; i < 20_000; i++) {
      const b = recordBucket(`doc-${i}`);
      seen.set(b, (seen.get(b) ?? 0) + 1);
    }
    expect(seen.size).to.equal(DUAL_WRITE_BUCKETS);
    expect(Math.max(...seen.values())).to.be.below(20_000 / DUAL_WRITE_BUCKETS * 3);
    expect(recordBucket('o-1')).to.equal(recordBucket('o-1')).and.to.match(/^[0-9a-f]{3}$/);
    expect(new Layout('/bluegreen', 'm').dualWrite('a/b')).to.equal(`/bluegreen/m/dualwrite/${recordBucket('a/b')}/a%2Fb`);
  });

  it('decodes a record through the one validating reader, and refuses a corrupt one saying what to do', () => {
    const path = new Layout('/bg', 'm').dualWrite('o/1');
    expect(nodeKindOf(path)).to.equal('dualWrite');
    // An id named like another node kind is still a record.
    expect(nodeKindOf(new Layout('/bg', 'm').dualWrite('plan').replace(/[^/]+$/, 'plan'))).to.equal('dualWrite');
    expect(decodeNode('dualWrite', buf(RECORD), path)).to.deep.equal(RECORD);
    const refused = (v: unknown) => {
      try {
        decodeNode('dualWrite', buf(v), path);
      } catch (e) {
        expect(e).to.be.instanceOf(CorruptNodeError);
        return (e as Error).message + (e as CorruptNodeError).hint;
      }
      throw new Error('expected the record to be refused');
    };
    expect(refused({ ...RECORD, behind: 'legacy' })).to.match(/dual-write record[\s\S]*behind[\s\S]*the same side as truth[\s\S]*zkCli\.sh delete/);
    expect(refused({ ...RECORD, op: 'upsert' })).to.match(/op is "upsert"/);
    expect(refused({ ...RECORD, truth: undefined })).to.match(/missing: truth/);
  });
});
