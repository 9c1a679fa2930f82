/**
 * The one place where Elasticsearch majors (and OpenSearch, its fork) differ. `GET /` tells the
 * distribution and major; a 7.x server gets the v7 client (npm alias `es7`), 8.x the v8 client
 * (`es8`), 9.x the v9 client (`es9`): a v8 client refuses a 7.x server. An OpenSearch server gets
 * OpenSearch's own client (../opensearch/client.ts). All take the same request parameters here; what
 * differs is how they are built (TLS options), how they answer (v7 and OpenSearch wrap the body in
 * `{ body }`) and how they fail — all of it normalized below, so the backend is written once.
 */
import { readFileSync } from 'node:fs';
import { unzipSync } from 'node:zlib';
import type * as Es7 from 'es7';
import type * as Es8 from 'es8';
import type * as Es9 from 'es9';
import type { Endpoint } from '../../config/spec';
import { RetryableError, UserError } from '../../errors';
import { safeUrl } from '../../log';
import { HttpClient, HttpStatusError, ResponseTooLargeError, ownBytes, readBytes, unreachable } from '../http';
import { exactJson } from '../exactJson';
import type * as OpenSearchClient from '../opensearch/client';

/** The two distributions of the same REST API (the spec's `kind`). */
export type Distribution = 'elasticsearch' | 'opensearch';

/** "Elasticsearch" / "OpenSearch", for messages. */
export const distributionName = (d: Distribution): string => (d === 'opensearch' ? 'OpenSearch' : 'Elasticsearch');

/** The majors each distribution is spoken to with (a client for each: see EsApi.open). */
export const SUPPORTED_MAJORS: Record<Distribution, readonly number[]> = { elasticsearch: [7, 8, 9], opensearch: [2, 3] };

/** A refusal from the server that retrying will not change (400, 404, 409, ...). */
export class EsStatusError extends Error {
  constructor(readonly status: number, readonly type: string | undefined, readonly reason: string, readonly body: unknown) {
    super(`Elasticsearch answered HTTP ${status}${type ? ` ${type}` : ''}: ${reason}`);
    this.name = 'EsStatusError';
  }
}

// Documents keep every number's text on the way in and out (64-bit integers as BigInt), as with Solr: exactJson.ts.
// The clients are loaded when a server of theirs is first met, not with this module: together they
// are most of the CLI's start-up (about 0.4 s of CPU), which a Solr migration's workers never need.
function client7(options: any): unknown {
  const { Client, Serializer } = require('es7') as typeof Es7;
  class ExactSerializer7 extends Serializer {
    override serialize(object: any): string {
      return exactJson.stringify(object);
    }
    override deserialize(json: string): any {
      return exactJson.parse(json);
    }
  }
  return new Client({ ...options, Serializer: ExactSerializer7 });
}
function client8(options: any): unknown {
  const { Client, Serializer } = require('es8') as typeof Es8;
  class ExactSerializer8 extends Serializer {
    override serialize(object: Record<string, any>): string {
      return exactJson.stringify(object);
    }
    override deserialize<T = unknown>(json: string): T {
      return exactJson.parse(json) as T;
    }
  }
  return new Client({ ...options, Serializer: ExactSerializer8 });
}
function client9(options: any): unknown {
  const { Client, Serializer } = require('es9') as typeof Es9;
  class ExactSerializer9 extends Serializer {
    override serialize(object: Record<string, any>): string {
      return exactJson.stringify(object);
    }
    override deserialize<T = unknown>(json: string): T {
      return exactJson.parse(json) as T;
    }
  }
  return new Client({ ...options, Serializer: ExactSerializer9 });
}

const RETRYABLE_NAMES = new Set(['ConnectionError', 'TimeoutError', 'NoLivingConnectionsError', 'RequestAbortedError']);

/** Client failures as the project's errors: transient ones retryable, refusals as EsStatusError. */
export function normalizeError(err: unknown, what: string): Error {
  const e = err as { name?: string; message?: string; meta?: { statusCode?: number; body?: any; headers?: Record<string, string> } };
  if (e?.name === 'ResponseError') {
    const status = Number(e.meta?.statusCode ?? 0);
    const body = e.meta?.body;
    const error = body?.error;
    const type: string | undefined = typeof error === 'object' ? error?.type : undefined;
    const reason = String((typeof error === 'object' ? error?.reason ?? error?.root_cause?.[0]?.reason : error) ?? e.message ?? '').slice(0, 500);
    if (status === 429 || status === 408 || status >= 500) {
      const retryAfter = Number(e.meta?.headers?.['retry-after']);
      return new RetryableError(`${what}: HTTP ${status}${type ? ` ${type}` : ''} ${reason}`.trim(),
        Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : undefined);
    }
    return new EsStatusError(status, type, reason, body);
  }
  // The answer was over the caller's maxResponseSize (the client stopped reading it): ask for less.
  const over = /content length \((\d+)\) is bigger than the maximum allowed string \((\d+)\)/.exec(e?.message ?? '');
  if (e?.name === 'RequestAbortedError' && over) return new ResponseTooLargeError(Number(over[1]), Number(over[2]), what);
  if (e?.name && RETRYABLE_NAMES.has(e.name)) return new RetryableError(`${what}: ${e.name} ${e.message ?? ''}`.trim());
  return err instanceof Error ? err : new Error(String(err));
}

/** What `GET /` says about a server. */
export interface ServerInfo {
  version: string;
  major: number;
  distribution: Distribution;
}

/**
 * Asks `GET /` for the distribution and version, trying each URL; a UserError names what is wrong
 * (unreachable, not the expected distribution, an unsupported major, credentials).
 */
export async function detectServer(endpoint: Endpoint, expected: Distribution = 'elasticsearch'): Promise<ServerInfo> {
  const name = distributionName(expected);
  const majors = SUPPORTED_MAJORS[expected];
  const speaks = `bluegreen speaks to ${name} ${majors.map((m) => `${m}.x`).join(', ')}`;
  const urls = Array.isArray(endpoint.url) ? endpoint.url : [endpoint.url];
  const http = new HttpClient({ timeoutMs: Math.min(endpoint.requestTimeout, 30_000), auth: endpoint.auth, tls: endpoint.tls, json: 'plain' });
  let lastError: unknown;
  for (const url of urls) {
    const base = url.replace(/\/+$/, '');
    let info: any;
    try {
      info = await http.request('GET', `${base}/`);
    } catch (e) {
      if (e instanceof HttpStatusError && (e.status === 401 || e.status === 403)) {
        throw new UserError(`${name} at ${safeUrl(base)} refused the credentials (HTTP ${e.status}).`,
          'Check the username/password or API key (spec auth, or BLUEGREEN_SOURCE_PASSWORD / BLUEGREEN_SOURCE_API_KEY / BLUEGREEN_TARGET_...).');
      }
      if (e instanceof HttpStatusError) {
        throw new UserError(`${safeUrl(base)} does not look like an ${name} node (GET / answered HTTP ${e.status}).`,
          'Give the node URL with no path, e.g. http://es-host:9200.');
      }
      lastError = e;
      continue;
    }
    const version = info?.version?.number;
    if (typeof version !== 'string') {
      throw new UserError(`${safeUrl(base)} does not look like an ${name} node (GET / has no version.number).`,
        'Give the node URL with no path, e.g. http://es-host:9200.');
    }
    // OpenSearch says so in version.distribution (also when it reports 7.10.2 for compatibility).
    const found: Distribution = info.version.distribution === 'opensearch' ? 'opensearch' : 'elasticsearch';
    if (found !== expected) {
      throw new UserError(`${safeUrl(base)} is ${distributionName(found)} ${version}, not ${name} (the spec says kind: ${expected}).`,
        `Set kind: ${found} for this endpoint, or point its url at an ${name} node. Nothing was changed.`);
    }
    const major = Number(version.split('.')[0]);
    if (!majors.includes(major)) {
      throw new UserError(`${name} ${version} at ${safeUrl(base)} is not supported.`, `${speaks}.`);
    }
    return { version, major, distribution: found };
  }
  throw unreachable(name, urls[0], lastError);
}

type Params = Record<string, unknown>;

/**
 * The calls the backend makes, the same for every major and both distributions. Every method
 * answers the response body and throws RetryableError or EsStatusError.
 */
export class EsApi {
  /** The v7 client and OpenSearch's (a fork of it) answer `{ body }` and abort by `abort()`, not a signal. */
  private readonly legacyStyle: boolean;

  private constructor(private readonly client: any, readonly info: ServerInfo) {
    this.legacyStyle = info.distribution === 'opensearch' || info.major === 7;
  }

  static async open(endpoint: Endpoint, distribution: Distribution = 'elasticsearch'): Promise<EsApi> {
    const info = await detectServer(endpoint, distribution);
    const nodes = (Array.isArray(endpoint.url) ? endpoint.url : [endpoint.url]).map((u) => u.replace(/\/+$/, ''));
    const auth = endpoint.auth?.apiKey ? { apiKey: endpoint.auth.apiKey }
      : endpoint.auth?.username ? { username: endpoint.auth.username, password: endpoint.auth.password ?? '' } : undefined;
    const tls = endpoint.tls ? {
      ca: endpoint.tls.caFile ? readFileSync(endpoint.tls.caFile) : undefined,
      cert: endpoint.tls.certFile ? readFileSync(endpoint.tls.certFile) : undefined,
      key: endpoint.tls.keyFile ? readFileSync(endpoint.tls.keyFile) : undefined,
      rejectUnauthorized: endpoint.tls.rejectUnauthorized,
    } : undefined;
    // Retries are the project's (retry.ts, with backoff and Retry-After): the clients' own are off.
    const common = { nodes, auth, maxRetries: 0, requestTimeout: endpoint.requestTimeout };
    const client = info.distribution === 'opensearch' ? (require('../opensearch/client') as typeof OpenSearchClient).openSearchClient({ ...common, ssl: tls })
      : info.major === 7 ? client7({ ...common, ssl: tls })
        : info.major === 8 ? client8({ ...common, tls })
          : client9({ ...common, tls });
    return new EsApi(client, info);
  }

  get major(): number {
    return this.info.major;
  }

  /**
   * One request. `signal` (a claim's: claim.ts) aborts it at once; the error then is the signal's
   * reason (a FencedError), never a retryable one. The v8/v9 clients take `{ signal }` as a request
   * option; the v7 and OpenSearch clients have none, but their request promise has `abort()`.
   * OpenSearch's client has no maxResponseSize: there an answer is read whole.
   */
  private async call<T = any>(what: string, fn: (client: any, options: Params) => Promise<any>, signal?: AbortSignal, maxResponseSize?: number, whole = false): Promise<T> {
    signal?.throwIfAborted();
    let request: { abort?: () => void } | undefined;
    // Out of the signal's dispatch: the v7 client's abort() called from inside an abort listener left
    // its own RequestAbortedError uncaught (a worker stopped during a page read ahead crashed, exit 1).
    const onAbort = () => process.nextTick(() => request?.abort?.());
    try {
      // maxResponseSize: the client stops reading an answer past it (ResponseTooLargeError).
      const options: Params = {
        ...(signal && !this.legacyStyle ? { signal } : {}),
        ...(maxResponseSize && this.info.distribution === 'elasticsearch' ? { maxResponseSize } : {}),
      };
      const pending = fn(this.client, options);
      request = pending as { abort?: () => void };
      if (signal && this.legacyStyle) signal.addEventListener('abort', onAbort, { once: true });
      const res = await pending;
      return (this.legacyStyle && !whole ? res.body : res) as T;
    } catch (e) {
      if (signal?.aborted) throw signal.reason;
      throw normalizeError(e, what);
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  search(index: string, body: Params, params: Params = {}, signal?: AbortSignal, maxResponseSize?: number): Promise<any> {
    return this.call(`search ${index}`, (c, options) => c.search({ index, body, ...params }, options), signal, maxResponseSize);
  }

  /**
   * search, its answer as the bytes that came (a raw page: rawPage.ts), not parsed: the client is
   * asked for the answer as a stream (`asStream`), read here within `maxResponseSize`. A stream is
   * handed over whatever the status, so a refusal is read and thrown here as the client would have.
   */
  async searchBytes(index: string, body: Params, params: Params = {}, signal?: AbortSignal, maxResponseSize?: number): Promise<Buffer> {
    const what = `search ${index}`;
    const res = await this.call<{ body: AsyncIterable<Uint8Array> & { destroy?(e?: Error): void }; statusCode: number; headers: Record<string, string | undefined> }>(what,
      (c, options) => c.search({ index, body, ...params }, { ...options, asStream: true, ...(this.legacyStyle ? {} : { meta: true }) }), signal, undefined, true);
    const stream = res.body;
    const onAbort = () => stream.destroy?.();
    signal?.addEventListener('abort', onAbort, { once: true });
    let bytes: Buffer;
    try {
      bytes = ownBytes(await readBytes(stream, res.headers?.['content-length'], maxResponseSize, what));
    } catch (e) {
      stream.destroy?.();
      if (signal?.aborted) throw signal.reason;
      if (e instanceof ResponseTooLargeError) throw e;
      throw normalizeError(e, what);
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
    const encoding = String(res.headers?.['content-encoding'] ?? '').toLowerCase();
    if (encoding.includes('gzip') || encoding.includes('deflate')) bytes = unzipSync(bytes);
    if (res.statusCode < 200 || res.statusCode >= 300) {
      const text = bytes.toString('utf8');
      let parsed: unknown = text;
      try {
        parsed = exactJson.parse(text);
      } catch {
        // Not JSON: the text is the reason.
      }
      throw normalizeError({ name: 'ResponseError', message: text.slice(0, 300), meta: { statusCode: res.statusCode, body: parsed, headers: res.headers } }, what);
    }
    return bytes;
  }

  count(index: string, query: Params): Promise<any> {
    return this.call(`count ${index}`, (c) => c.count({ index, body: { query } }));
  }

  /** `ndjson` as built by bulk.ts: its bytes sent as they are. The answer keeps per item only what bulk.ts reads. */
  bulk(index: string, ndjson: Buffer, signal?: AbortSignal): Promise<any> {
    return this.call(`bulk ${index}`, (c, options) => c.bulk({ index, body: ndjson, filter_path: 'errors,items.*.status,items.*.error' }, options), signal);
  }

  mget(index: string, docs: Array<{ _id: string; routing?: string }>, params: Params = {}, maxResponseSize?: number): Promise<any> {
    return this.call(`mget ${index}`, (c, options) => c.mget({ index, body: { docs }, ...params }, options), undefined, maxResponseSize);
  }

  /** Index one document (params: id, routing, if_seq_no, if_primary_term, ...). */
  index(index: string, id: string, document: unknown, params: Params = {}): Promise<any> {
    return this.call(`index ${index}/${id}`, (c) => c.index({ index, id, body: document, ...params }));
  }

  delete(index: string, id: string, params: Params = {}): Promise<any> {
    return this.call(`delete ${index}/${id}`, (c) => c.delete({ index, id, ...params }));
  }

  getMapping(index: string): Promise<Record<string, { mappings: any }>> {
    return this.call(`mapping of ${index}`, (c) => c.indices.getMapping({ index }));
  }

  async indexExists(index: string): Promise<boolean> {
    return Boolean(await this.call(`exists ${index}`, (c) => c.indices.exists({ index })));
  }

  createIndex(index: string, body: Params): Promise<any> {
    return this.call(`create index ${index}`, (c) => c.indices.create({ index, body }));
  }

  getSettings(index: string, names: string[]): Promise<Record<string, { settings: Record<string, unknown> }>> {
    return this.call(`settings of ${index}`, (c) => c.indices.getSettings({ index, name: names, flat_settings: true }));
  }

  putSettings(index: string, settings: Params): Promise<any> {
    return this.call(`settings of ${index}`, (c) => c.indices.putSettings({ index, body: settings }));
  }

  refresh(index: string): Promise<any> {
    return this.call(`refresh ${index}`, (c) => c.indices.refresh({ index }));
  }

  /** Waits for the merge (its own timeout: an hour; the endpoint's is for documents). */
  forceMerge(index: string, params: Params): Promise<any> {
    return this.call(`force merge ${index}`, (c) => c.indices.forcemerge({ index, ...params }, { requestTimeout: 3_600_000 }));
  }

  docStats(index: string): Promise<any> {
    return this.call(`stats of ${index}`, (c) => c.indices.stats({ index, metric: ['docs', 'segments'] }));
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}
