/**
 * For applications: which cluster to read, per customer, kept current by a ZooKeeper watch.
 *
 *   const router = await ReadRouter.start(zkClient, 'orders-2026');
 *   const side = router.readSide('acme');          // 'legacy' | 'new'
 *   router.on('change', (state) => log(state));    // after every cutover or rollback
 */
import { EventEmitter } from 'node:events';
import type { Client } from 'node-zookeeper-client';
import { Layout } from '../coordination/layout';
import { ZkSession, isNoNode } from '../coordination/zk';
import { INITIAL_STATE, cutoverProblem, readSideFor, type CutoverState, type ReadSide } from './cutover';

export class ReadRouter extends EventEmitter {
  private state: CutoverState = structuredClone(INITIAL_STATE);
  closed = false;

  /** The client now: a ZkSession replaces its client when a session expires, so it is looked up each time. */
  private constructor(private readonly currentClient: () => Client, private readonly path: string) {
    super();
  }

  private get client(): Client {
    return this.currentClient();
  }

  /** Reads the flag and starts watching it. `zk` is a connected node-zookeeper-client Client (or our ZkSession). */
  static async start(zk: Client | ZkSession, migration: string, root = '/bluegreen'): Promise<ReadRouter> {
    const current = zk instanceof ZkSession ? () => zk.client : () => zk;
    const router = new ReadRouter(current, new Layout(root, migration).cutover);
    if (zk instanceof ZkSession) {
      // A renewed session has no watches: re-arm on the new client.
      let epoch = zk.epoch;
      const timer = setInterval(() => {
        if (router.closed) return clearInterval(timer);
        if (zk.epoch !== epoch && zk.isConnected) {
          epoch = zk.epoch;
          router.refresh().catch((e) => router.fail(e));
        }
      }, 1000);
      timer.unref();
    }
    await router.refresh();
    return router;
  }

  /** Where reads for `customer` go now; without a customer, the migration-wide default. */
  readSide(customer?: string | null): ReadSide {
    return readSideFor(this.state, customer);
  }

  get current(): CutoverState {
    return this.state;
  }

  close(): void {
    this.closed = true;
    this.removeAllListeners();
  }

  refresh(): Promise<void> {
    return new Promise((resolve, reject) => {
      const watcher = () => {
        if (!this.closed) this.refresh().catch((e) => this.fail(e));
      };
      this.client.getData(this.path, watcher, (err, data) => {
        if (err) {
          if (!isNoNode(err)) return reject(err);
          // Not cut over yet: watch for the node to appear.
          this.client.exists(this.path, watcher, (e2, stat) => {
            if (e2) return reject(e2);
            if (stat) watcher();
            this.apply(structuredClone(INITIAL_STATE));
            resolve();
          });
          return;
        }
        try {
          const v = JSON.parse(data.toString('utf8'));
          if (cutoverProblem(v)) throw new Error(`corrupt cutover node ${this.path}: ${cutoverProblem(v)}`);
          this.apply(v);
          resolve();
        } catch (e) {
          reject(e);
        }
      });
    });
  }

  /** Errors go to 'error' listeners if the application has any; an EventEmitter would throw otherwise. */
  private fail(e: unknown): void {
    if (this.listenerCount('error') > 0) this.emit('error', e);
  }

  /**
   * 'change' means "a read may now go elsewhere": the default side or a customer's side moved. The
   * node is also rewritten when nothing moves for readers (a pending transition completed, history
   * trimmed, a refresh after a reconnect); those keep the state current without an event.
   */
  private apply(next: CutoverState): void {
    const changed = !sameRouting(next, this.state);
    this.state = next;
    if (changed) this.emit('change', next);
  }
}

/** Do two states send every read to the same side? (Customers without an entry follow the default.) */
export function sameRouting(a: CutoverState, b: CutoverState): boolean {
  if (a.read !== b.read) return false;
  const names = new Set([...Object.keys(a.customers), ...Object.keys(b.customers)]);
  for (const c of names) if ((a.customers[c] ?? a.read) !== (b.customers[c] ?? b.read)) return false;
  return true;
}
