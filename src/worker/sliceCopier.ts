/**
 * Moves one claimed slice: read a page after the cursor → write it create-only → checkpoint the
 * cursor (fenced), until the slice is done. Knows nothing of how the slice was found (scheduler.ts)
 * or of the fleet (worker.ts); what counts as a failure is the failure policy's (failurePolicy.ts).
 *
 * Pipelined: while page N is written, page N+1 is read (after N's cursor), so the source does not
 * idle while the target writes; and the tail of pages written — the look for documents deleted live
 * since they were read (liveDeletes.ts), then the checkpoint — runs while the next pages are written.
 * A tail covers one page, or with worker.checkpointEvery a group of pages (TAIL_GROUP in batching.ts:
 * a few, for at most that long, within half the lane's share of the budget): one look at the source
 * and one ZooKeeper write for all of them, at the last one's cursor. Checkpoints stay one after the other: a group's tail starts only once the one
 * before has ended (a later cursor can never land before an earlier one, and the cursor only moves
 * forward), and nothing else checkpoints (a failure, a stop, the end) before the pages written have
 * had their tail. Writing pages before they are checkpointed is what a crash between a write and its
 * checkpoint already does: the slice resumes at the last checkpoint and writes them again,
 * create-only (skipped). In place (copy.mode in-place) stays one step after the other, one page a
 * tail. At most one page is read ahead, and one tail on its way, per lane. The
 * read-ahead is aborted and dropped when the claim is lost (it reads under the claim's signal), when
 * the worker stops, or when the write of page N fails: the slice then fails or retries from its last
 * checkpoint exactly as without read-ahead (nothing read ahead was ever written or checkpointed).
 *
 * Memory: a lane holds the page it writes, and perhaps the next (read ahead) and the ones before (in
 * its tail or waiting for one, only while a read-ahead had room). The process's lanes share one byte
 * budget (PageBudget) of batch.bytes × worker.slicesInFlight, counted in document bytes: the page a
 * lane writes is always held (bounded as before: the page cap, or one document alone), and a page is
 * read ahead only if the room left under the budget covers what it is expected to weigh (the sizes
 * seen); the read then reserves the room it may fill (at most the page cap) and asks for no more
 * bytes than that (a larger answer drops the read-ahead, not the slice: the page is read after the
 * checkpoint, as without read-ahead, with the usual shrinking). So a read-ahead starts only while
 * everything the lanes hold fits in the budget, and never grows past its reservation; with pages near
 * batch.bytes in every lane (large documents) there is no room and lanes work as before, one step
 * after the other; with small pages, every lane reads ahead.
 */
import { tooLargeToRead } from '../backends/http';
import type { Backend, Customers, Page, SourceDoc } from '../backends/types';
import type { Spec } from '../config/spec';
import type { SliceClaim } from '../coordination/claim';
import type { Rejection, SliceBounds } from '../coordination/workNode';
import { describeBounds, describeCustomers, transformCounts } from '../coordination/workNode';
import { FencedError, RetryableError, describeError } from '../errors';
import { log } from '../log';
import { transformOf, transformPage } from '../transform/apply';
import { inPlaceOutcome } from '../transform/inPlace';
import { countTransformed, customerLabel, metrics } from '../metrics';
import { withBackoff, type BackoffOptions } from '../retry';
import { PageBudget, PageSizer, splitByBytes, tailDue } from './batching';
import { afterFailure, keptRejections, refusesEverything, stalledTooOften } from './failurePolicy';
import { RateLimiter } from './rateLimiter';
import { undoLiveDeletes } from './liveDeletes';

export interface CopierContext {
  spec: Spec;
  source: Backend;
  target: Backend;
  limiter: RateLimiter;
  workerId: string;
  stopping(): boolean;
  /** What the lane does now (the stalled-lane watchdog reports it). */
  doing(lane: number, what: string): void;
  retryOptions(side: 'read' | 'write', signal?: AbortSignal): BackoffOptions;
}

export type CopyOutcome = 'done' | 'failed' | 'attempt-failed' | 'stopped' | 'lost';

/** A page being read ahead of the one being written: how it ends, and how to call it off. */
interface ReadAhead {
  /** The page, or null when it was not read after all (too big for the room it had, or called off). */
  page: Promise<Page | null>;
  stop: AbortController;
  /** Bytes it holds in the budget: the room reserved while it reads, then the page's own bytes. */
  reserved: number;
}

/** A page written, waiting for its tail (the live-delete look and the checkpoint: TAIL_GROUP). */
interface WrittenPage {
  page: Page;
  /** What was written of it (after the transform). */
  out: SourceDoc[];
  written: number;
  skipped: number;
  rejected: Rejection[];
  conflicts: number;
  /** The page rows the sizer had learned after it (checkpointed: a resumed slice starts there). */
  pageRows: number;
  /** The source is asked whether its documents still exist (something was written, not in place). */
  look: boolean;
}

const pageBytes = (page: Page) => page.docs.reduce((n, d) => n + d.bytes, 0);

/**
 * Where this process's lanes spent their time, and what they moved (issue 15: the fleet's own
 * overhead, measured). Lane-milliseconds, summed over lanes: `read` is a lane waiting for its page
 * (read and parsed; a page read ahead costs only what was left of it), `write` the target's writes
 * (the Solr look for existing ids included, when written through the endpoint), `liveDeletes` the look at the source after the writes,
 * `checkpoint` the fenced ZooKeeper write, `throttle` the rate limiter. Bytes are document bytes (as
 * measured on the page), `tail` a lane waiting for the previous page's tail (look + checkpoint, which
 * run while the next page is written: liveDeletes and checkpoint overlap the writes, so the parts sum
 * to more than the lanes' time). Times are epoch milliseconds; the "worker finished" line carries them.
 */
export interface CopyStats {
  ms: { read: number; write: number; liveDeletes: number; checkpoint: number; throttle: number; tail: number };
  pages: number;
  docsRead: number;
  bytesRead: number;
  docsWritten: number;
  bytesWritten: number;
  firstClaimAt: number | null;
  firstWriteAt: number | null;
  lastCheckpointAt: number | null;
}

export function emptyCopyStats(): CopyStats {
  return { ms: { read: 0, write: 0, liveDeletes: 0, checkpoint: 0, throttle: 0, tail: 0 }, pages: 0, docsRead: 0, bytesRead: 0, docsWritten: 0, bytesWritten: 0, firstClaimAt: null, firstWriteAt: null, lastCheckpointAt: null };
}

/** Conflicts in a row on one document before in-place leaves it to the live writes (writeBack). */
const IN_PLACE_ROUNDS = 10;

export class SliceCopier {
  /** Pages held by all lanes of this process (see the header). */
  readonly budget: PageBudget;
  /** What the lanes did, and how long it took (CopyStats). */
  readonly stats: CopyStats = emptyCopyStats();
  /** copy.mode in-place: source and target are one collection; pages are written back (writeBack), never copied. */
  private readonly inPlace: boolean;

  /** Fields verification ignores: the same content test decides whether a target copy is still ours. */
  private readonly ignore: ReadonlySet<string>;

  constructor(private readonly c: CopierContext) {
    this.budget = new PageBudget(c.spec.batch.bytes * c.spec.worker.slicesInFlight);
    this.ignore = new Set(c.spec.verify.ignoreFields);
    this.inPlace = c.spec.copy.mode === 'in-place';
    if (this.inPlace && (!c.source.readVersionedPage || !c.target.writeIfUnchanged)) throw new Error(`${c.target.describe()} cannot be rewritten in place`);
  }

  /** Copies the slice as far as it goes; returns how it ended and the documents read meanwhile. */
  async copy(claim: SliceClaim, lane: number, onDocs: (n: number) => void): Promise<CopyOutcome> {
    const { spec, source, target, limiter } = this.c;
    const { customers, bounds, index } = claim.node;
    const ctx = { worker: this.c.workerId, customers: describeCustomers(customers), slice: index, bounds: describeBounds(bounds) };
    const { docs: maxDocs, bytes: maxBytes } = spec.batch;
    log.info({ ...ctx, cursor: claim.node.cursor, attempt: claim.node.attempts }, claim.node.cursor ? 'resuming slice' : 'starting slice');
    const stats = this.stats;
    stats.firstClaimAt ??= Date.now();
    let t = performance.now();
    /** Lane-milliseconds since the last mark, to `what`. */
    const spent = (what: keyof CopyStats['ms']) => {
      const now = performance.now();
      stats.ms[what] += now - t;
      t = now;
    };
    // The first page of a slice is small (documents may be huge); later pages follow the sizes seen,
    // and a page too big to read is read again with fewer rows (PageSizer). A resumed slice's learned
    // size is capped by today's batch.docs (lowered after an out-of-memory).
    const sizer = new PageSizer(maxDocs, maxBytes, claim.node.pageRows ?? 100);
    /** Bytes of the page being written, held in the budget. */
    let held = 0;
    let ahead: ReadAhead | null = null;
    try {
      const stalled = stalledTooOften(claim.node, spec);
      if (stalled) {
        await claim.checkpoint((n) => ({ ...n, status: 'failed', owner: null, lastError: stalled }));
        metrics.slicesFinished.inc({ migration: spec.migration, status: 'failed' });
        log.error({ ...ctx, stalls: claim.node.stalls }, 'slice failed: no progress across many claims');
        return 'failed';
      }
      /**
       * The tail of a group of pages — the look for live deletes and the checkpoint — runs while the
       * next pages are written; it is awaited before the next group's tail starts (checkpoints stay in
       * order) and before anything else checkpoints or the copy returns. Its pages stay in the budget
       * until it ends.
       */
      let tail: Promise<void> | null = null;
      const settle = async () => {
        const pending = tail;
        tail = null;
        if (pending) await pending;
      };
      /** Pages written whose tail has not started (TAIL_GROUP), their bytes, since when. */
      let group: WrittenPage[] = [];
      let groupBytes = 0;
      let groupSince: number | null = null;
      /**
       * The waiting pages' tail starts (after the one on its way has ended: checkpoints in order) and
       * runs while the next pages are written.
       */
      const flush = async () => {
        if (group.length === 0) return;
        const pages = group;
        const bytes = groupBytes;
        group = [];
        groupBytes = 0;
        groupSince = null;
        t = performance.now();
        try {
          await settle();
        } catch (e) {
          this.budget.give(bytes);
          throw e;
        }
        spent('tail');
        tail = this.tail(claim, pages, bytes, onDocs, ctx);
        // Its failure is met at the next settle (the slice then stops there), never unhandled.
        tail.catch(() => undefined);
      };
      /** The cursor after the last page taken (its checkpoint may still be on the way: the tail). */
      let cursor = claim.node.cursor;
      try {
        for (;;) {
          if (this.c.stopping()) {
            await flush();
            await settle();
            log.info({ ...ctx, cursor: claim.node.cursor }, 'stopping: slice left at its checkpoint');
            return 'stopped';
          }
          claim.assertHeld();
          t = performance.now();
          // No page read ahead (no room for one): the next is read now, after the tail on its way has
          // ended and given its page back — so with pages near batch.bytes a lane holds one page, as
          // without the tail.
          if (!ahead) {
            await flush();
            await settle();
          }
          let readAhead: Page | null = null;
          if (ahead) {
            const next: ReadAhead = ahead;
            ahead = null;
            this.c.doing(lane, `waiting for the page of slice ${claim.key} read ahead`);
            try {
              readAhead = await next.page;
            } finally {
              // Its bytes in the budget pass to the page being written (or go, if it was not read).
              if (readAhead) held = next.reserved;
              else this.budget.give(next.reserved);
            }
          }
          const page = readAhead ?? (await this.readPage(claim, lane, sizer, ctx, cursor, claim.signal));
          if (!readAhead) {
            held = pageBytes(page);
            this.budget.take(held);
          }
          spent('read');
          cursor = page.nextCursor;
          stats.pages++;
          stats.docsRead += page.docs.length;
          stats.bytesRead += page.docs.reduce((n, d) => n + d.bytes, 0);
          sizer.seen(page.docs);
          // Page N+1 is read while page N is written; it is written once N is, and checkpointed after N.
          if (!page.done) ahead = this.readAhead(claim, sizer, page.nextCursor);
          let written = 0;
          let skipped = 0;
          const rejected: Rejection[] = [];
          // In place: the page transformed and written back where it is, conditionally (writeBack).
          // One step after the other there: the previous page's tail ends first.
          if (this.inPlace) await settle();
          const back = this.inPlace ? await this.writeBack(claim, lane, page.docs, index, ctx) : null;
          if (back) {
            spent('write');
            ({ written, skipped } = back);
            rejected.push(...back.rejected);
          }
          // The spec's transform (none: the page as read); its rejections are the documents', not the target's.
          const out = back ? { docs: [], rejected: [] } : transformPage(spec, page.docs, index);
          for (const batch of splitByBytes(out.docs, maxDocs, maxBytes)) {
            t = performance.now();
            await limiter.take(batch.length);
            spent('throttle');
            stats.firstWriteAt ??= Date.now();
            claim.assertHeld();
            this.c.doing(lane, `writing ${batch.length} documents of slice ${claim.key}`);
            const batchBytes = batch.reduce((n, d) => n + d.bytes, 0);
            log.debug({ ...ctx, docs: batch.length, bytes: batchBytes, from: batch[0].id, to: batch[batch.length - 1].id }, batch.length === 1 && batchBytes > maxBytes ? 'writing a document larger than batch.bytes alone' : 'writing a batch');
            const endWrite = metrics.writeSeconds.startTimer({ migration: spec.migration });
            // The claim goes along into the backend: its own retries stop, and its requests are aborted,
            // the moment the claim is lost.
            const r = await withBackoff(() => {
              claim.assertHeld();
              return target.writeBatch(batch, claim.signal);
            }, this.c.retryOptions('write', claim.signal));
            endWrite();
            spent('write');
            stats.docsWritten += r.written;
            stats.bytesWritten += batchBytes;
            limiter.recovered(batch.length);
            written += r.written;
            skipped += r.skipped;
            rejected.push(...r.rejected);
          }
          for (const r of rejected) log.warn({ ...ctx, id: r.id, reason: r.reason }, 'target rejected a document');
          const broken = refusesEverything(out.docs.length, rejected);
          if (broken) throw new Error(broken);
          rejected.push(...out.rejected);
          group.push({ page, out: out.docs, written, skipped, rejected, conflicts: back?.conflicts ?? 0, pageRows: sizer.rows, look: written > 0 && !back });
          groupBytes += held;
          held = 0;
          groupSince ??= performance.now();
          // The group's tail starts now, or once more pages have joined (TAIL_GROUP): the last page,
          // in place and a lane without a page read ahead go one step after the other.
          if (page.done || !ahead || back) await flush();
          else if (tailDue({ pages: group.length, bytes: groupBytes, ageMs: performance.now() - groupSince, everyMs: spec.worker.checkpointEvery, laneShare: this.budget.limit / spec.worker.slicesInFlight })) await flush();
          if (page.done) {
            this.c.doing(lane, `checkpointing slice ${claim.key}`);
            await settle();
            metrics.slicesFinished.inc({ migration: spec.migration, status: 'done' });
            log.info({ ...ctx, counts: claim.node.counts }, 'slice done');
            return 'done';
          }
        }
      } catch (e) {
        // A failed write while a tail is on its way: that page's checkpoint lands first (or fails),
        // so what is recorded below comes after it.
        ahead?.stop.abort();
        // Pages written before the failure: their look and checkpoint still run (or fail).
        await flush().catch(() => undefined);
        await settle().catch(() => undefined);
        throw e;
      }
    } catch (e) {
      // A failed write (or a lost claim, a stop) calls off the page read ahead at once.
      (ahead as ReadAhead | null)?.stop.abort();
      if (e instanceof FencedError) {
        metrics.claimsLost.inc({ migration: spec.migration });
        log.warn({ ...ctx, reason: e.message }, 'dropped the slice: claim lost');
        return 'lost';
      }
      if (this.c.stopping()) {
        // A retry cut short by SIGTERM is not the slice's fault: leave it at its checkpoint.
        log.info({ ...ctx, err: describeError(e) }, 'stopping: slice left at its checkpoint');
        return 'stopped';
      }
      return this.recordFailure(claim, e, ctx);
    } finally {
      this.budget.give(held);
      if (ahead) await this.dropReadAhead(ahead);
    }
  }

  /**
   * The tail of pages written (one or more, in order): the look for documents the source deleted
   * live after they were read, then one checkpoint at the last page's cursor with all their counts.
   * The pages' bytes leave the budget when it ends.
   */
  private async tail(claim: SliceClaim, pages: WrittenPage[], bytes: number, onDocs: (n: number) => void, ctx: object): Promise<void> {
    const { spec, source, target } = this.c;
    const stats = this.stats;
    try {
      let written = 0;
      let skipped = 0;
      let conflicts = 0;
      const rejected: Rejection[] = [];
      for (const p of pages) {
        written += p.written;
        skipped += p.skipped;
        conflicts += p.conflicts;
        rejected.push(...p.rejected);
      }
      const docs = pages.length === 1 ? pages[0].page.docs : pages.flatMap((p) => p.page.docs);
      const looked = pages.filter((p) => p.look);
      let at = performance.now();
      if (looked.length) {
        // Deleted live after these pages were read: taken out of the target again (liveDeletes.ts); the
        // live delete won, so the document counts as skipped. After the pages' writes. Across retries:
        // what an attempt cut short had removed already is gone, and counted here.
        const read = looked.length === 1 ? looked[0].page.docs : looked.flatMap((p) => p.page.docs);
        const out = looked.length === 1 ? looked[0].out : looked.flatMap((p) => p.out);
        const taken = new Set<string>();
        await withBackoff(async () => {
          claim.assertHeld();
          for (const id of (await undoLiveDeletes(source, target, read, out, this.ignore, claim.signal)).removed) taken.add(id);
        }, this.c.retryOptions('read', claim.signal));
        stats.ms.liveDeletes += performance.now() - at;
        at = performance.now();
        const removed = [...taken];
        if (removed.length) {
          written -= removed.length;
          skipped += removed.length;
          metrics.liveDeletesUndone.inc({ migration: spec.migration }, removed.length);
          log.info({ ...ctx, ids: removed.slice(0, 20), count: removed.length }, 'documents deleted live after they were read: removed from the target again');
        }
      }
      const last = pages[pages.length - 1];
      await claim.checkpoint((n) => ({
        ...n,
        cursor: last.page.nextCursor,
        counts: {
          read: n.counts.read + docs.length,
          written: n.counts.written + written,
          skipped: n.counts.skipped + skipped,
          rejected: n.counts.rejected + rejected.length,
          ...transformCounts(n.counts, rejected, conflicts),
        },
        rejections: keptRejections(n.rejections, rejected, spec.worker.keepRejections),
        progressAt: Date.now(),
        pageRows: last.pageRows,
        // Progress: earlier failed attempts (and claims that got nowhere) no longer count.
        failures: 0,
        stalls: 0,
        ...(last.page.done ? { status: 'done' as const, finishedAt: Date.now(), owner: null, lastError: null } : {}),
      }));
      stats.ms.checkpoint += performance.now() - at;
      stats.lastCheckpointAt = Date.now();
      this.countDocs(claim.node.customers, docs, written, skipped, rejected.length);
      onDocs(docs.length);
    } finally {
      this.budget.give(bytes);
    }
  }

  /** A page of the source: in place with each document's version (the write back is conditional on it). */
  private read(source: Backend, customers: Customers, bounds: SliceBounds, cursor: string | null, rows: number, signal: AbortSignal, cap: number | undefined): Promise<Page> {
    if (!this.inPlace) return source.readPage(customers, bounds, cursor, rows, signal, cap);
    return source.readVersionedPage!(customers, bounds, cursor, rows, signal, cap);
  }

  /**
   * copy.mode in-place: the page through the transform (inPlaceOutcome), and every document it changes
   * written back only while it is still at the version read (writeIfUnchanged, by batches). A conflict
   * is a live write that landed since the read: that document is read again (real-time) and
   * transformed again — the live content, never overwritten, is what gets transformed — until it is
   * written or found a fixed point (the live write was already in the new form), at most
   * IN_PLACE_ROUNDS times; then it is left as it is and recorded as rejected. A document deleted
   * meanwhile is left deleted. Unchanged and null documents are not written (counted skipped).
   */
  private async writeBack(claim: SliceClaim, lane: number, docs: SourceDoc[], slice: number, ctx: object): Promise<{ written: number; skipped: number; rejected: Rejection[]; conflicts: number }> {
    const { spec, target, limiter } = this.c;
    const t = transformOf(spec)!;
    const tlog = log.child({ slice, transform: t.version });
    const rejected: Rejection[] = [];
    let written = 0;
    let skipped = 0;
    let pending: SourceDoc[] = [];
    let conflicted = 0;
    const judge = (d: SourceDoc, version: string | undefined) => {
      const o = inPlaceOutcome(t, d, spec.fields, slice, tlog);
      if (o.kind === 'rejected') {
        rejected.push({ id: d.id, reason: o.reason, by: 'transform' });
        tlog.warn({ id: d.id, reason: o.reason }, 'transform rejected a document');
      } else if (o.kind === 'unchanged') skipped++;
      else if (version === undefined) throw new Error(`the source gave no version for document ${d.id}: it cannot be written back in place`);
      else pending.push({ ...o.doc, version });
    };
    for (const d of docs) judge(d, d.version);
    const changed = pending.length;
    const refusedByTarget: Rejection[] = [];
    for (let round = 0; pending.length > 0; round++) {
      if (round === IN_PLACE_ROUNDS) {
        for (const d of pending) rejected.push({ id: d.id, reason: `changed by live writes ${IN_PLACE_ROUNDS} times while being written back in place: left as the live writes made it` });
        break;
      }
      const conflicts: string[] = [];
      for (const batch of splitByBytes(pending, spec.batch.docs, spec.batch.bytes)) {
        await limiter.take(batch.length);
        claim.assertHeld();
        this.c.doing(lane, `writing back ${batch.length} documents of slice ${claim.key}${round ? ` (again: ${round})` : ''}`);
        const endWrite = metrics.writeSeconds.startTimer({ migration: spec.migration });
        const r = await withBackoff(() => {
          claim.assertHeld();
          return target.writeIfUnchanged!(batch.map((d) => ({ doc: d, version: d.version! })), claim.signal);
        }, this.c.retryOptions('write', claim.signal));
        endWrite();
        limiter.recovered(batch.length);
        written += r.applied;
        conflicts.push(...r.conflicts);
        refusedByTarget.push(...r.rejected);
      }
      pending = [];
      if (conflicts.length === 0) break;
      conflicted += conflicts.length;
      log.info({ ...ctx, conflicts: conflicts.length, round }, 'in place: documents changed since they were read (live writes): reading them again');
      const now = await withBackoff(() => {
        claim.assertHeld();
        return target.getByIds(conflicts);
      }, this.c.retryOptions('read', claim.signal));
      for (const id of conflicts) {
        const v = now.get(id);
        if (v) judge(v.doc, v.version);
      }
    }
    for (const r of refusedByTarget) log.warn({ ...ctx, id: r.id, reason: r.reason }, 'the collection rejected a document written back');
    const broken = refusesEverything(changed, refusedByTarget);
    if (broken) throw new Error(broken);
    countTransformed(spec.migration, { rewritten: written, unchanged: skipped, rejected: rejected.filter((r) => r.by === 'transform').length }, conflicted);
    return { written, skipped, rejected: [...rejected, ...refusedByTarget], conflicts: conflicted };
  }

  /**
   * Starts reading the page after `cursor`, if the budget has room for it (see the header): one read
   * of the sizer's rows within the room it reserves. Null when there is no room.
   */
  private readAhead(claim: SliceClaim, sizer: PageSizer, cursor: string): ReadAhead | null {
    const { spec, source } = this.c;
    const room = this.budget.limit - this.budget.held;
    const cap = Math.min(room, sizer.cap ?? room);
    if (this.c.stopping() || sizer.expectedBytes > room || !this.budget.tryTake(cap)) return null;
    const stop = new AbortController();
    const signal = AbortSignal.any([claim.signal, stop.signal]);
    const ahead: ReadAhead = { stop, reserved: cap, page: Promise.resolve(null) };
    const { customers, bounds } = claim.node;
    const rows = sizer.rows;
    ahead.page = (async () => {
      const endRead = metrics.readSeconds.startTimer({ migration: spec.migration });
      try {
        const page = await withBackoff(() => this.read(source, customers, bounds, cursor, rows, signal, cap), this.c.retryOptions('read', signal));
        // What it holds now: the page, not the room it might have needed.
        const bytes = pageBytes(page);
        this.budget.give(ahead.reserved);
        this.budget.take(bytes);
        ahead.reserved = bytes;
        log.debug({ slice: claim.key, docs: page.docs.length, bytes, after: cursor }, 'page read ahead');
        return page;
      } catch (e) {
        // Called off (a write failed, the worker stops): the page is simply not there.
        if (stop.signal.aborted && !claim.signal.aborted) return null;
        // Too big for the room it had: read after the checkpoint, with the usual shrinking.
        if (tooLargeToRead(e)) return null;
        // Anything else (the claim lost, the source failing) is the next read's failure, after N's checkpoint.
        throw e;
      } finally {
        endRead();
      }
    })();
    // Its failure is seen when the page is wanted (or never, if it is dropped): not an unhandled one.
    ahead.page.catch(() => undefined);
    return ahead;
  }

  /** Calls off a page read ahead, waits for its read to end (aborted at once), gives its bytes back. */
  private async dropReadAhead(ahead: ReadAhead): Promise<void> {
    ahead.stop.abort();
    await ahead.page.catch(() => undefined);
    this.budget.give(ahead.reserved);
  }

  /**
   * The next page of the slice, within the byte cap: a page too big to read (over the cap, or more
   * than this process can hold) is asked for again with half the rows, down to one document.
   */
  private async readPage(claim: SliceClaim, lane: number, sizer: PageSizer, ctx: object, cursor: string | null, signal: AbortSignal): Promise<Page> {
    const { spec, source } = this.c;
    const { customers, bounds } = claim.node;
    for (;;) {
      this.c.doing(lane, `reading a page of slice ${claim.key} (${sizer.rows} rows)`);
      const endRead = metrics.readSeconds.startTimer({ migration: spec.migration });
      try {
        return await withBackoff(() => this.read(source, customers, bounds, cursor, sizer.rows, signal, sizer.cap), this.c.retryOptions('read', signal));
      } catch (e) {
        if (!tooLargeToRead(e)) throw e;
        const rows = sizer.rows;
        if (!sizer.shrink()) {
          throw new Error(`one document after cursor ${cursor ?? '(start)'} is more than this worker can hold (${describeError(e)}): give the worker more memory`);
        }
        log.warn({ ...ctx, rows, next: sizer.rows, err: describeError(e) }, 'page too big to read: reading fewer documents');
      } finally {
        endRead();
      }
    }
  }

  /**
   * Metrics by customer label (customerLabel: the plan's biggest customers, the rest "other"). A slice
   * of one customer counts as a whole; a packed slice by each document's customer field.
   */
  private countDocs(customers: Array<string | null>, docs: SourceDoc[], written: number, skipped: number, rejected: number): void {
    const migration = this.c.spec.migration;
    const read = docs.length;
    const single = customers.length === 1 ? customerLabel(customers[0]) : null;
    const labels = single !== null || docs.length === 0 ? { migration, customer: single ?? 'other' } : null;
    if (labels) {
      metrics.docsRead.inc(labels, read);
      metrics.docsWritten.inc(labels, written);
      metrics.docsSkipped.inc(labels, skipped);
      metrics.docsRejected.inc(labels, rejected);
      return;
    }
    const field = this.c.spec.fields.customer;
    const byLabel = new Map<string, number>();
    for (const d of docs) {
      // A raw page's reader saw the value (SourceDoc.customer): the document is not parsed for it.
      const v = d.customer !== undefined ? d.customer : d.fields[field];
      const label = customerLabel(typeof v === 'string' ? v : null);
      byLabel.set(label, (byLabel.get(label) ?? 0) + 1);
    }
    for (const [customer, n] of byLabel) metrics.docsRead.inc({ migration, customer }, n);
    // Written/skipped/rejected are known per batch, not per document: under "other" for packed slices.
    metrics.docsWritten.inc({ migration, customer: 'other' }, written);
    metrics.docsSkipped.inc({ migration, customer: 'other' }, skipped);
    metrics.docsRejected.inc({ migration, customer: 'other' }, rejected);
  }

  private async recordFailure(claim: SliceClaim, err: unknown, ctx: object): Promise<CopyOutcome> {
    const message = describeError(err).slice(0, 500);
    try {
      const n = await claim.checkpoint((node) => afterFailure(node, message, this.c.spec));
      log.error({ ...ctx, err: message, failures: n.failures, status: n.status, transient: err instanceof RetryableError }, 'slice attempt failed');
      if (n.status === 'failed') {
        metrics.slicesFinished.inc({ migration: this.c.spec.migration, status: 'failed' });
        return 'failed';
      }
    } catch (e) {
      log.error({ ...ctx, err: message, checkpointErr: describeError(e) }, 'slice attempt failed and could not be recorded');
    }
    return 'attempt-failed';
  }
}
