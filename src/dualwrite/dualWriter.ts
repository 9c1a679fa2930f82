/**
 * For applications: the dual write of a migration. One call indexes, updates or deletes a document on
 * both clusters (Solr or Elasticsearch, the spec's source = legacy and target = new):
 *
 *   const writer = await DualWriter.open(loadSpec('migration.yaml'));
 *   await writer.index({ id: 'o-1', customer: 'acme', timestamp: '2026-01-01T00:00:00Z', total: 12 });
 *   await writer.delete('o-1', { customer: 'acme' });
 *
 * Order of the two writes: the side that serves the customer's reads now comes first (the read flag,
 * per customer, followed as ReadRouter follows it), so readers see the write as soon as the call
 * could have made it visible anywhere; the other side comes second.
 *
 * Update is a whole-document replace (the same request as index): the document sent replaces what
 * the cluster holds under its id. There are no partial (atomic / `_update`) updates.
 *
 * When the second write fails: it is retried with backoff (retry.ts; every error but a refusal of the
 * document itself, 400/413, is retried: a read-only collection or an index write block can be lifted),
 * then the id is recorded durably under the migration in ZooKeeper (<base>/dualwrite/<bucket>/<id>,
 * coordination/dualWriteRecords.ts) with the side that holds the truth, and counted
 * (bluegreen_dualwrite_recorded_ids_total). The call then resolves with `recorded: true`: the write
 * is where reads go. `verify-integrity` re-checks recorded ids first and `--repair` copies the truth
 * side's current version of each to the other side (or deletes it there when the truth side no
 * longer has it: a delete is never undone), then removes the record once the id is equal on both.
 * When the first write fails (after retries of transient errors: 429, 503, timeouts), nothing is sent
 * to the second side and the call rejects with the error; a transient failure may still have landed,
 * so that id is recorded too (verify finds it equal, or repairs it). If ZooKeeper cannot take a
 * record either, the call rejects with a DualWriteError naming the id: the application must retry it.
 *
 * Ordering, per document: writes to one id are serialized within one DualWriter — the second write
 * of id X starts only after the first finished on both sides (retries and recording included), so it
 * never overtakes it on either side, and both sides end with the last value written. Writes to
 * different ids run concurrently. Across processes (two DualWriters writing the same id) the order is
 * the application's to own, as it would be with one cluster: route an id's writes to one process, or
 * serialize them yourself.
 */
import { EventEmitter } from 'node:events';
import { openBackend } from '../backends';
import { EsStatusError } from '../backends/elasticsearch/client';
import { HttpStatusError, jsonBytes } from '../backends/http';
import type { Backend, Doc, SourceDoc } from '../backends/types';
import type { Spec } from '../config/spec';
import { DualWriteRecords, type DualWriteRecord } from '../coordination/dualWriteRecords';
import { MigrationStore } from '../coordination/migration';
import { ZkSession } from '../coordination/zk';
import type { ReadSide } from '../cutover/cutover';
import { ReadRouter } from '../cutover/readRouter';
import { RetryableError, UserError, describeError } from '../errors';
import { log } from '../log';
import { metrics } from '../metrics';
import { withBackoff, type BackoffOptions } from '../retry';
import { processId } from '../util';

export interface DualWriterOptions {
  /** A ZooKeeper session of the application's (else the writer opens one from the spec and closes it on close()). */
  zk?: ZkSession;
  /** Attempts at the second side before the id is recorded, the first included (default 4). */
  attempts?: number;
  /** Attempts at the first side for transient errors before the call rejects (default 3). */
  firstAttempts?: number;
  /** Backoff between attempts: full jitter from this, doubling (default 200 ms) ... */
  initialDelayMs?: number;
  /** ... up to this (default 5 s). */
  maxDelayMs?: number;
}

export interface WriteOptions {
  /** Elasticsearch custom routing of the document. */
  routing?: string;
}

export interface DeleteOptions extends WriteOptions {
  /** Whose document it is: decides which side comes first. Absent: the migration-wide read side. */
  customer?: string | null;
}

export interface DualWriteResult {
  id: string;
  /** The side written first (where the customer's reads went when the write started). */
  first: ReadSide;
  /** The second side failed after retries: the id is recorded for verify-integrity --repair. */
  recorded: boolean;
}

/** The write did not reach the first side, or it reached one side and ZooKeeper could not record the id. */
export class DualWriteError extends Error {
  constructor(message: string, readonly id: string, readonly side: ReadSide, cause?: unknown) {
    super(message, { cause });
    this.name = 'DualWriteError';
  }
}

const other = (s: ReadSide): ReadSide => (s === 'legacy' ? 'new' : 'legacy');

/** A refusal of the document itself (bad field, too large): another attempt would be refused the same way. */
function refusesDocument(e: unknown): boolean {
  const status = e instanceof HttpStatusError || e instanceof EsStatusError ? e.status : undefined;
  return status === 400 || status === 413;
}

export class DualWriter extends EventEmitter {
  readonly id = processId();
  private readonly tails = new Map<string, Promise<void>>();
  private closed = false;

  private constructor(
    private readonly spec: Spec,
    private readonly zk: ZkSession,
    private readonly ownZk: boolean,
    private readonly router: ReadRouter,
    private readonly sides: Record<ReadSide, Backend>,
    private readonly records: DualWriteRecords,
    private readonly opts: Required<Omit<DualWriterOptions, 'zk'>>,
  ) {
    super();
  }

  /** Connects (ZooKeeper, the read flag, both clusters' clients) for the spec's migration. */
  static async open(spec: Spec, options: DualWriterOptions = {}): Promise<DualWriter> {
    refuseTransforms(spec);
    const zk = options.zk ?? await ZkSession.connect({ connect: spec.zookeeper.connect, sessionTimeout: spec.zookeeper.sessionTimeout, connectTimeout: spec.zookeeper.connectTimeout, auth: spec.zookeeper.auth });
    try {
      const router = await ReadRouter.start(zk, spec.migration, spec.zookeeper.root);
      const sides = { legacy: openBackend(spec.source, spec), new: openBackend(spec.target, spec) };
      const opts = { attempts: options.attempts ?? 4, firstAttempts: options.firstAttempts ?? 3, initialDelayMs: options.initialDelayMs ?? 200, maxDelayMs: options.maxDelayMs ?? 5000 };
      if (opts.attempts < 1 || opts.firstAttempts < 1) throw new UserError(`DualWriter: attempts (${opts.attempts}) and firstAttempts (${opts.firstAttempts}) must be at least 1.`, 'Pass attempts of 1 or more (1: no retry).');
      return new DualWriter(spec, zk, !options.zk, router, sides, new DualWriteRecords(zk, new MigrationStore(zk, spec)), opts);
    } catch (e) {
      if (!options.zk) zk.close();
      throw e;
    }
  }

  /** Where the customer's reads go now, and so which side a write of theirs goes to first. */
  readSide(customer?: string | null): ReadSide {
    return this.router.readSide(customer);
  }

  /**
   * Indexes the whole document on both sides (creates it, or replaces the one under its id). `doc` is
   * field → value, as stored: its unique key (spec fields.uniqueKey) names it, its customer field
   * decides which side comes first.
   */
  async index(document: object, options: WriteOptions = {}): Promise<DualWriteResult> {
    const doc = document as Doc;
    const id = this.idOf(doc);
    const source: SourceDoc = { id, fields: doc, bytes: jsonBytes(doc), ...(options.routing !== undefined ? { routing: options.routing } : {}) };
    return this.serialize(id, () => this.write('index', id, this.customerOf(doc), options.routing, (b) => b.putDocument(source)));
  }

  /** A whole-document replace: the same as index (no partial updates). */
  async update(document: object, options: WriteOptions = {}): Promise<DualWriteResult> {
    return this.index(document, options);
  }

  /** Deletes the document on both sides (one that is not there is no error). */
  async delete(id: string, options: DeleteOptions = {}): Promise<DualWriteResult> {
    if (typeof id !== 'string' || id === '') throw new UserError(`DualWriter.delete: the id must be a non-empty string, not ${JSON.stringify(id)}.`, 'Pass the document\'s unique key.');
    return this.serialize(id, () => this.write('delete', id, options.customer ?? null, options.routing, (b) => b.deleteDocument(id, options.routing), options.customer === undefined));
  }

  /** Resolves when every write started so far has finished (before close, or in tests). */
  async drain(): Promise<void> {
    while (this.tails.size) await Promise.all([...this.tails.values()]);
  }

  /** Waits for the writes in flight, then closes the router, the clients and (if it opened it) the ZooKeeper session. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.drain();
    this.router.close();
    await Promise.all([this.sides.legacy.close(), this.sides.new.close()]);
    if (this.ownZk) this.zk.close();
  }

  private idOf(doc: Doc): string {
    const key = this.spec.fields.uniqueKey;
    if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new UserError(`DualWriter: a document is an object of fields, not ${JSON.stringify(doc)}.`, 'Pass the document as field → value.');
    const v = doc?.[key];
    if (typeof v === 'string' && v !== '') return v;
    if (typeof v === 'number' || typeof v === 'bigint') return String(v);
    throw new UserError(`DualWriter: the document has no usable unique key (field "${key}" is ${v === undefined ? 'missing' : JSON.stringify(v)}).`,
      `Give every document a non-empty "${key}" (spec fields.uniqueKey).`);
  }

  private customerOf(doc: Doc): string | null {
    const v = doc[this.spec.fields.customer];
    return v === undefined || v === null ? null : String(v);
  }

  /** Runs `fn` after every earlier write of `id` in this process finished (whatever their outcome). */
  private serialize<T>(id: string, fn: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new Error('DualWriter is closed'));
    const previous = this.tails.get(id) ?? Promise.resolve();
    const result = previous.then(fn);
    const tail = result.then(() => undefined, () => undefined);
    this.tails.set(id, tail);
    void tail.then(() => {
      if (this.tails.get(id) === tail) this.tails.delete(id);
    });
    return result;
  }

  private backoff(side: ReadSide, attempts: number, retryable: (e: unknown) => boolean): BackoffOptions {
    return {
      attempts, initialDelayMs: this.opts.initialDelayMs, maxDelayMs: this.opts.maxDelayMs, retryable,
      onRetry: (err, attempt, delayMs) => {
        metrics.dualWriteRetries.inc({ migration: this.spec.migration, side });
        log.debug({ side, attempt, delayMs, err: describeError(err) }, 'dual write retried');
      },
    };
  }

  private async write(op: 'index' | 'delete', id: string, customer: string | null, routing: string | undefined,
    send: (b: Backend) => Promise<void>, customerUnknown = false): Promise<DualWriteResult> {
    const migration = this.spec.migration;
    const first = this.router.readSide(customerUnknown ? undefined : customer);
    const second = other(first);
    const record = (truth: ReadSide, err: unknown): Promise<void> => this.records.record({
      id, op, customer, ...(routing !== undefined ? { routing } : {}), truth, behind: other(truth), at: Date.now(), by: this.id, error: describeError(err).slice(0, 500),
    } satisfies DualWriteRecord);

    try {
      await withBackoff(() => send(this.sides[first]), this.backoff(first, this.opts.firstAttempts, (e) => e instanceof RetryableError));
    } catch (e) {
      metrics.dualWrites.inc({ migration, op, outcome: 'failed' });
      // A timeout or a 5xx may have landed all the same: verify looks at the id (equal, or repaired).
      if (e instanceof RetryableError) {
        await record(first, e).then(() => metrics.dualWriteRecorded.inc({ migration, side: second }), (z) => log.warn({ id, err: describeError(z) }, 'could not record an id whose first write may have landed'));
      }
      throw new DualWriteError(`The ${op} of ${JSON.stringify(id)} failed on the ${first} cluster (read side, written first): ${describeError(e)}. Nothing was sent to the ${second} cluster.`, id, first, e);
    }

    try {
      await withBackoff(() => send(this.sides[second]), this.backoff(second, this.opts.attempts, (e) => !refusesDocument(e)));
      metrics.dualWrites.inc({ migration, op, outcome: 'both' });
      return { id, first, recorded: false };
    } catch (e) {
      try {
        await record(first, e);
      } catch (z) {
        metrics.dualWrites.inc({ migration, op, outcome: 'failed' });
        throw new DualWriteError(`The ${op} of ${JSON.stringify(id)} reached the ${first} cluster but not the ${second} (${describeError(e)}), and ZooKeeper could not record it (${describeError(z)}): `
          + 'write the id again, or the two clusters stay different on it.', id, second, e);
      }
      metrics.dualWrites.inc({ migration, op, outcome: 'recorded' });
      metrics.dualWriteRecorded.inc({ migration, side: second });
      log.warn({ id, op, written: first, failed: second, err: describeError(e) }, 'dual write reached one side only: the id is recorded for verify-integrity --repair');
      this.emit('recorded', { id, op, truth: first, behind: second, error: describeError(e) });
      return { id, first, recorded: true };
    }
  }
}

/**
 * A migration with a transform cannot be dual-written by this class: it would send the application's
 * document as it is to the new cluster, where the copy puts transform(document) — the two sides would
 * hold different models, verification would find every dual-written id different, and a repair would
 * rewrite the application's writes. In place there is one collection: the application writes to it
 * once, and the workers re-read what changed under them. Refused before anything is opened.
 */
function refuseTransforms(spec: Spec): void {
  if (spec.copy.mode === 'in-place') {
    throw new UserError(`DualWriter: migration "${spec.migration}" runs in place (copy.mode: in-place): there is one collection, so there is nothing to dual-write.`,
      'Let the application write to the collection as it does; the workers re-read and transform again a document a live write changed under them.');
  }
  if (spec.transform) {
    throw new UserError(`DualWriter: migration "${spec.migration}" has a transform (${spec.transform.module}); the dual writer would send the application's documents to the new cluster untransformed, unlike the copy.`,
      'Write the new model to the new cluster from the application itself (and the old one to the legacy cluster). Nothing was written.');
  }
}
