/**
 * Issue 15: the old generation's growth follows the live size (src/heapPolicy.ts) — loose while a
 * process holds little, tight once it holds a lot, with a gap between the two thresholds.
 */
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import { DEFAULT_HEAP_POLICY, growingPercent, nextHeapMode } from '../../src/heapPolicy';

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
});
