/**
 * Plain HTTP for the backends that have no client of their own here (Solr): timeouts, basic auth,
 * exact JSON (every number keeps its text, 64-bit integers stay exact as BigInt: exactJson.ts), and
 * errors an operator can read.
 */
import { readFileSync } from 'node:fs';
import { Agent, request as undiciRequest } from 'undici';
import { RetryableError, UserError } from '../errors';
import { safeUrl } from '../log';
import type { Endpoint } from '../config/spec';
import { formatBytes } from '../config/units';
import { exactJson, numberText } from './exactJson';

export class HttpStatusError extends Error {
  constructor(readonly status: number, readonly url: string, readonly body: string) {
    super(`HTTP ${status} from ${safeUrl(url)}: ${body.slice(0, 500)}`);
  }
}

/**
 * An answer larger than the caller allowed (a page of huge documents): it was not read to the end,
 * and nothing of it is kept. The caller asks again for less (fewer rows).
 */
export class ResponseTooLargeError extends Error {
  constructor(readonly bytes: number, readonly limit: number, what: string) {
    super(`${what} answered more than ${formatBytes(limit)} (${bytes >= limit ? `${formatBytes(bytes)} read` : 'by its content-length'}): asking for fewer documents`);
    this.name = 'ResponseTooLargeError';
  }
}

/**
 * A read that failed for its size: the answer was over the caller's cap, or the process could not
 * hold it (V8 refuses a string or buffer that large). Read fewer documents, don't crash.
 */
export function tooLargeToRead(e: unknown): boolean {
  if (e instanceof ResponseTooLargeError) return true;
  const err = e as { name?: string; message?: string; code?: string };
  return err?.code === 'ERR_STRING_TOO_LONG' || (err?.name === 'RangeError' && /invalid string length|array buffer allocation failed|allocation failed/i.test(err.message ?? ''));
}

/**
 * What a target says when a document (or a request) is over its size limit: HTTP 413, Solr's
 * IgnoreLargeDocumentProcessor ("Size of the document ... is too large"), max content length.
 */
export function sizeRefusal(status: number | undefined, message: string): boolean {
  return status === 413 || /too large|too_long_frame|content length|max_bytes_length_exceeded|request entity/i.test(message);
}

/** A refusal reason that names the document's size (an operator sees at once why it was refused). */
export function withSize(reason: string, bytes: number): string {
  return `document of ${formatBytes(bytes)} (${bytes} bytes) too large for the target: ${reason}`.slice(0, 300);
}

/**
 * The size of a value written as JSON, without writing it (no second copy of a 5 MB document just
 * to measure it): UTF-8 bytes of strings and keys, numbers by their text, the punctuation. Escapes
 * (quotes, backslashes, control characters) are not counted: the figure is for bounding batches.
 */
export function jsonBytes(v: unknown): number {
  if (typeof v === 'string') return Buffer.byteLength(v, 'utf8') + 2;
  if (v === null || v === undefined) return 4;
  if (typeof v === 'boolean') return v ? 4 : 5;
  const n = numberText(v);
  if (n !== undefined) return n.length;
  if (Array.isArray(v)) {
    let total = 2 + Math.max(0, v.length - 1);
    for (const x of v) total += jsonBytes(x);
    return total;
  }
  if (typeof v === 'object') {
    let total = 2;
    let first = true;
    for (const k in v as Record<string, unknown>) {
      const x = (v as Record<string, unknown>)[k];
      if (x === undefined) continue;
      total += (first ? 0 : 1) + Buffer.byteLength(k, 'utf8') + 3 + jsonBytes(x);
      first = false;
    }
    return total;
  }
  return String(v).length;
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

/**
 * The server's TLS certificate is not trusted (no CA given, or not the CA that signed it, or a name
 * mismatch): not retryable, no retry makes it trusted.
 */
export class TlsTrustError extends Error {
  constructor(message: string, readonly code: string) {
    super(message);
    this.name = 'TlsTrustError';
  }
}

const TLS_TRUST_CODES = new Set(['SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'CERT_UNTRUSTED', 'CERT_SIGNATURE_FAILURE', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'ERR_TLS_CERT_ALTNAME_INVALID']);

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
          ca: readTlsFile('caFile', opts.tls.caFile),
          cert: readTlsFile('certFile', opts.tls.certFile),
          key: readTlsFile('keyFile', opts.tls.keyFile),
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
   * `maxResponseBytes`: an answer over it is not read further (ResponseTooLargeError, not retryable
   * as such: the caller asks for less).
   */
  async request<T = any>(method: string, url: string, body?: string | Buffer, contentType = 'application/json', signal?: AbortSignal, maxResponseBytes?: number): Promise<T> {
    const { status, body: answer } = await this.exchange(method, url, body, contentType, signal, maxResponseBytes);
    const text = answer ? decode(answer) : '';
    if (!text) return undefined as T;
    try {
      return (this.opts.json === 'plain' ? JSON.parse(text) : exactJson.parse(text)) as T;
    } catch {
      throw new HttpStatusError(status, url, `not JSON: ${text.slice(0, 200)}`);
    }
  }

  /**
   * As request, but the answer's bytes as they came, not parsed (a raw page: solr/rawPage.ts). The
   * buffer is the caller's alone (no view into a larger one), empty for an empty answer.
   */
  async requestBytes(method: string, url: string, body?: string | Buffer, contentType = 'application/json', signal?: AbortSignal, maxResponseBytes?: number): Promise<Buffer> {
    const { body: answer } = await this.exchange(method, url, body, contentType, signal, maxResponseBytes);
    return ownBytes(answer);
  }

  /** Sends the request and reads the whole answer (body null: none); the errors are request's. */
  private async exchange(method: string, url: string, body: string | Buffer | undefined, contentType: string, signal: AbortSignal | undefined, maxResponseBytes: number | undefined): Promise<{ status: number; body: Answer | null }> {
    signal?.throwIfAborted();
    const headers: Record<string, string> = { ...this.headers, accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = contentType;
    // undici's request, not fetch: the same client without the WHATWG layers (web streams, Request and
    // Response objects), about half the CPU per MB moved (issue 15); a Buffer body is written as it is.
    const timeout = AbortSignal.timeout(this.opts.timeoutMs);
    const failed = (e: unknown): Error => {
      if (signal?.aborted) return signal.reason;
      const err = e as Error & { code?: string; cause?: { code?: string; message?: string } };
      const code = err.code ?? err.cause?.code;
      if (code && TLS_TRUST_CODES.has(code)) return new TlsTrustError(`${method} ${safeUrl(url)} failed: ${code} (${String(err.cause?.message ?? err.message ?? code)})`, code);
      if (timeout.aborted || err.name === 'TimeoutError' || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') return new RetryableError(`${method} ${safeUrl(url)} timed out after ${this.opts.timeoutMs} ms`);
      if (code && NETWORK_CODES.has(code)) return new RetryableError(`${method} ${safeUrl(url)} failed: ${code}`);
      if (err.name === 'AbortError' || code === 'UND_ERR_ABORTED') return new RetryableError(`${method} ${safeUrl(url)} aborted`);
      return new RetryableError(`${method} ${safeUrl(url)} failed: ${err.cause ? String(err.cause.message ?? err.cause) : err.message}`);
    };
    let res: Awaited<ReturnType<typeof undiciRequest>>;
    try {
      res = await undiciRequest(url, {
        method: method as 'GET',
        headers,
        body,
        signal: signal ? AbortSignal.any([timeout, signal]) : timeout,
        dispatcher: this.dispatcher,
        // The deadline is the signal's (the whole exchange); undici's own idle timers stay off.
        headersTimeout: 0,
        bodyTimeout: 0,
      });
    } catch (e) {
      throw failed(e);
    }
    const status = res.statusCode;
    let bytes: Answer | null;
    try {
      bytes = await readBytes(res.body, header(res.headers, 'content-length'), maxResponseBytes, `${method} ${safeUrl(url)}`);
    } catch (e) {
      res.body.destroy();
      if (e instanceof ResponseTooLargeError) throw e;
      throw failed(e);
    }
    if (RETRYABLE_STATUS.has(status) || status >= 500) {
      const retryAfter = Number(header(res.headers, 'retry-after'));
      throw new RetryableError(`HTTP ${status} from ${safeUrl(url)}: ${bytes ? decode(bytes).slice(0, 300) : ''}`, Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : undefined);
    }
    if (status < 200 || status >= 300) throw new HttpStatusError(status, url, bytes ? decode(bytes) : '');
    return { status, body: bytes };
  }
}

/** An answer's bytes: the first `bytes` of `buf` (which may have been reserved larger). */
export interface Answer {
  buf: Buffer;
  bytes: number;
}

/**
 * An answer's bytes as a buffer of their own (empty for none): one reserved larger (a page cap) is
 * copied down and given back, so that a page held for a while holds only its bytes.
 */
export function ownBytes(answer: Answer | null): Buffer {
  if (!answer) return Buffer.alloc(0);
  if (answer.bytes === answer.buf.length) return answer.buf;
  const own = Buffer.allocUnsafeSlow(answer.bytes);
  answer.buf.copy(own, 0, 0, answer.bytes);
  release(answer.buf);
  return own;
}

/** The text of an answer; its buffer is given back at once (release). */
function decode(a: Answer): string {
  const text = a.buf.toString('utf8', 0, a.bytes);
  release(a.buf);
  return text;
}

/** A header's value (the first, if repeated). */
function header(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** The body as text (readBytes, decoded once). */
export async function readText(body: AsyncIterable<Uint8Array>, contentLength: string | undefined, limit: number | undefined, what: string): Promise<string> {
  const a = await readBytes(body, contentLength, limit, what);
  return a ? decode(a) : '';
}

/**
 * The body's bytes (null: no body). They stay outside the JS heap: the caller decodes them once, if
 * it wants text (decoding chunk by chunk would leave a rope of pieces and then its flattened copy).
 * They are copied as they arrive into one buffer, allocated once (issue 15: no joined copy of the
 * chunks beside the chunks): of the content-length when the server gives one, else of the caller's
 * limit (a page cap: the memory is only reserved, the kernel gives pages as they are written, so a
 * small answer costs what it holds), else grown by doubling. No further than `limit` bytes when one
 * is given.
 */
export async function readBytes(body: AsyncIterable<Uint8Array>, contentLength: string | undefined, limit: number | undefined, what: string): Promise<Answer | null> {
  const declared = Number(contentLength ?? NaN);
  const known = Number.isFinite(declared) && declared >= 0 ? declared : undefined;
  // Not read at all (the caller drops the body).
  if (limit !== undefined && known !== undefined && known > limit) throw new ResponseTooLargeError(known, limit, what);
  let buf: Buffer | null = null;
  let bytes = 0;
  for await (const chunk of body) {
    const end = bytes + chunk.byteLength;
    // Thrown inside the loop: leaving it cancels the stream (the rest is never received).
    if (limit !== undefined && end > limit) throw new ResponseTooLargeError(end, limit, what);
    if (buf === null) {
      // Sized once: the content-length, else the limit (reserved, touched only as written), else 64 KiB.
      buf = Buffer.allocUnsafe(Math.max(end, known ?? (limit !== undefined ? limit : 64 * 1024)));
    } else if (end > buf.length) {
      // Only without a limit (or a content-length that was wrong): the buffer doubles.
      const bigger = Buffer.allocUnsafe(Math.max(end, buf.length * 2));
      buf.copy(bigger, 0, 0, bytes);
      release(buf);
      buf = bigger;
    }
    buf.set(chunk, bytes);
    bytes = end;
  }
  return buf === null ? null : { buf, bytes };
}

/**
 * Gives a buffer's memory back now, not at the next garbage collection that finds it (issue 15: a
 * page's bytes are dead once decoded, but V8 frees an ArrayBuffer only when it collects its object,
 * and a worker's RSS was mostly such dead buffers). Only for a buffer of its own ArrayBuffer (not a
 * view into Node's shared pool) that nothing else refers to: it is detached (length 0) afterwards.
 */
function release(buf: Buffer): void {
  const ab = buf.buffer as ArrayBuffer & { transfer?(length: number): ArrayBuffer };
  if (buf.byteOffset === 0 && ab.byteLength === buf.length && buf.length > 64 * 1024 && ab instanceof ArrayBuffer && ab.transfer) ab.transfer(0);
}

/** A file the spec's tls names, or a clear error naming it (a missing or unreadable file is bad input). */
function readTlsFile(field: string, file: string | undefined): Buffer | undefined {
  if (!file) return undefined;
  try {
    return readFileSync(file);
  } catch (e) {
    throw new UserError(`tls.${field} ${file} cannot be read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}.`,
      `Give the path of a readable PEM file as tls.${field} of that endpoint in the spec.`);
  }
}

/** Turns a first-contact failure into the sentence an operator needs. */
export function unreachable(what: string, url: string, err: unknown): UserError {
  if (err instanceof TlsTrustError) {
    return new UserError(`${what} at ${safeUrl(url)} presented a TLS certificate that is not trusted: ${err.message}.`,
      'Give the CA certificate (PEM) that signed the server\'s certificate as tls.caFile of that endpoint in the spec (source.tls.caFile / target.tls.caFile); check that the host in the URL is a name the certificate is for.');
  }
  return new UserError(`${what} at ${safeUrl(url)} is unreachable: ${(err as Error).message}`,
    'Check the URL in the spec (or BLUEGREEN_SOURCE_URL / BLUEGREEN_TARGET_URL) and that the cluster is up.');
}
