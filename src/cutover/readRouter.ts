/**
 * For applications: which cluster to read, per customer, kept current by a ZooKeeper watch.
 *
 *   const router = await ReadRouter.start(zkClient, 'orders-2026');
 *   const side = router.readSide('acme');          // 'legacy' | 'new'
 *   router.on('change', (state) => log(state));    // after every cutover or rollback
 *
 * Sessions: a ZkSession renews itself and the router re-arms on the new one. A plain node-zookeeper-client
 * is dead once its session expired (it emits `expired` and none of its watches fire again), so the router
 * then opens a session of its own to the same connect string (same servers, session timeout and
 * credentials), re-reads the flag and watches it there, emits `expired` (the application's client is
 * unusable: recreate it) and goes on emitting `change`. `close()` closes the router's own session.
 */
import { EventEmitter } from 'node:events';
import zookeeper, { type Client } from 'node-zookeeper-client';
import { Layout } from '../coordination/layout';
import { ZkSession, isNoNode } from '../coordination/zk';
import { INITIAL_STATE, cutoverProblem, readSideFor, type CutoverState, type ReadSide } from './cutover';

export class ReadRouter extends EventEmitter {
  private state: CutoverState = structuredClone(INITIAL_STATE);
  closed = false;
  /** The session the router opened itself after the application's plain client expired. */
  private own?: Client;

  /** The client now: a ZkSession replaces its client when a session expires, so it is looked up each time. */
  private constructor(private readonly currentClient: () => Client, private readonly path: string) {
    super();
  }

  private get client(): Client {
    return this.own ?? this.currentClient();
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
    } else {
      router.followExpiry(zk);
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
    this.own?.close();
  }

  /** On expiry of `client` (the application's, or one of ours), move to a session of our own. */
  private followExpiry(client: Client): void {
    client.on('state', (state) => {
      if (state !== zookeeper.State.EXPIRED || this.closed || client !== this.client) return;
      try {
        this.takeOver(client);
      } catch (e) {
        this.fail(e);
      }
    });
  }

  private takeOver(dead: Client): void {
    const manager = (dead as any).connectionManager;
    const connect: unknown = manager?.connectionStringParser?.connectionString;
    if (typeof connect !== 'string' || !connect) {
      throw new Error('the ZooKeeper session of the read router expired and its client does not tell its connect string, so the router cannot open a new session: '
        + 'start the router again with a new client (or give it a ZkSession, which renews itself)');
    }
    const options = (dead as any).options ?? {};
    const fresh = zookeeper.createClient(connect, { sessionTimeout: options.sessionTimeout, spinDelay: options.spinDelay, retries: options.retries });
    // The same servers as resolved for the dead client (a caller may have set them, e.g. IPv6), and its credentials.
    const freshManager = (fresh as any).connectionManager;
    if (Array.isArray(manager?.servers) && freshManager) freshManager.servers = manager.servers.map((s: object) => ({ ...s }));
    for (const c of manager?.credentials ?? []) fresh.addAuthInfo(c.scheme, c.auth);
    const previous = this.own;
    this.own = fresh;
    previous?.close();
    this.followExpiry(fresh);
    fresh.once('connected', () => {
      if (this.closed || this.own !== fresh) return;
      this.refresh().catch((e) => this.fail(e));
    });
    fresh.connect();
    this.emit('expired');
  }

  refresh(): Promise<void> {
    const client = this.client;
    return new Promise((resolve, reject) => {
      // A watch of a client we left (its session expired) is not followed: the new one has its own.
      const watcher = () => {
        if (!this.closed && client === this.client) this.refresh().catch((e) => this.fail(e));
      };
      client.getData(this.path, watcher, (err, data) => {
        if (client !== this.client) return resolve(); // answered by a dead session: the new one re-reads
        if (err) {
          if (!isNoNode(err)) return reject(err);
          // Not cut over yet: watch for the node to appear.
          client.exists(this.path, watcher, (e2, stat) => {
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
