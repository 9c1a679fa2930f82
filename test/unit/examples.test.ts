/**
 * The example transforms of the repository (examples/transforms), loaded as a user's spec loads them:
 * the example spec beside each through loadSpec, the module through the real loader
 * (config/transformModule.ts, which imports `bluegreen` by the package's own name), then map run on
 * documents: what it changes, what it leaves exactly as stored (number text included), and
 * transform(transform(d)) == transform(d).
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { RawNumber, exactJson } from '../../src/backends/exactJson';
import type { SourceDoc } from '../../src/backends/types';
import { loadSpec } from '../../src/config/spec';
import { loadTransform } from '../../src/config/transformModule';
import { log } from '../../src/log';
import { applyTransform } from '../../src/transform/apply';
import type { Transform } from '../../src/transform/define';
import { inPlaceOutcome } from '../../src/transform/inPlace';

const EXAMPLES = resolve(__dirname, '../../../examples/transforms');
const fields = { customer: 'customer', timestamp: 'timestamp', uniqueKey: 'id' };
const ctx = { slice: 0, log };
const doc = (json: string): SourceDoc => {
  const f = exactJson.parse(json) as Record<string, unknown>;
  return { id: String(f.id), fields: f, bytes: json.length };
};
/** map's single output as exact text, from a fresh parse of the input (map may change its argument). */
function once(t: Transform, json: string): string {
  const r = applyTransform(t, doc(json), fields, ctx);
  if ('reason' in r) throw new Error(r.reason);
  expect(r.outputs).to.have.length(1);
  return exactJson.stringify(r.outputs[0].fields);
}

describe('example transforms (examples/transforms)', () => {
  it('rfc822-in-place.yaml loads through the spec loader: in place, its module the example beside it', () => {
    const spec = loadSpec(join(EXAMPLES, 'rfc822-in-place.yaml'), {}, {});
    expect(spec.copy.mode).to.equal('in-place');
    expect(spec.transform?.module).to.equal(join(EXAMPLES, 'rfc822-date.ts'));
    expect(spec.transform?.version).to.equal('1');
    expect(loadTransform(spec.transform!.module)).to.equal(loadTransform(join(EXAMPLES, 'rfc822-date.ts')));
  });

  it('rfc822-date: RFC 3339 becomes RFC 822, everything else exactly as stored, and it is a fixed point after one pass', () => {
    const t = loadTransform(join(EXAMPLES, 'rfc822-date.ts'));
    const src = '{"id":"a-1","customer":"acme","timestamp":"2024-01-01T00:00:00Z","when_s":"2021-03-01T10:05:00Z","price":2.50,"big":12345678901234567890,"e":1E+2}';
    const out = once(t, src);
    expect(out).to.equal('{"id":"a-1","customer":"acme","timestamp":"2024-01-01T00:00:00Z","when_s":"Mon, 01 Mar 2021 10:05:00 GMT","price":2.50,"big":12345678901234567890,"e":1E+2}');
    expect(once(t, out)).to.equal(out);
    // An offset and a fraction are RFC 3339 too; the instant is kept (UTC).
    expect(JSON.parse(once(t, '{"id":"a-2","customer":"acme","timestamp":"2024-01-01T00:00:00Z","when_s":"2021-03-01T12:05:00.250+02:00"}')).when_s).to.equal('Mon, 01 Mar 2021 10:05:00 GMT');
    // In place: a document already new, or without the field, is unchanged (not written back).
    for (const json of [out, '{"id":"a-3","customer":"acme","timestamp":"2024-01-01T00:00:00Z"}']) {
      expect(inPlaceOutcome(t, doc(json), fields, 0, log).kind, json).to.equal('unchanged');
    }
    expect(inPlaceOutcome(t, doc(src), fields, 0, log).kind).to.equal('changed');
    // A date in the right shape that does not exist is a dead letter with the id, not a guess.
    const bad = applyTransform(t, doc('{"id":"a-4","customer":"acme","timestamp":"2024-01-01T00:00:00Z","when_s":"2021-13-45T10:05:00Z"}'), fields, ctx);
    expect(bad).to.deep.equal({ reason: 'transform 1 threw: when_s "2021-13-45T10:05:00Z" of a-4 is not a real date' });
  });

  it('rename-drop-copy.yaml loads, and rename-drop renames and drops only, keeping every value exactly, idempotently', () => {
    const spec = loadSpec(join(EXAMPLES, 'rename-drop-copy.yaml'), {}, {});
    expect(spec.copy.mode).to.equal('copy');
    const t = loadTransform(spec.transform!.module);
    const out = once(t, '{"id":"b-1","customer":"beta","timestamp":"2024-01-01T00:00:00Z","title":"T","body":"B","legacy_flags":[1,2],"tmp_x":1,"quantity":7,"price":2.50}');
    expect(out).to.equal('{"id":"b-1","customer":"beta","timestamp":"2024-01-01T00:00:00Z","headline_s":"T","text_s":"B","quantity":7,"price":2.50}');
    expect(once(t, out)).to.equal(out);
    const r = applyTransform(t, doc('{"id":"b-2","customer":"beta","timestamp":"2024-01-01T00:00:00Z","price":2.50}'), fields, ctx);
    expect('outputs' in r && r.outputs[0].fields.price).to.be.instanceOf(RawNumber);
    // Both names present: the new name's value is kept, the old one dropped.
    expect(once(t, '{"id":"b-3","customer":"beta","timestamp":"2024-01-01T00:00:00Z","title":"old","headline_s":"new"}')).to.equal('{"id":"b-3","customer":"beta","timestamp":"2024-01-01T00:00:00Z","headline_s":"new"}');
  });
  it('type-checks against the package\'s own types (examples/tsconfig.json: `bluegreen` is src/index.ts)', function () {
    this.timeout(120_000);
    const tsc = require.resolve('typescript/bin/tsc');
    const r = spawnSync(process.execPath, [tsc, '-p', join(EXAMPLES, '..', 'tsconfig.json')], { encoding: 'utf8' });
    expect(r.status, `${r.stdout}${r.stderr}`).to.equal(0);
  });
});
