/**
 * Issue 15: the old generation's growth follows the live size (src/heapPolicy.ts) — loose while a
 * process holds little, tight once it holds a lot, with a gap between the two thresholds.
 */
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import { DEFAULT_HEAP_POLICY, YOUNG_GENERATION_CAP, growingPercent, nextHeapMode, youngGrowthFactor } from '../../src/heapPolicy';

const MiB = 1024 * 1024;

describe('heap policy (issue 15)', () => {
  it('goes tight above the upper threshold, loose again only below the lower one', () => {
    const o = { ...DEFAULT_HEAP_POLICY, tightAbove: 64 * MiB, looseBelow: 40 * MiB };
    expect(nextHeapMode('loose', 30 * MiB, o)).to.equal('loose');
    expect(nextHeapMode('loose', 64 * MiB, o)).to.equal('loose');
    expect(nextHeapMode('loose', 65 * MiB, o)).to.equal('tight');
    // Between the thresholds the mode stays what it was.
    expect(nextHeapMode('tight', 50 * MiB, o)).to.equal('tight');
    expect(nextHeapMode('loose', 50 * MiB, o)).to.equal('loose');
    expect(nextHeapMode('tight', 39 * MiB, o)).to.equal('loose');
  });

  it('loose, lets a small heap grow by the headroom (up to 400%), a larger one by 100%; tight by 20%', () => {
    expect(growingPercent('loose', 8 * MiB), 'a small heap').to.equal(400);
    expect(growingPercent('loose', 16 * MiB)).to.equal(200);
    expect(growingPercent('loose', 32 * MiB)).to.equal(100);
    expect(growingPercent('loose', 60 * MiB), 'never below 100% loose').to.equal(100);
    expect(growingPercent('loose', 0), 'nothing held yet').to.equal(400);
    expect(growingPercent('tight', 8 * MiB)).to.equal(20);
    expect(growingPercent('tight', 200 * MiB)).to.equal(20);
  });

  it('follows what a real process holds after its full collections', function () {
    this.timeout(30_000); // a fresh process on a busy machine
    // A fresh process: starts loose, holds 120 MiB live → tight (one switch), lets it go → loose.
    const script = `
      const { governHeap } = require(${JSON.stringify(resolve(__dirname, '../../src/heapPolicy.js'))});
      const p = governHeap();
      const seen = [p.mode()];
      // The observer hears of a collection a moment after it: wait for the mode (5 s at most).
      const settle = async (want) => { for (const end = Date.now() + 5000; p.mode() !== want && Date.now() < end;) await new Promise((r) => setTimeout(r, 10)); };
      (async () => {
        // Strings under 1 MB (larger ones Node makes external, outside the heap).
        let held = Array.from({ length: 240 }, () => Buffer.alloc(512 * 1024, 'x').toString('latin1'));
        gc(); await settle('tight'); seen.push(p.mode());
        held = null;
        gc(); await settle('loose'); seen.push(p.mode());
        p.stop();
        process.stdout.write(JSON.stringify({ seen, switches: p.switches() }));
      })();`;
    const out = JSON.parse(execFileSync(process.execPath, ['--expose-gc', '-e', script], { encoding: 'utf8' }));
    expect(out.seen).to.deep.equal(['loose', 'tight', 'loose']);
    expect(out.switches).to.equal(2);
  });

  it('lets the young generation double while it stays within the cap, then not at all', () => {
    expect(youngGrowthFactor(1 * MiB, 8 * MiB)).to.equal(2);
    expect(youngGrowthFactor(4 * MiB, 8 * MiB), 'one more doubling reaches the cap').to.equal(2);
    expect(youngGrowthFactor(8 * MiB, 8 * MiB)).to.equal(1);
    expect(youngGrowthFactor(16 * MiB, 8 * MiB), 'past it (grown before the observer ran)').to.equal(1);
    expect(YOUNG_GENERATION_CAP).to.equal(8 * MiB);
  });

  it('the young generation of a real process grows to the cap and stops there', function () {
    this.timeout(30_000); // a fresh process on a busy machine
    // Objects that survive a scavenge or two make V8 grow the young generation (to 64 MiB semi-spaces
    // left alone); allocated a slice per turn of the event loop, as a worker does per page.
    const script = `
      const v8 = require('node:v8');
      const { capYoungGeneration } = require(${JSON.stringify(resolve(__dirname, '../../src/heapPolicy.js'))});
      const young = () => v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size;
      const first = young();
      const cap = capYoungGeneration();
      (async () => {
        let keep = [];
        for (let turn = 0; turn < 400; turn++) {
          for (let j = 0; j < 5000; j++) keep.push({ a: j, b: 'x' + j });
          if (keep.length > 50000) keep = [];
          await new Promise((r) => setImmediate(r));
        }
        cap.stop();
        process.stdout.write(JSON.stringify({ first, last: young(), factor: cap.factor() }));
      })();`;
    const out = JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' }));
    expect(out.last, 'it grew').to.be.greaterThan(out.first);
    expect(out.last, 'and no further than the cap (within a few pages)').to.be.at.most(YOUNG_GENERATION_CAP * 1.125);
    expect(out.factor).to.equal(1);
  });

  it('holds the young generation at its smallest while the process holds a lot, and lets it grow again after', function () {
    this.timeout(90_000); // a fresh process on a busy machine
    // To grow, the churn goes on (300 turns at least) until the young generation is past half the cap
    // or 20 s have passed: on a busy machine the gc observer that lets it grow runs later, so a fixed
    // amount of churn may end before it has grown (a busy fresh-clone run stopped at 4 MiB).
    const script = `
      const v8 = require('node:v8');
      const { capYoungGeneration, governHeap, YOUNG_GENERATION_CAP } = require(${JSON.stringify(resolve(__dirname, '../../src/heapPolicy.js'))});
      const size = () => v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size;
      const young = capYoungGeneration();
      const p = governHeap(undefined, young);
      const settle = async (want) => { for (const end = Date.now() + 5000; p.mode() !== want && Date.now() < end;) await new Promise((r) => setTimeout(r, 10)); };
      const churn = async (grow = false) => {
        let keep = [];
        const end = Date.now() + 20000;
        for (let turn = 0; turn < 300 || (grow && size() <= YOUNG_GENERATION_CAP / 2 && Date.now() < end); turn++) {
          for (let j = 0; j < 5000; j++) keep.push({ a: j, b: 'x' + j });
          if (keep.length > 50000) keep = [];
          await new Promise((r) => setImmediate(r));
        }
      };
      const seen = [];
      (async () => {
        await churn(true);
        seen.push({ mode: p.mode(), size: size(), factor: young.factor() });
        let held = Array.from({ length: 240 }, () => Buffer.alloc(512 * 1024, 'x').toString('latin1'));
        gc(); await settle('tight');
        seen.push({ mode: p.mode(), size: size(), factor: young.factor() });
        await churn();
        seen.push({ mode: p.mode(), size: size(), factor: young.factor() });
        held = null;
        gc(); await settle('loose');
        await churn(true);
        seen.push({ mode: p.mode(), size: size(), factor: young.factor() });
        p.stop(); young.stop();
        process.stdout.write(JSON.stringify(seen));
      })();`;
    const [grown, tight, tightAfter, loose] = JSON.parse(execFileSync(process.execPath, ['--expose-gc', '-e', script], { encoding: 'utf8' }));
    // V8 sizes the young generation in pages: "at the cap" is within a few pages of it (a run saw 8.5 MiB).
    const atCap = (size: number) => size > YOUNG_GENERATION_CAP / 2 && size <= YOUNG_GENERATION_CAP * 1.125;
    expect(grown.mode).to.equal('loose');
    expect(atCap(grown.size), `grown to the cap: ${grown.size}`).to.equal(true);
    expect(tight.mode).to.equal('tight');
    expect(tight.size, 'given back on the switch').to.be.below(YOUNG_GENERATION_CAP / 2);
    expect(tight.factor).to.equal(1);
    // Held: the growth factor stays 1 while tight (V8 may still grow it by rules of its own: a fresh-clone run saw 7.25 MiB).
    expect(tightAfter.mode).to.equal('tight');
    expect(tightAfter.factor, 'not grown by the policy while tight').to.equal(1);
    expect(loose.mode).to.equal('loose');
    expect(atCap(loose.size), `grown again: ${loose.size}`).to.equal(true);
  });
});
