/**
 * Plain HTTP for the backends that have no client of their own here (Solr): timeouts, basic auth,
 * exact JSON (every number keeps its text, 64-bit integers stay exact as BigInt: exactJson.ts), and
 * errors an operator can read.
 */
import { readFileSync } from 'node:fs';
import { Agent, fetch, type Response } from 'undici';
import { RetryableError, UserError } from '../errors';
import { safeUrl } from '../log';
import type { Endpoint } from '../config/spec';
import { exactJson } from './exactJson';

export class HttpStatusError extends Error {
  constructor(readonly status: number, readonly url: string, readonly body: string) {
    super(`HTTP ${status} from ${safeUrl(url)}: ${body.slice(0, 500)}`);
  }
}

export interface HttpClientOptions {
  timeoutMs: number;
  /**
   * 'plain' for admin answers (plain JSON.parse; Solr's collection API repeats keys, one per core on
   * a node). Documents are always read exactly (exactJson).
   */
  json?: 'lossless' | 'plain';
  auth?: Endpoint['auth'];
  tls?: Endpoint['tls'];
}

const RETRYABLE_STATUS = new Set([408, 429, 502, 503, 504]);
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

export class HttpClient {
  private readonly headers: Record<string, string> = {};
  private readonly dispatcher?: Agent;

  constructor(readonly opts: HttpClientOptions) {
    if (opts.auth?.username) {
      this.headers.authorization = `Basic ${Buffer.from(`${opts.auth.username}:${opts.auth.password ?? ''}`).toString('base64')}`;
    } else if (opts.auth?.apiKey) {
      this.headers.authorization = `ApiKey ${opts.auth.apiKey}`;
    }
    if (opts.tls) {
      this.dispatcher = new Agent({
        connect: {
          ca: opts.tls.caFile ? readFileSync(opts.tls.caFile) : undefined,
          cert: opts.tls.certFile ? readFileSync(opts.tls.certFile) : undefined,
          key: opts.tls.keyFile ? readFileSync(opts.tls.keyFile) : undefined,
          rejectUnauthorized: opts.tls.rejectUnauthorized,
        },
      });
    }
  }

  /**
   * Sends one request. Network failures and 408/429/5xx become RetryableError; other non-2xx
   * statuses become HttpStatusError. The body is parsed exactly (exactJson).
   * `signal` (a claim's: claim.ts) aborts the request at once and is never retryable: the error
   * thrown is its reason (a FencedError), whatever the request was doing.
   */
  async request<T = any>(method: string, url: string, body?: string | Buffer, contentType = 'application/json', signal?: AbortSignal): Promise<T> {
    signal?.throwIfAborted();
    const headers: Record<string, string> = { ...this.headers, accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = contentType;
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers,
        body,
        signal: signal ? AbortSignal.any([AbortSignal.timeout(this.opts.timeoutMs), signal]) : AbortSignal.timeout(this.opts.timeoutMs),
        dispatcher: this.dispatcher,
      });
    } catch (e) {
      if (signal?.aborted) throw signal.reason;
      const err = e as Error & { cause?: { code?: string } };
      const code = err.cause?.code ?? (err.name === 'TimeoutError' ? 'ETIMEDOUT' : undefined);
      if (code && NETWORK_CODES.has(code)) throw new RetryableError(`${method} ${safeUrl(url)} failed: ${code}`);
      if (err.name === 'TimeoutError' || err.name === 'AbortError') throw new RetryableError(`${method} ${safeUrl(url)} timed out after ${this.opts.timeoutMs} ms`);
      throw new RetryableError(`${method} ${safeUrl(url)} failed: ${err.cause ? String((err.cause as Error).message ?? err.cause) : err.message}`);
    }
    let text: string;
    try {
      text = await res.text();
    } catch (e) {
      if (signal?.aborted) throw signal.reason;
      throw e;
    }
    if (RETRYABLE_STATUS.has(res.status) || res.status >= 500) {
      const retryAfter = Number(res.headers.get('retry-after'));
      throw new RetryableError(`HTTP ${res.status} from ${safeUrl(url)}: ${text.slice(0, 300)}`, Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : undefined);
    }
    if (res.status < 200 || res.status >= 300) throw new HttpStatusError(res.status, url, text);
    if (!text) return undefined as T;
    try {
      return (this.opts.json === 'plain' ? JSON.parse(text) : exactJson.parse(text)) as T;
    } catch {
      throw new HttpStatusError(res.status, url, `not JSON: ${text.slice(0, 200)}`);
    }
  }
}

/** Turns a first-contact failure into the sentence an operator needs. */
export function unreachable(what: string, url: string, err: unknown): UserError {
  return new UserError(`${what} at ${safeUrl(url)} is unreachable: ${(err as Error).message}`,
    'Check the URL in the spec (or BLUEGREEN_SOURCE_URL / BLUEGREEN_TARGET_URL) and that the cluster is up.');
}
