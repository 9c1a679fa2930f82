/**
 * A promise API over node-zookeeper-client, and the session bookkeeping the fleet's fencing relies on.
 *
 * node-zookeeper-client may never emit `expired` while a partition lasts (it only learns of the
 * expiry when it reconnects), so `ZkSession` keeps its own clock: `lastContactAt` moves on every
 * answer from the server, and `suspect()` is true once that is older than the safety margin of the
 * session timeout. Work that must not outlive the session checks it (see claim.ts).
 */
import zookeeper, { ACL, Client, CreateMode, Exception, Id, Stat } from 'node-zookeeper-client';
import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash } from 'node:crypto';
import { parseZkConnect } from '../config/endpoints';
import { UserError, describeError } from '../errors';
import { log } from '../log';
import { metrics } from '../metrics';
import { CorruptNodeError, decodeNode, nodeKindOf } from './nodes';

export { CreateMode };

/** What ZooKeeper requests are for (the worker names its phases), counted by purpose in metrics. */
export type ZkPurpose = 'check' | 'claim' | 'checkpoint' | 'heartbeat' | 'wait' | 'other';
const purposes = new AsyncLocalStorage<ZkPurpose>();

/** Runs `fn` with its ZooKeeper requests (and those of everything it awaits) counted under `purpose`. */
export function forPurpose<T>(purpose: ZkPurpose, fn: () => T): T {
  return purposes.run(purpose, fn);
}

function countRequest(): void {
  metrics.zookeeperRequests.inc({ purpose: purposes.getStore() ?? 'other' });
}
export type { Stat };

export const ZK_CODES = {
  NO_NODE: Exception.NO_NODE,
  NODE_EXISTS: Exception.NODE_EXISTS,
  BAD_VERSION: Exception.BAD_VERSION,
  NOT_EMPTY: Exception.NOT_EMPTY,
  NO_AUTH: Exception.NO_AUTH,
  CONNECTION_LOSS: Exception.CONNECTION_LOSS,
  SESSION_EXPIRED: Exception.SESSION_EXPIRED,
} as const;

export function zkCode(err: unknown): number | undefined {
  const e = err as { getCode?: () => number; code?: number };
  if (e && typeof e.getCode === 'function') return e.getCode();
  return typeof e?.code === 'number' ? e.code : undefined;
}

/**
 * ZooKeeper could not be reached or the session is being replaced: worth waiting for. Any other code
 * (NO_AUTH, NO_NODE, BAD_VERSION, ...) is the server's answer, and waiting would not change it.
 */
export function isZkOutage(e: unknown): boolean {
  const code = zkCode(e instanceof MultiError ? { code: e.code } : e);
  return code === ZK_CODES.CONNECTION_LOSS || code === ZK_CODES.SESSION_EXPIRED || code === Exception.OPERATION_TIMEOUT;
}

export const isNoNode = (e: unknown) => zkCode(e) === ZK_CODES.NO_NODE;
export const isNodeExists = (e: unknown) => zkCode(e) === ZK_CODES.NODE_EXISTS;
export const isBadVersion = (e: unknown) => zkCode(e) === ZK_CODES.BAD_VERSION;

export interface ZkOptions {
  connect: string;
  sessionTimeout: number;
  connectTimeout: number;
  /** "user:password" for digest ACLs on the migration's tree. */
  auth?: string;
}

export type MultiOp =
  | { op: 'create'; path: string; data?: Buffer; mode?: number }
  | { op: 'set'; path: string; data: Buffer; version: number }
  | { op: 'check'; path: string; version: number }
  | { op: 'remove'; path: string; version: number };

/** A multi that failed: which op, and why. */
export class MultiError extends Error {
  constructor(readonly index: number, readonly code: number, readonly op: MultiOp) {
    super(`ZooKeeper multi failed at op ${index} (${op.op} ${op.path}): ${(Exception as any).create(code).toString()}`);
  }
}

/**
 * A client for a validated connect string. node-zookeeper-client splits "host:port" on ":" and falls
 * back to localhost:2181 for what it cannot read ("::::"), so the string is checked first (the spec
 * does too) and bracketed IPv6 addresses, which it cannot split, get their server list from our parser.
 */
function createClient(options: ZkOptions): Client {
  const parsed = parseZkConnect(options.connect);
  if (typeof parsed === 'string') {
    throw new UserError(`The ZooKeeper connect string ${JSON.stringify(options.connect)} is not valid: ${parsed}.`,
      'Give host:port[,host:port...][/chroot] (IPv6 in brackets, e.g. [::1]:2181) in zookeeper.connect, BLUEGREEN_ZK_CONNECT or --zk.');
  }
  if (!Number.isInteger(options.sessionTimeout) || options.sessionTimeout <= 0 || !Number.isInteger(options.connectTimeout) || options.connectTimeout <= 0) {
    throw new UserError(`ZooKeeper timeouts must be positive whole milliseconds (sessionTimeout ${options.sessionTimeout}, connectTimeout ${options.connectTimeout}).`,
      'Set zookeeper.sessionTimeout and zookeeper.connectTimeout in the spec (e.g. 15s).');
  }
  const client = zookeeper.createClient(options.connect, { sessionTimeout: options.sessionTimeout, spinDelay: 500, retries: 0 });
  if (parsed.servers.some((s) => s.host.includes(':'))) {
    const manager = (client as any).connectionManager;
    if (!manager || !Array.isArray(manager.servers)) throw new UserError('This ZooKeeper client cannot connect to IPv6 addresses.', 'Give host names instead of IPv6 addresses in the connect string.');
    manager.servers = parsed.servers.map((s) => ({ host: s.host, port: s.port }));
  }
  return client;
}

export class ZkSession {
  /** Last time the server answered us (any request or heartbeat). */
  lastContactAt = Date.now();
  /**
   * Bumped each time the session is replaced after it expired: everything ephemeral of an older epoch
   * (claims, worker registration) is gone, and whoever held it must act accordingly.
   */
  epoch = 0;
  private connected = false;
  private closed = false;
  private current: Client;
  readonly acls: ACL[];

  private constructor(client: Client, readonly options: ZkOptions) {
    this.current = client;
    // With credentials: only this identity may change the migration's nodes; anyone may read them
    // (status, the read router). Without: open, as ZooKeeper's default.
    this.acls = options.auth
      ? [new ACL(zookeeper.Permission.ALL, new Id('digest', digestId(options.auth))), new ACL(zookeeper.Permission.READ, new Id('world', 'anyone'))]
      : ((zookeeper.ACL as any).OPEN_ACL_UNSAFE as ACL[]);
    this.watch(client);
  }

  get client(): Client {
    return this.current;
  }

  private watch(client: Client): void {
    client.on('state', (state) => {
      if (client !== this.current) return;
      if (state === zookeeper.State.SYNC_CONNECTED || state === zookeeper.State.CONNECTED_READ_ONLY) {
        this.connected = true;
        this.lastContactAt = Date.now();
      } else {
        this.connected = false;
      }
      log.debug({ zkState: String(state) }, 'zookeeper state');
      if (state === zookeeper.State.EXPIRED && !this.closed) void this.renew();
    });
  }

  /**
   * node-zookeeper-client may never report `expired` (seen here: after a server restart it stays
   * "connected" and answers nothing). No answer for twice the session timeout means the server has
   * expired the session for sure, so starting a new one is safe.
   */
  private renewIfLongSilent(): void {
    if (!this.closed && !this.renewing && Date.now() - this.lastContactAt > 2 * this.sessionTimeout) {
      this.renewing = true;
      this.lastContactAt = Date.now(); // the new session gets a full timeout before it is judged
      void this.renew().finally(() => (this.renewing = false));
    }
  }

  private renewing = false;

  /** The session expired (ZooKeeper told us on reconnect): start a new one; its epoch tells the old ephemerals are gone. */
  private async renew(): Promise<void> {
    const old = this.current;
    log.warn({ epoch: this.epoch + 1 }, 'zookeeper session expired: starting a new session (claims of the old one are gone)');
    const client = createClient(this.options);
    this.current = client;
    this.epoch++;
    this.watch(client);
    try {
      old.close();
    } catch {
      /* already closed */
    }
    // Before connect: requests queued during the reconnect must already carry the credentials.
    if (this.options.auth) client.addAuthInfo('digest', Buffer.from(this.options.auth));
    client.connect();
  }

  /** Connects, or throws a UserError naming the connect string when ZooKeeper does not answer in time. */
  static async connect(options: ZkOptions): Promise<ZkSession> {
    const client = createClient(options);
    const session = new ZkSession(client, options);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        session.closed = true;
        client.close();
        reject(new UserError(`ZooKeeper at ${options.connect} did not answer within ${options.connectTimeout} ms.`,
          'Check that ZooKeeper is running and the connect string (zookeeper.connect, BLUEGREEN_ZK_CONNECT or --zk) is right.'));
      }, options.connectTimeout);
      client.once('connected', () => {
        clearTimeout(timer);
        resolve();
      });
      client.connect();
    });
    if (options.auth) client.addAuthInfo('digest', Buffer.from(options.auth));
    return session;
  }

  private get requestTimeout(): number {
    return Math.max(2000, this.sessionTimeout);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  get isConnected(): boolean {
    return this.connected && !this.closed;
  }

  /** The timeout the server granted (it may cap the one asked for), else the one asked for. */
  get sessionTimeout(): number {
    const granted = this.current.getSessionTimeout?.();
    return granted && granted > 0 ? Math.min(granted, this.options.sessionTimeout) : this.options.sessionTimeout;
  }

  get sessionId(): string {
    return this.client.getSessionId().toString('hex');
  }

  /** True when we cannot be sure the session is still alive (no answer for most of its timeout). */
  suspect(margin = 0.6): boolean {
    return this.closed || Date.now() - this.lastContactAt > this.sessionTimeout * margin;
  }

  /**
   * Arms the deadline of one request: past it the request fails as a connection loss (and a long
   * silence renews the session). Call the returned function when the answer comes: false means the
   * deadline already fired and the answer must be dropped.
   */
  private deadline(reject: (e: Error) => void, what: string): () => boolean {
    let settled = false;
    const timer = setTimeout(() => {
      settled = true;
      this.renewIfLongSilent();
      reject(Object.assign(new Error(`ZooKeeper did not answer ${what} within ${this.requestTimeout} ms (connection lost?)`), { code: ZK_CODES.CONNECTION_LOSS }));
    }, this.requestTimeout);
    return () => {
      if (settled) return false;
      settled = true;
      clearTimeout(timer);
      return true;
    };
  }

  /**
   * An answer proves the session was alive when the request was sent, not when the answer is read:
   * read after a process pause (SIGSTOP, a long GC), it must not make an expired session look fresh.
   */
  private contact(sentAt: number): void {
    this.lastContactAt = Math.max(this.lastContactAt, sentAt);
  }

  /**
   * One request. node-zookeeper-client queues requests while disconnected and may never answer them
   * if the session ends meanwhile, so every request has a deadline (the session timeout): past it,
   * it fails as a connection loss and the caller's own retry decides.
   */
  private call<T>(fn: (cb: (err: Error | Exception | null, ...rest: any[]) => void) => void, pick: (...rest: any[]) => T): Promise<T> {
    countRequest();
    return new Promise<T>((resolve, reject) => {
      const sentAt = Date.now();
      const answered = this.deadline(reject, 'a request');
      fn((err, ...rest) => {
        if (!answered()) return;
        if (err) {
          const code = zkCode(err);
          // A server-side answer (NO_NODE, BAD_VERSION, ...) is contact too; connection errors are not.
          if (code !== undefined && code !== ZK_CODES.CONNECTION_LOSS && code !== ZK_CODES.SESSION_EXPIRED && code < -100) {
            this.contact(sentAt);
          }
          reject(err);
          return;
        }
        this.contact(sentAt);
        resolve(pick(...rest));
      });
    });
  }

  exists(path: string, watcher?: (event: zookeeper.Event) => void): Promise<Stat | null> {
    return this.call((cb) => (watcher ? this.client.exists(path, watcher, cb) : this.client.exists(path, cb)), (stat: Stat) => stat ?? null);
  }

  getData(path: string, watcher?: (event: zookeeper.Event) => void): Promise<{ data: Buffer; stat: Stat }> {
    return this.call(
      (cb) => (watcher ? this.client.getData(path, watcher, cb) : this.client.getData(path, cb)),
      (data: Buffer, stat: Stat) => ({ data: data ?? Buffer.alloc(0), stat }),
    );
  }

  /** getData, or null when the node does not exist. */
  async getDataOrNull(path: string): Promise<{ data: Buffer; stat: Stat } | null> {
    try {
      return await this.getData(path);
    } catch (e) {
      if (isNoNode(e)) return null;
      throw e;
    }
  }

  getChildren(path: string, watcher?: (event: zookeeper.Event) => void): Promise<string[]> {
    return this.call((cb) => (watcher ? this.client.getChildren(path, watcher, cb) : this.client.getChildren(path, cb)), (children: string[]) => children);
  }

  /** getChildren, or [] when the parent does not exist. */
  async childrenOrEmpty(path: string): Promise<string[]> {
    try {
      return await this.getChildren(path);
    } catch (e) {
      if (isNoNode(e)) return [];
      throw e;
    }
  }

  create(path: string, data: Buffer = Buffer.alloc(0), mode: number = CreateMode.PERSISTENT): Promise<string> {
    return this.call((cb) => this.client.create(path, data, this.acls, mode, cb), (p: string) => p);
  }

  /** Creates path and its missing parents (persistent, empty). */
  mkdirp(path: string): Promise<string> {
    return this.call((cb) => this.client.mkdirp(path, Buffer.alloc(0), this.acls, CreateMode.PERSISTENT, cb), (p: string) => p);
  }

  setData(path: string, data: Buffer, version: number): Promise<Stat> {
    return this.call((cb) => this.client.setData(path, data, version, cb), (stat: Stat) => stat);
  }

  remove(path: string, version = -1): Promise<void> {
    return this.call((cb) => this.client.remove(path, version, cb), () => undefined);
  }

  /** Atomic multi-op; throws MultiError naming the op that failed. Returns the stats of set ops in order. */
  async multi(ops: MultiOp[]): Promise<Array<{ path?: string; stat?: Stat }>> {
    const tx = this.client.transaction();
    for (const o of ops) {
      if (o.op === 'create') tx.create(o.path, o.data ?? Buffer.alloc(0), this.acls, o.mode ?? CreateMode.PERSISTENT);
      else if (o.op === 'set') tx.setData(o.path, o.data, o.version);
      else if (o.op === 'check') tx.check(o.path, o.version);
      else tx.remove(o.path, o.version);
      // node-zookeeper-client's Transaction reads `version || -1`: version 0 (a fresh node, every
      // claim) would become "any version", and a fenced write an unconditional one. Put it back.
      if (o.op !== 'create') (tx as unknown as { ops: Array<{ version: number }> }).ops.at(-1)!.version = o.version;
    }
    countRequest();
    return new Promise((resolve, reject) => {
      const sentAt = Date.now();
      const answered = this.deadline(reject, 'a multi');
      tx.commit((err, results: Array<{ type: number; err?: number; path?: string; stat?: Stat }>) => {
        if (!answered()) return;
        if (err) {
          const failed = (results ?? []).findIndex((r) => r.err !== undefined && r.err !== 0 && r.err !== Exception.RUNTIME_INCONSISTENCY);
          if (failed >= 0) {
            this.contact(sentAt);
            reject(new MultiError(failed, results[failed].err as number, ops[failed]));
          } else {
            reject(err);
          }
          return;
        }
        this.contact(sentAt);
        resolve(results.map((r) => ({ path: r.path, stat: r.stat })));
      });
    });
  }

  /** Deletes a subtree, children first. For tests and `cancel`; never used on live work. */
  async removeRecursive(path: string): Promise<void> {
    for (const child of await this.childrenOrEmpty(path)) await this.removeRecursive(`${path}/${child}`);
    try {
      await this.remove(path);
    } catch (e) {
      if (!isNoNode(e)) throw e;
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.current.close();
    } catch (e) {
      log.debug({ err: describeError(e) }, 'closing zookeeper client');
    }
  }
}

/** ZooKeeper's digest scheme id: user:base64(sha1(user:password)). */
export function digestId(auth: string): string {
  const user = auth.split(':')[0];
  return `${user}:${createHash('sha1').update(auth).digest('base64')}`;
}

export function encodeJson(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value));
}

/**
 * Decodes a node's JSON. A path the layout knows (see nodes.ts) is checked against its kind's schema,
 * then `check`; a corrupt node is a CorruptNodeError (exit 2). Prefer decodeNode(kind, ...) in new code.
 */
export function decodeJson<T>(buf: Buffer, path: string, check?: (v: any) => string | null): T {
  const kind = nodeKindOf(path);
  let value: any;
  if (kind) {
    value = decodeNode(kind, buf, path);
  } else {
    try {
      value = JSON.parse(buf.toString('utf8'));
    } catch {
      throw new CorruptNodeError(path, 'it does not hold JSON', 'spec');
    }
  }
  const problem = value === null || typeof value !== 'object' || Array.isArray(value) ? `it holds ${JSON.stringify(value)}, not an object` : check?.(value);
  if (problem) throw new CorruptNodeError(path, problem, kind ?? 'spec');
  return value as T;
}
