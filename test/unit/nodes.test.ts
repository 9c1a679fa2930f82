import { expect } from 'chai';
import { CorruptNodeError, decodeNode, nodeKindOf } from '../../src/coordination/nodes';
import { newWorkNode } from '../../src/coordination/workNode';
import { decodeJson } from '../../src/coordination/zk';
import { INITIAL_STATE } from '../../src/cutover/cutover';

const SLICE = '/bg/m/slices/3/000003';
const buf = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v));

function corrupt(kind: Parameters<typeof decodeNode>[0], data: Buffer, path = SLICE): CorruptNodeError {
  try {
    decodeNode(kind, data, path);
  } catch (e) {
    expect(e).to.be.instanceOf(CorruptNodeError);
    return e as CorruptNodeError;
  }
  throw new Error('expected the node to be refused');
}

describe('ZooKeeper node decoding (one validating reader)', () => {
  it('decodes a well-formed node and keeps fields it does not know', () => {
    const node = { ...newWorkNode(['acme'], 3, { kind: 'range', from: 0, to: 10 }, 5), futureField: 1 };
    expect(decodeNode('slice', buf(node), SLICE)).to.deep.equal(node);
    expect(decodeNode('cutover', buf(INITIAL_STATE), '/bg/m/cutover')).to.deep.equal(INITIAL_STATE);
  });

  it('refuses null, lists, strings, empty data and non-JSON, naming the path and what to do', () => {
    for (const [data, message] of [['null', /it holds null, not an object/], ['[]', /it holds a list/], ['"x"', /a string/], ['', /empty/], ['{x', /does not hold JSON/]] as const) {
      const e = corrupt('slice', buf(data));
      expect(e.message).to.match(message);
      expect(e.message).to.contain(`The ZooKeeper node ${SLICE} is corrupt (a work node)`);
      expect(e.hint).to.match(/zkCli\.sh get \/bg\/m\/slices\/3\/000003[\s\S]*deleteall \/bg\/m\/plan[\s\S]*bluegreen plan/);
      expect(e.exitCode).to.equal(2);
    }
  });

  it('names the wrong values first, then what is missing', () => {
    expect(corrupt('slice', buf({ status: 'weird' })).message).to.match(/status is "weird": Invalid enum value[\s\S]*; missing: customers, index, bounds/);
    const node = newWorkNode(['acme'], 3, { kind: 'range', from: 0, to: 10 }, 5);
    expect(corrupt('slice', buf({ ...node, counts: { ...node.counts, read: -1 } })).message).to.match(/counts\.read is -1/);
    expect(corrupt('slice', buf({ ...node, bounds: { kind: 'sometimes' } })).message).to.match(/bounds\.kind/);
    expect(corrupt('slice', buf({ ...node, cursor: 7 })).message).to.match(/cursor is 7/);
  });

  it('has a schema for every node kind the commands read', () => {
    expect(corrupt('claim', buf({ worker: 'w', session: 's' })).message).to.match(/missing: since/);
    expect(corrupt('plan', buf({ slices: 'x' }), '/bg/m/plan').message).to.match(/the plan node\): slices is "x"/);
    expect(corrupt('summary', buf({ done: -1, failed: [], counts: { read: 0, written: 0, skipped: 0, rejected: 0 } }), '/bg/m/summary/0a').message).to.match(/bucket summary[\s\S]*done is -1/);
    expect(corrupt('customerIndex', buf({ customers: { acme: { first: 'x' } } }), '/bg/m/customers/0a').message).to.match(/customer index[\s\S]*customers\.acme\.first is "x"/);
    expect(corrupt('slice', buf({ ...newWorkNode(['acme'], 3, { kind: 'all' }, 5), customers: [] })).message).to.match(/customers/);
    expect(corrupt('spec', buf({ hash: 1 }), '/bg/m/spec').message).to.match(/hash is 1/);
    expect(corrupt('cutover', buf({ ...INITIAL_STATE, read: 'both' }), '/bg/m/cutover').message).to.match(/read is "both"/);
    expect(corrupt('target', buf({ index: 'i', state: 'tuned', createdIndex: false, tuneForBulk: true, original: null, steps: [] }), '/bg/m/target').message).to.match(/without the saved original settings/);
    expect(corrupt('verifyRun', buf({ id: 'r', startedAt: 1 }), '/bg/m/verify/r').message).to.match(/missing: startedBy/);
  });

  it('decodeJson checks paths the layout knows against their kind (the verifier reads through it)', () => {
    expect(nodeKindOf('/bg/m/verify/r1/results/000001')).to.equal('verifyResult');
    expect(nodeKindOf('/bg/m/verify/r1/tally/0a')).to.equal('verifyTally');
    expect(nodeKindOf('/bg/m/queue/0a/000003~claim')).to.equal('claim');
    expect(nodeKindOf('/bg/m/customers/0a')).to.equal('customerIndex');
    expect(nodeKindOf('/bg/m/summary/0a')).to.equal('summary');
    expect(nodeKindOf('/bg/m/plan')).to.equal('plan');
    expect(nodeKindOf('/bg/m/verify/r1')).to.equal('verifyRun');
    expect(nodeKindOf(SLICE)).to.equal('slice');
    expect(() => decodeJson(buf({ id: 'r', startedAt: 1 }), '/bg/m/verify/r1', () => null)).to.throw(CorruptNodeError, /a verification run/);
    expect(() => decodeJson(buf('null'), '/bg/unknown', () => null)).to.throw(CorruptNodeError, /not an object/);
  });

  it('says what was changed when a command met the node after it had acted', () => {
    const e = corrupt('slice', buf('[]')).withChanges('This worker had copied 3 document(s).');
    expect(e.hint).to.match(/This worker had copied 3 document\(s\)\.$/);
    expect(e.hint).not.to.match(/changed nothing/);
  });
});
