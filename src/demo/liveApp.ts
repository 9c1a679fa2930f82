/**
 * The demo's live application, in-process: writers that insert, update and delete through the
 * package's DualWriter (both clusters, the read side first), and readers that list a customer's
 * documents from the cluster the package's ReadRouter names for that customer. Both run until
 * stop(); every read is counted with the side that answered it, every failure too, and every
 * change of side the readers saw is kept with its time (how fast readers follow a cutover).
 */
import { openBackend } from '../backends';
import type { Backend } from '../backends/types';
import type { Spec } from '../config/spec';
import { ZkSession } from '../coordination/zk';
import type { ReadSide } from '../cutover/cutover';
import { ReadRouter } from '../cutover/readRouter';
import { DualWriter } from '../dualwrite/dualWriter';
import { describeError } from '../errors';
import { prng, type DemoDoc } from './dataset';

export interface LiveAppOptions {
  writers: number;
  readers: number;
  /** Pause between two operations of one writer / reader (ms). */
  pauseMs: number;
  /** Customers the application serves (null: documents with no customer). */
  customers: Array<string | null>;
  /** Ids that exist when the day starts (the legacy data), by customer: what updates and deletes pick from. */
  existing: Map<string | null, string[]>;
}

export interface ReadSwitch {
  reader: number;
  side: ReadSide;
  at: number;
}

export interface LiveCounts {
  reads: Record<ReadSide, number>;
  failedReads: number;
  writes: { index: number; update: number; delete: number };
  failedWrites: number;
  /** Writes whose second side failed: recorded for verify-integrity --repair. */
  recorded: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const WORDS = ['order', 'invoice', 'refund', 'shipment', 'review', 'ticket', 'basket', 'return'];

export class LiveApp {
  readonly counts: LiveCounts = { reads: { legacy: 0, new: 0 }, failedReads: 0, writes: { index: 0, update: 0, delete: 0 }, failedWrites: 0, recorded: 0 };
  /** Every time a reader's side differed from its previous read's (its first read included). */
  readonly switches: ReadSwitch[] = [];
  readonly errors: string[] = [];
  private running = true;
  private loops: Promise<void>[] = [];
  private seq = 0;
  private readonly rnd = prng(7);
  /** Ids the writers may update or delete, per customer (live inserts join, deletes leave). */
  private readonly ids: Map<string | null, string[]>;
  private readonly busy = new Set<string>();

  private constructor(private readonly spec: Spec, private readonly opts: LiveAppOptions, private readonly zk: ZkSession,
    private readonly writer: DualWriter, private readonly router: ReadRouter, private readonly sides: Record<ReadSide, Backend>) {
    this.ids = new Map([...opts.existing].map(([c, l]) => [c, [...l]]));
  }

  static async start(spec: Spec, opts: LiveAppOptions): Promise<LiveApp> {
    const zk = await ZkSession.connect({ connect: spec.zookeeper.connect, sessionTimeout: spec.zookeeper.sessionTimeout, connectTimeout: spec.zookeeper.connectTimeout });
    const writer = await DualWriter.open(spec, { zk });
    const router = await ReadRouter.start(zk, spec.migration, spec.zookeeper.root);
    const app = new LiveApp(spec, opts, zk, writer, router, { legacy: openBackend(spec.source, spec), new: openBackend(spec.target, spec) });
    writer.on('recorded', () => app.counts.recorded++);
    for (let i = 0; i < opts.writers; i++) app.loops.push(app.writeLoop());
    for (let i = 0; i < opts.readers; i++) app.loops.push(app.readLoop(i));
    return app;
  }

  get liveWrites(): number {
    const w = this.counts.writes;
    return w.index + w.update + w.delete;
  }

  /** Where the application reads now (the migration-wide flag). */
  get readSide(): ReadSide {
    return this.router.readSide();
  }

  get flagHistory() {
    return this.router.current.history;
  }

  /** Waits until every reader has made a read on `side` after `since`; resolves with the first and the last reader's time. */
  async readersOn(side: ReadSide, since: number, timeoutMs: number): Promise<{ first: number; all: number } | null> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const seen = new Map<number, number>();
      for (const s of this.switches) if (s.side === side && s.at >= since && !seen.has(s.reader)) seen.set(s.reader, s.at);
      if (seen.size === this.opts.readers) {
        const times = [...seen.values()];
        return { first: Math.min(...times), all: Math.max(...times) };
      }
      if (Date.now() > until) return null;
      await sleep(50);
    }
  }

  private pick<T>(list: T[]): T {
    return list[Math.floor(this.rnd() * list.length)];
  }

  private async readLoop(reader: number): Promise<void> {
    let last: ReadSide | null = null;
    while (this.running) {
      const customer = this.pick(this.opts.customers);
      const side = this.router.readSide(customer);
      try {
        // "Show me my latest documents": a search on the cluster the flag names for this customer.
        await this.sides[side].readPage(customer, { kind: 'all' }, null, 10);
        this.counts.reads[side]++;
        if (side !== last) this.switches.push({ reader, side, at: Date.now() });
        last = side;
      } catch (e) {
        this.counts.failedReads++;
        if (this.errors.length < 20) this.errors.push(`read (${side}): ${describeError(e)}`);
      }
      await sleep(this.opts.pauseMs);
    }
  }

  private liveDoc(id: string, customer: string | null): DemoDoc {
    const n = this.seq++;
    const doc: DemoDoc = {
      id, timestamp: new Date().toISOString(), title: `${this.pick(WORDS)} ${n} (live)`, body: `${this.pick(WORDS)} ${this.pick(WORDS)} written live`,
      category: `cat-${n % 5}`, tags: ['live', this.pick(WORDS)], price: Math.round(this.rnd() * 10_000) / 100, quantity: n % 100,
    };
    if (customer !== null) doc.customer = customer;
    return doc;
  }

  private async writeLoop(): Promise<void> {
    while (this.running) {
      const customer = this.pick(this.opts.customers);
      const list = this.ids.get(customer) ?? [];
      const roll = this.rnd();
      try {
        if (roll < 0.45 || list.length < 10) {
          const id = `live-${customer ?? 'nocustomer'}-${process.pid}-${this.seq}`;
          const r = await this.writer.index(this.liveDoc(id, customer));
          list.push(id);
          this.ids.set(customer, list);
          this.counts.writes.index++;
          if (r.recorded) this.errors.push(`recorded: ${id}`);
        } else {
          const at = Math.floor(this.rnd() * list.length);
          const id = list[at];
          if (this.busy.has(id)) continue;
          this.busy.add(id);
          try {
            if (roll < 0.85) {
              await this.writer.update(this.liveDoc(id, customer));
              this.counts.writes.update++;
            } else {
              // Taken out of the pool first: nobody updates a document after its delete.
              list.splice(list.indexOf(id), 1);
              await this.writer.delete(id, { customer });
              this.counts.writes.delete++;
            }
          } finally {
            this.busy.delete(id);
          }
        }
      } catch (e) {
        this.counts.failedWrites++;
        if (this.errors.length < 20) this.errors.push(`write: ${describeError(e)}`);
      }
      await sleep(this.opts.pauseMs);
    }
  }

  /** Stops writers and readers, waits for the writes in flight, closes everything. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    await Promise.all(this.loops);
    await this.writer.close();
    this.router.close();
    await Promise.all([this.sides.legacy.close(), this.sides.new.close()]);
    this.zk.close();
  }
}
