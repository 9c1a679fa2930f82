/**
 * Moves one claimed slice: read a page after the cursor → write it create-only → checkpoint the
 * cursor (fenced), until the slice is done. Knows nothing of how the slice was found (scheduler.ts)
 * or of the fleet (worker.ts); what counts as a failure is the failure policy's (failurePolicy.ts).
 */
import { tooLargeToRead } from '../backends/http';
import type { Backend, Page } from '../backends/types';
import type { Spec } from '../config/spec';
import type { SliceClaim } from '../coordination/claim';
import type { Rejection } from '../coordination/workNode';
import { describeBounds, describeCustomers } from '../coordination/workNode';
import { FencedError, RetryableError, describeError } from '../errors';
import { log } from '../log';
import { transformPage } from '../transform/apply';
import { customerLabel, metrics } from '../metrics';
import { withBackoff, type BackoffOptions } from '../retry';
import { PageSizer, splitByBytes } from './batching';
import { afterFailure, keptRejections, refusesEverything, stalledTooOften } from './failurePolicy';
import { RateLimiter } from './rateLimiter';

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

export class SliceCopier {
  constructor(private readonly c: CopierContext) {}

  /** Copies the slice as far as it goes; returns how it ended and the documents read meanwhile. */
  async copy(claim: SliceClaim, lane: number, onDocs: (n: number) => void): Promise<CopyOutcome> {
    const { spec, source, target, limiter } = this.c;
    const { customers, bounds, index } = claim.node;
    const ctx = { worker: this.c.workerId, customers: describeCustomers(customers), slice: index, bounds: describeBounds(bounds) };
    const { docs: maxDocs, bytes: maxBytes } = spec.batch;
    log.info({ ...ctx, cursor: claim.node.cursor, attempt: claim.node.attempts }, claim.node.cursor ? 'resuming slice' : 'starting slice');
    // The first page of a slice is small (documents may be huge); later pages follow the sizes seen,
    // and a page too big to read is read again with fewer rows (PageSizer). A resumed slice's learned
    // size is capped by today's batch.docs (lowered after an out-of-memory).
    const sizer = new PageSizer(maxDocs, maxBytes, claim.node.pageRows ?? 100);
    try {
      const stalled = stalledTooOften(claim.node, spec);
      if (stalled) {
        await claim.checkpoint((n) => ({ ...n, status: 'failed', owner: null, lastError: stalled }));
        metrics.slicesFinished.inc({ migration: spec.migration, status: 'failed' });
        log.error({ ...ctx, stalls: claim.node.stalls }, 'slice failed: no progress across many claims');
        return 'failed';
      }
      for (;;) {
        if (this.c.stopping()) {
          log.info({ ...ctx, cursor: claim.node.cursor }, 'stopping: slice left at its checkpoint');
          return 'stopped';
        }
        claim.assertHeld();
        const page = await this.readPage(claim, lane, sizer, ctx);
        let written = 0;
        let skipped = 0;
        const rejected: Rejection[] = [];
        // The spec's transform (none: the page as read); its rejections are the documents', not the target's.
        const out = transformPage(spec, page.docs, index);
        for (const batch of splitByBytes(out.docs, maxDocs, maxBytes)) {
          await limiter.take(batch.length);
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
          limiter.recovered(batch.length);
          written += r.written;
          skipped += r.skipped;
          rejected.push(...r.rejected);
        }
        for (const r of rejected) log.warn({ ...ctx, id: r.id, reason: r.reason }, 'target rejected a document');
        const broken = refusesEverything(out.docs.length, rejected);
        if (broken) throw new Error(broken);
        rejected.push(...out.rejected);
        sizer.seen(page.docs);
        this.c.doing(lane, `checkpointing slice ${claim.key}`);
        await claim.checkpoint((n) => ({
          ...n,
          cursor: page.nextCursor,
          counts: {
            read: n.counts.read + page.docs.length,
            written: n.counts.written + written,
            skipped: n.counts.skipped + skipped,
            rejected: n.counts.rejected + rejected.length,
          },
          rejections: keptRejections(n.rejections, rejected, spec.worker.keepRejections),
          progressAt: Date.now(),
          pageRows: sizer.rows,
          // Progress: earlier failed attempts (and claims that got nowhere) no longer count.
          failures: 0,
          stalls: 0,
          ...(page.done ? { status: 'done' as const, finishedAt: Date.now(), owner: null, lastError: null } : {}),
        }));
        this.countDocs(customers, page.docs.map((d) => d.fields), page.docs.length, written, skipped, rejected.length);
        onDocs(page.docs.length);
        if (page.done) {
          metrics.slicesFinished.inc({ migration: spec.migration, status: 'done' });
          log.info({ ...ctx, counts: claim.node.counts }, 'slice done');
          return 'done';
        }
      }
    } catch (e) {
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
    }
  }

  /**
   * The next page of the slice, within the byte cap: a page too big to read (over the cap, or more
   * than this process can hold) is asked for again with half the rows, down to one document.
   */
  private async readPage(claim: SliceClaim, lane: number, sizer: PageSizer, ctx: object): Promise<Page> {
    const { spec, source } = this.c;
    const { customers, bounds } = claim.node;
    for (;;) {
      this.c.doing(lane, `reading a page of slice ${claim.key} (${sizer.rows} rows)`);
      const endRead = metrics.readSeconds.startTimer({ migration: spec.migration });
      try {
        return await withBackoff(() => source.readPage(customers, bounds, claim.node.cursor, sizer.rows, claim.signal, sizer.cap), this.c.retryOptions('read', claim.signal));
      } catch (e) {
        if (!tooLargeToRead(e)) throw e;
        const rows = sizer.rows;
        if (!sizer.shrink()) {
          throw new Error(`one document after cursor ${claim.node.cursor ?? '(start)'} is more than this worker can hold (${describeError(e)}): give the worker more memory`);
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
  private countDocs(customers: Array<string | null>, fields: Array<Record<string, unknown>>, read: number, written: number, skipped: number, rejected: number): void {
    const migration = this.c.spec.migration;
    const single = customers.length === 1 ? customerLabel(customers[0]) : null;
    const labels = single !== null || fields.length === 0 ? { migration, customer: single ?? 'other' } : null;
    if (labels) {
      metrics.docsRead.inc(labels, read);
      metrics.docsWritten.inc(labels, written);
      metrics.docsSkipped.inc(labels, skipped);
      metrics.docsRejected.inc(labels, rejected);
      return;
    }
    const field = this.c.spec.fields.customer;
    const byLabel = new Map<string, number>();
    for (const f of fields) {
      const v = f[field];
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
