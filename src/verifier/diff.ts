/**
 * Diffing, free of I/O: hashes of the exact content (number text included) that ignore what
 * legitimately differs, a merge of two streams sorted on the unique key, and the re-check rule that tells a write in flight from a real difference.
 */
import { canonicalContent, contentHash } from '../backends/content';
import type { Doc, SourceDoc } from '../backends/types';

export { canonicalContent, contentHash };


/** Order of ids as the servers sort them (byte order of UTF-8), not JavaScript's UTF-16 order. */
export function compareIds(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

export type DiffKind = 'missing' | 'extra' | 'different';

export interface Candidate {
  id: string;
  kind: DiffKind;
  routing?: string;
  /** Source hash at first sight (to tell a source that changed meanwhile). */
  sourceHash?: string;
  /** With a transform: the source document the expected output comes from (absent: the same id, or none). */
  sourceId?: string;
}

/** An expected target document by its hash (a transformed slice: see diffExpected). */
export interface ExpectedHash {
  hash: string;
  sourceId: string;
  routing?: string;
}

/**
 * A slice whose expected content is known by hash (transform(source): outputs need not be in the
 * source's id order, so they are gathered first) against the id-sorted target stream: every target
 * document not expected is extra, every expected one not in the target missing, every other pair
 * compared by hash. Takes `expected` apart as it goes. Memory: the slice's ids and hashes.
 */
export async function* diffExpected(expected: Map<string, ExpectedHash>, target: AsyncIterable<SourceDoc>, ignore: ReadonlySet<string>,
  counts: { source: number; target: number }): AsyncGenerator<Candidate> {
  counts.source += expected.size;
  for await (const t of target) {
    counts.target++;
    const e = expected.get(t.id);
    if (!e) {
      yield { id: t.id, kind: 'extra', routing: t.routing };
      continue;
    }
    expected.delete(t.id);
    if (e.hash !== contentHash(t.fields, ignore)) yield { id: t.id, kind: 'different', routing: e.routing, sourceHash: e.hash, sourceId: e.sourceId };
  }
  for (const id of [...expected.keys()].sort(compareIds)) {
    const e = expected.get(id)!;
    yield { id, kind: 'missing', routing: e.routing, sourceHash: e.hash, sourceId: e.sourceId };
  }
}

/**
 * Merges two id-sorted document streams; yields every id that is in one only, or in both with
 * different content. Memory: one page of each side.
 */
export async function* mergeDiff(source: AsyncIterable<SourceDoc>, target: AsyncIterable<SourceDoc>, ignore: ReadonlySet<string>,
  counts: { source: number; target: number }): AsyncGenerator<Candidate> {
  const s = source[Symbol.asyncIterator]();
  const t = target[Symbol.asyncIterator]();
  let a = await s.next();
  let b = await t.next();
  while (!a.done || !b.done) {
    const cmp = a.done ? 1 : b.done ? -1 : compareIds(a.value.id, b.value.id);
    if (cmp < 0) {
      counts.source++;
      yield { id: a.value.id, kind: 'missing', routing: a.value.routing, sourceHash: contentHash(a.value.fields, ignore) };
      a = await s.next();
    } else if (cmp > 0) {
      counts.target++;
      yield { id: b.value.id, kind: 'extra', routing: b.value.routing };
      b = await t.next();
    } else {
      counts.source++;
      counts.target++;
      const hs = contentHash(a.value.fields, ignore);
      if (hs !== contentHash(b.value.fields, ignore)) yield { id: a.value.id, kind: 'different', routing: a.value.routing, sourceHash: hs };
      a = await s.next();
      b = await t.next();
    }
  }
}

/**
 * After the grace period: what a candidate is now, given fresh reads of both sides.
 * 'gone' = no difference any more (a write in flight landed, or the source deleted it too).
 * 'unstable' = the source changed since we first saw it: look again next round, don't blame the copy.
 */
export function recheck(c: Candidate, sourceNow: SourceDoc | undefined, targetNow: SourceDoc | undefined, ignore: ReadonlySet<string>):
  DiffKind | 'gone' | 'unstable' {
  if (!sourceNow && !targetNow) return 'gone';
  if (sourceNow && !targetNow) return 'missing';
  if (!sourceNow && targetNow) return 'extra';
  const hs = contentHash(sourceNow!.fields, ignore);
  if (hs === contentHash(targetNow!.fields, ignore)) return 'gone';
  if (c.sourceHash !== undefined && c.sourceHash !== hs) return 'unstable';
  return 'different';
}
