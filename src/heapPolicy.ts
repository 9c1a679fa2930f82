/**
 * How eagerly V8 collects the old generation, chosen from what the process holds (issue 15: memory
 * flat whatever the documents, and cost per byte low).
 *
 * The two pull apart. A worker copying 5 MB documents holds tens of MiB of pages: with V8's own growth
 * of the old generation (up to 4× what the last collection kept) its peak RSS passed 300 MiB, so
 * bin/bluegreen asked V8 to collect once the old generation grew 20% past its live size. A worker
 * copying 2 KB documents holds a few MiB; there that 20% meant a full collection every few MiB promoted,
 * and the collector took ~40% of the worker's CPU (bench: 12 MB of documents per worker CPU-second
 * against 16–17 with 100%).
 *
 * So the growth follows what the process holds after each full collection — the live heap plus the
 * memory held outside it for the heap's objects (response buffers, strings over 1 MB, which Node keeps
 * outside): `loose` while that is small (100%: collect at twice the live size, and more for a small
 * heap, up to 400%, so that it may grow by 32 MiB: growingPercent), `tight` (20%) once it
 * passes `tightAbove`, and loose again only below `looseBelow` (no flapping at the edge). Measured
 * after full collections (bench:memory, bench:solr --dataset wide): a worker of 2 KB documents held
 * 25–58 MiB, one among 5 MB documents 45–130 MiB. V8 reads the flag when it sets the next limit, at
 * the end of a full collection — that is, the collection that showed the live size had already set a
 * loose limit; on the switch to tight one more full collection is made at once, so the limit follows
 * the new growth before the heap can use the loose one.
 */
import { PerformanceObserver, constants } from 'node:perf_hooks';
import { runInNewContext } from 'node:vm';
import { getHeapSpaceStatistics, getHeapStatistics, setFlagsFromString } from 'node:v8';

export type HeapMode = 'loose' | 'tight';

export interface HeapPolicyOptions {
  /** Bytes held (live heap + external, after a full collection) above which the old generation grows by `tightPercent`. */
  tightAbove: number;
  /** Bytes held below which it grows by `loosePercent` again. */
  looseBelow: number;
  /**
   * Loose: at least this percent, and up to `looseMaxPercent` so that the heap may grow by
   * `looseHeadroom` bytes past what it holds: a small heap doubling is a few MiB, and a worker of
   * 2 KB documents then made a full collection every page or two (11 in 20,000 documents; with 400%
   * there were 2, and the worker spent a third less CPU). 32 MiB: with 48, verify-integrity among
   * 5 MB documents peaked at 244 MiB (bench:memory), with 32 at 223–230 as before.
   */
  loosePercent: number;
  looseMaxPercent: number;
  looseHeadroom: number;
  tightPercent: number;
}

export const DEFAULT_HEAP_POLICY: HeapPolicyOptions = {
  tightAbove: 64 * 1024 * 1024,
  looseBelow: 40 * 1024 * 1024,
  loosePercent: 100,
  looseMaxPercent: 400,
  looseHeadroom: 32 * 1024 * 1024,
  tightPercent: 20,
};

/** `--heap-growing-percent` for a mode, after a full collection left `liveBytes` held (pure). */
export function growingPercent(mode: HeapMode, liveBytes: number, o: HeapPolicyOptions = DEFAULT_HEAP_POLICY): number {
  if (mode === 'tight') return o.tightPercent;
  const toHeadroom = Math.floor((o.looseHeadroom / Math.max(1, liveBytes)) * 100);
  return Math.max(o.loosePercent, Math.min(o.looseMaxPercent, toHeadroom));
}

/** The mode after a full collection left `liveBytes` held (pure: the hysteresis between the two thresholds). */
export function nextHeapMode(mode: HeapMode, liveBytes: number, o: HeapPolicyOptions = DEFAULT_HEAP_POLICY): HeapMode {
  if (mode === 'loose' && liveBytes > o.tightAbove) return 'tight';
  if (mode === 'tight' && liveBytes < o.looseBelow) return 'loose';
  return mode;
}

export interface HeapPolicy {
  mode(): HeapMode;
  /** Times the mode changed (each change to tight also made one full collection). */
  switches(): number;
  stop(): void;
}

/**
 * Governs `--heap-growing-percent` for this process from now on (call once, early; bin/bluegreen does
 * unless NODE_OPTIONS or the command line set that flag). Starts loose: a process starts small.
 *
 * `young`: the young generation's cap (capYoungGeneration), when it runs too. While tight it is held
 * at its smallest: the switch to tight collects as V8 does when memory runs short, which also gives
 * the young generation back (8 MiB of semi-spaces, each page of it resident, are 5% of a 256 MiB
 * worker), and it does not grow again until the process is loose.
 */
export function governHeap(o: HeapPolicyOptions = DEFAULT_HEAP_POLICY, young?: YoungGeneration): HeapPolicy {
  if (!(o.looseBelow < o.tightAbove)) throw new Error('heap policy: looseBelow must be below tightAbove');
  let mode: HeapMode = 'loose';
  let switches = 0;
  let collectNow: ((shrink: boolean) => void) | null = null;
  let percent = -1;
  const apply = (m: HeapMode, live: number) => {
    const p = growingPercent(m, live, o);
    if (p !== percent) setFlagsFromString(`--heap-growing-percent=${(percent = p)}`);
  };
  apply(mode, 0);
  const observer = new PerformanceObserver((list) => {
    if (!list.getEntries().some((e) => ((e as { detail?: { kind?: number } }).detail)?.kind === constants.NODE_PERFORMANCE_GC_MAJOR)) return;
    const heap = getHeapStatistics();
    const live = heap.used_heap_size + heap.external_memory;
    const next = nextHeapMode(mode, live, o);
    // Loose, the percent follows what is held (growingPercent).
    apply(next, live);
    if (next === mode) return;
    mode = next;
    switches++;
    young?.hold(mode === 'tight');
    if (mode === 'tight') {
      // The limit the last collection set was loose: collect once more so the next one is tight.
      collectNow ??= exposedGc();
      collectNow(young !== undefined);
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  return { mode: () => mode, switches: () => switches, stop: () => observer.disconnect() };
}

/**
 * V8's gc(), reachable at run time: the flag exposes it to contexts made after it is set. `shrink`:
 * the collection V8 makes when memory runs short ('last-resort'), which also shrinks the young
 * generation; otherwise one full collection.
 */
function exposedGc(): (shrink: boolean) => void {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as (o?: { type: string; execution: string; flavor: string }) => void;
  return (shrink) => (shrink ? gc({ type: 'major', execution: 'sync', flavor: 'last-resort' }) : gc());
}

/**
 * The young generation's size (both semi-spaces, V8's `new_space`) at which it stops growing: 8 MiB,
 * two 4 MiB semi-spaces. V8 grows it up to 64 MiB semi-spaces (and never gives them back), which cost
 * a worker among 5 MB documents 100+ MiB of RSS; kept at its first 1 MiB, a worker of 2 KB documents
 * made 86 scavenges in 20,000 documents and spent ~15% of its CPU in them (issue 15). Capped at
 * 8 MiB it made 38, and moved a third more MB per copy CPU-second (61.9 against 46.4, four runs each
 * in turn, wide dataset); bench:memory's worker among 5 MB documents stayed at 195–197 MiB (it goes
 * tight, and the young generation is then held small: governHeap).
 */
export const YOUNG_GENERATION_CAP = 8 * 1024 * 1024;

/** V8's growth factor of the young generation while it is `size` bytes (pure): double while a doubling stays within `cap`, then none. */
export function youngGrowthFactor(size: number, cap = YOUNG_GENERATION_CAP): 1 | 2 {
  return size * 2 <= cap ? 2 : 1;
}

/** The young generation's cap, as capYoungGeneration runs it. */
export interface YoungGeneration {
  /** The growth factor set now (1: not growing). */
  factor(): number;
  /** On: not to grow, whatever its size (the process holds a lot: governHeap); off: up to the cap again. */
  hold(on: boolean): void;
  stop(): void;
}

/**
 * Lets the young generation grow to `cap` and no further (call once, early; bin/bluegreen does for
 * `work`, unless NODE_OPTIONS or the command line set a semi-space flag). V8 decides the growth during a scavenge
 * and its size is fixed at start-up (a `--max-semi-space-size` set at run time is ignored), so the
 * growth factor is switched after each scavenge, as the observer hears of it: it may grow one step
 * past the cap when two scavenges grow it before the observer runs. It keeps listening: a young
 * generation V8 shrank (an idle process) may grow back to the cap. The factor is not V8's only rule:
 * verify-integrity among 5 MB documents reached 16–27 MiB with it at 1 from the start (bench:memory).
 */
export function capYoungGeneration(cap = YOUNG_GENERATION_CAP): YoungGeneration {
  let factor = -1;
  let held = false;
  const apply = () => {
    const size = getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size ?? cap;
    const f = held ? 1 : youngGrowthFactor(size, cap);
    if (f !== factor) setFlagsFromString(`--semi-space-growth-factor=${(factor = f)}`);
  };
  const observer = new PerformanceObserver((list) => {
    if (list.getEntries().some((e) => ((e as { detail?: { kind?: number } }).detail)?.kind === constants.NODE_PERFORMANCE_GC_MINOR)) apply();
  });
  observer.observe({ entryTypes: ['gc'] });
  apply();
  return {
    factor: () => factor,
    hold: (on) => {
      held = on;
      apply();
    },
    stop: () => observer.disconnect(),
  };
}
