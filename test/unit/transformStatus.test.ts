/**
 * Status and metrics of transforms (issue 17), both modes: transform rejections counted apart from the
 * target's (work node counts, bucket summaries with their first ids), in-place counts (rewritten,
 * unchanged, conflicts re-read), the rendering of status, and the bounded metric labels.
 */
import { expect } from 'chai';
import { addToSummary } from '../../src/coordination/claim';
import { SUMMARY_TRANSFORM_REJECTIONS, addCounts, emptySummary, newWorkNode, transformCounts, type Rejection, type WorkNode } from '../../src/coordination/workNode';
import { TRANSFORM_OUTCOMES, countTransformed, registry } from '../../src/metrics';
import { renderStatus, type MigrationStatus } from '../../src/status/status';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Spec } from '../../src/config/spec';
import { transformPage } from '../../src/transform/apply';

const byTransform = (id: string): Rejection => ({ id, reason: `transform 1 threw: no ${id}`, by: 'transform' });
const byTarget = (id: string): Rejection => ({ id, reason: 'mapper_parsing_exception' });

function finished(index: number, rejections: Rejection[], counts: Partial<WorkNode['counts']> = {}): WorkNode {
  return { ...newWorkNode(['acme'], index, { kind: 'all' }, 10), status: 'done', finishedAt: 1, rejections, counts: addCounts({ read: 10, written: 8, skipped: 0, rejected: rejections.length }, counts) };
}

async function metricValue(name: string, labels: Record<string, string>): Promise<number> {
  const m = (await registry.getMetricsAsJSON()).find((x) => x.name === name);
  const v = (m?.values ?? []).find((x) => Object.entries(labels).every(([k, want]) => x.labels[k] === want));
  return v ? Number(v.value) : 0;
}

function status(over: Partial<MigrationStatus>, totals: Partial<MigrationStatus['totals']>): MigrationStatus {
  return {
    migration: 'm', planned: true, customerCount: 0, customers: [], docsPerSecond: 0, etaMs: 0, workers: [], inProgress: [], stuck: [], failed: [],
    verification: null, dualWritesRecorded: 0, cutover: { read: 'legacy', customers: {}, updatedAt: 0, history: [] }, lifecycle: null, at: 0,
    mode: 'copy', transform: null, transformRejections: [],
    totals: { estimate: 100, read: 0, written: 0, skipped: 0, rejected: 0, transformRejected: 0, conflicts: 0, slices: { todo: 0, inProgress: 0, done: 0, failed: 0, total: 0 }, ...totals },
    ...over,
  };
}

describe('transform status and metrics', () => {
  it('counts transform rejections and conflicts apart, and keeps nodes without them as they were', () => {
    const none = { read: 3, written: 3, skipped: 0, rejected: 0 };
    expect(transformCounts(none, [byTarget('x')])).to.deep.equal({});
    expect(addCounts(none, { read: 2, written: 1, skipped: 1, rejected: 0 })).to.deep.equal({ read: 5, written: 4, skipped: 1, rejected: 0 });
    const after = { ...none, rejected: 2, ...transformCounts(none, [byTarget('x'), byTransform('y')], 3) };
    expect(after).to.deep.equal({ read: 3, written: 3, skipped: 0, rejected: 2, transformRejected: 1, conflicts: 3 });
    expect(transformCounts(after, [byTransform('z')])).to.deep.equal({ transformRejected: 2, conflicts: 3 });
    // A failed slice taken out of its summary again (release --retry): back to nothing, the optional counts absent.
    expect(addCounts(after, after, -1)).to.deep.equal({ read: 0, written: 0, skipped: 0, rejected: 0 });
  });

  it('a bucket summary adds the counts and keeps the first transform rejections only (not the target\'s)', () => {
    let s = addToSummary(emptySummary(), finished(0, [byTarget('t-1'), byTransform('a-1'), byTransform('a-2')], { transformRejected: 2 }));
    expect(s.counts).to.deep.equal({ read: 10, written: 8, skipped: 0, rejected: 3, transformRejected: 2 });
    expect(s.transformRejections?.map((r) => r.id)).to.deep.equal(['a-1', 'a-2']);
    for (let i = 1; i < 6; i++) s = addToSummary(s, finished(i, [byTransform(`b-${i}`)], { transformRejected: 1, conflicts: 2 }));
    expect(s.counts).to.include({ rejected: 8, transformRejected: 7, conflicts: 10 });
    expect(s.transformRejections).to.have.length(SUMMARY_TRANSFORM_REJECTIONS);
    expect(s.transformRejections?.map((r) => r.id)).to.deep.equal(['a-1', 'a-2', 'b-1', 'b-2', 'b-3']);
    // Without a transform the summary keeps its old shape.
    expect(addToSummary(emptySummary(), finished(0, [byTarget('t-1')]))).not.to.have.property('transformRejections');
  });

  it('status shows the transform rejections (count, ids, messages) apart from the others, and in place what was rewritten', () => {
    const copy = renderStatus(status({ transform: '2', transformRejections: [byTransform('a-1'), byTransform('a-2')] }, { read: 10, written: 6, skipped: 1, rejected: 3, transformRejected: 2 }));
    expect(copy).to.contain('copied 6, skipped (live write won) 1, rejected by the target 1, rejected by the transform 2');
    expect(copy).to.contain('TRANSFORM REJECTIONS (dead letters): 2 document(s) the transform 2 refused; all');
    expect(copy).to.contain('  a-1: transform 1 threw: no a-1').and.to.contain('  a-2: transform 1 threw: no a-2');
    const inPlace = renderStatus(status({ mode: 'in-place', transform: '1', transformRejections: [byTransform('a-1')] }, { read: 40, written: 20, skipped: 15, rejected: 5, transformRejected: 4, conflicts: 3 }));
    expect(inPlace).to.contain('in place: read 40, rewritten 20, unchanged (fixed points, not written) 15, conflicts re-read (live writes) 3');
    expect(inPlace).to.contain('rejected by the transform 4, other rejections 1');
    expect(inPlace).to.contain('4 document(s) the transform 1 refused; the first 1');
    const plain = renderStatus(status({}, { read: 10, written: 9, rejected: 1 }));
    expect(plain).to.contain('copied 9, skipped (live write won) 0, rejected 1').and.not.to.contain('TRANSFORM');
  });

  it('the transform metric counts each outcome under a fixed label set, copies through transformPage', async () => {
    const migration = `m-${process.pid}-${Date.now()}`;
    // A real module, through the real loader (transformPage loads the spec's module by path).
    const module = join(mkdtempSync(join(tmpdir(), 'bg-tstatus-')), 'outcomes.cjs');
    writeFileSync(module, `const { defineTransform } = require(${JSON.stringify(resolve(__dirname, '../../src/index.js'))});
module.exports = defineTransform({
  version: '1',
  map(d, c) {
    if (d.kind === 'skip') return null;
    if (d.kind === 'boom') throw new Error('boom');
    if (d.kind === 'fan') return [{ ...d, id: c.id + '-1' }, { ...d, id: c.id + '-2' }];
    return d;
  },
});
`);
    const spec = { migration, transform: { module, version: '1' }, fields: { customer: 'customer', timestamp: 'timestamp', uniqueKey: 'id' } } as unknown as Spec;
    const docs = ['keep', 'keep', 'skip', 'boom', 'fan'].map((kind, i) => ({ id: `d${i}`, fields: { id: `d${i}`, customer: 'c', kind }, bytes: 10 }));
    const out = transformPage(spec, docs, 0);
    expect(out.rejected).to.deep.equal([{ id: 'd3', reason: 'transform 1 threw: boom', by: 'transform' }]);
    expect(out.docs.map((d) => d.id)).to.deep.equal(['d0', 'd1', 'd4-1', 'd4-2']);
    countTransformed(migration, { rewritten: 3, unchanged: 2, rejected: 1 }, 4);
    const name = 'bluegreen_transform_documents_total';
    expect(await metricValue(name, { migration, outcome: 'transformed' })).to.equal(2);
    expect(await metricValue(name, { migration, outcome: 'skipped' })).to.equal(1);
    expect(await metricValue(name, { migration, outcome: 'fanned_out' })).to.equal(1);
    expect(await metricValue(name, { migration, outcome: 'rejected' })).to.equal(2);
    expect(await metricValue(name, { migration, outcome: 'rewritten' })).to.equal(3);
    expect(await metricValue(name, { migration, outcome: 'unchanged' })).to.equal(2);
    expect(await metricValue('bluegreen_inplace_conflicts_total', { migration })).to.equal(4);
    const outcomes = new Set((await registry.getMetricsAsJSON()).find((x) => x.name === name)!.values.map((v) => String(v.labels.outcome)));
    for (const o of outcomes) expect(TRANSFORM_OUTCOMES as readonly string[]).to.include(o);
  });
});
