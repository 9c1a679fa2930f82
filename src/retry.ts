import { RetryableError, describeError } from './errors';

export interface BackoffOptions {
  /** Attempts in all, the first included. */
  attempts: number;
  initialDelayMs: number;
  maxDelayMs: number;
  /** Called before each wait; for logs and metrics. */
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
  /** Which errors are worth another attempt. Default: RetryableError only. */
  retryable?: (err: unknown) => boolean;
  /** Checked before every wait; when it returns true the last error is thrown at once. */
  abort?: () => boolean;
  /**
   * Stops the loop for good (a lost claim: claim.ts): checked before every attempt, it cuts a wait
   * short, and its reason (a FencedError) is what the loop throws.
   */
  signal?: AbortSignal;
}

/**
 * Waits `ms`. With a signal: rejects with its reason the moment it is aborted, and an elapsed wait
 * resolves only after every other timer already due has run — after a process pause (SIGSTOP, a long
 * GC) the claim's own check (claim.ts) fires first, so the next attempt sees the claim as lost.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (!signal) return new Promise<void>((resolve) => setTimeout(resolve, ms));
  return new Promise<void>((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      setImmediate(resolve);
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** Full-jitter exponential backoff: delay in [0, min(max, initial * 2^attempt)], or the server's Retry-After. */
export function backoffDelay(attempt: number, opts: Pick<BackoffOptions, 'initialDelayMs' | 'maxDelayMs'>, retryAfterMs?: number): number {
  if (retryAfterMs !== undefined && retryAfterMs > 0) return Math.min(retryAfterMs, opts.maxDelayMs);
  const cap = Math.min(opts.maxDelayMs, opts.initialDelayMs * 2 ** attempt);
  return Math.round(opts.initialDelayMs / 2 + Math.random() * Math.max(0, cap - opts.initialDelayMs / 2));
}

/** The policy for one request to a cluster: spec.worker.requestRetries retries, 0.5 s doubling to 30 s. */
export function requestRetry(spec: { worker: { requestRetries: number } }): BackoffOptions {
  return { attempts: spec.worker.requestRetries + 1, initialDelayMs: 500, maxDelayMs: 30_000 };
}

/** The one retry loop of the project. */
export async function withBackoff<T>(fn: (attempt: number) => Promise<T>, opts: BackoffOptions): Promise<T> {
  const retryable = opts.retryable ?? ((e: unknown) => e instanceof RetryableError);
  let lastError: unknown;
  for (let attempt = 0; attempt < opts.attempts; attempt++) {
    opts.signal?.throwIfAborted();
    try {
      return await fn(attempt);
    } catch (err) {
      lastError = err;
      if (opts.signal?.aborted) throw opts.signal.reason;
      if (!retryable(err) || attempt === opts.attempts - 1 || opts.abort?.()) throw err;
      const delay = backoffDelay(attempt, opts, err instanceof RetryableError ? err.retryAfterMs : undefined);
      opts.onRetry?.(err, attempt + 1, delay);
      await sleep(delay, opts.signal);
    }
  }
  throw lastError ?? new Error(`withBackoff: no attempt made (${describeError(lastError)})`);
}
