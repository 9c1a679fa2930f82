/**
 * Errors an operator can act on. A UserError says what is wrong and what to do next; the CLI prints
 * it without a stack trace and exits with its code. Anything else is a bug and exits with INTERNAL.
 */
export const EXIT = {
  OK: 0,
  INTERNAL: 1,
  /** Bad input: spec, flags, unreachable cluster, missing collection, ZooKeeper down, corrupt work node. */
  USAGE: 2,
  /** `work`: nothing left this worker may take, but other workers still hold claims on unfinished slices. */
  ALL_CLAIMED: 3,
  /** `work`: every slice is finished, but some ended `failed` (see `bluegreen status`). */
  SLICES_FAILED: 4,
  /** `verify-integrity`: persistent differences found (and `cutover` refused); `transform test`: the transform is not idempotent. */
  DIFFERENCES: 5,
  /** `work`: stopped by SIGTERM/SIGINT after checkpointing and releasing its claims. */
  INTERRUPTED: 143,
} as const;

export class UserError extends Error {
  constructor(
    message: string,
    /** What the operator should do about it. */
    readonly hint?: string,
    readonly exitCode: number = EXIT.USAGE,
  ) {
    super(message);
    this.name = 'UserError';
  }
}

/** A failure worth retrying (timeouts, 429/503, partial results, connection resets). */
export class RetryableError extends Error {
  constructor(message: string, readonly retryAfterMs?: number) {
    super(message);
    this.name = 'RetryableError';
  }
}

/** Our claim on a slice is gone or was taken over: stop touching that slice at once. */
export class FencedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FencedError';
  }
}

export function describeError(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
