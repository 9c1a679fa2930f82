import { sleep } from '../retry';

/**
 * Documents per second for all slices of one worker, adaptive (AIMD): when the target pushes back
 * (429, 503, timeouts) the allowed rate halves; every batch that goes through raises it a little,
 * up to the configured limit (or back to unlimited). The operator's `docsPerSecond` is a ceiling.
 */
export class RateLimiter {
  private tokens = 0;
  private last = Date.now();
  /** Allowed docs/s now; Infinity = no limit. */
  private allowed: number;
  /** Recent throughput (EWMA, docs/s): where to start halving from when no limit is set. */
  private observed = 0;
  private windowStart = Date.now();
  private windowDocs = 0;

  constructor(private readonly configured: number, private readonly floor = 10) {
    this.allowed = configured > 0 ? configured : Infinity;
  }

  /** Docs/s allowed now (0 = unlimited), for the metrics. */
  get limit(): number {
    return Number.isFinite(this.allowed) ? this.allowed : 0;
  }

  async take(n: number): Promise<void> {
    this.observe(n);
    if (!Number.isFinite(this.allowed)) return;
    for (;;) {
      const now = Date.now();
      this.tokens = Math.min(this.allowed, this.tokens + ((now - this.last) / 1000) * this.allowed);
      this.last = now;
      // A batch larger than one second's budget is let through once the bucket is full.
      if (this.tokens >= Math.min(n, this.allowed)) {
        this.tokens -= n;
        return;
      }
      await sleep(Math.ceil(((Math.min(n, this.allowed) - this.tokens) / this.allowed) * 1000));
    }
  }

  /** The target pushed back: halve the rate (multiplicative decrease). */
  pushback(): void {
    const base = Number.isFinite(this.allowed) ? this.allowed : Math.max(this.observed, this.floor * 2);
    this.allowed = Math.max(this.floor, base / 2);
    this.tokens = Math.min(this.tokens, this.allowed);
  }

  /**
   * A batch of `docs` went through: raise the rate by a fifth plus one batch a second, up to the
   * ceiling (from the floor back to thousands of docs/s in about fifteen batches).
   */
  recovered(docs: number): void {
    if (!Number.isFinite(this.allowed)) return;
    this.allowed = this.allowed * 1.2 + docs;
    if (this.configured > 0) this.allowed = Math.min(this.allowed, this.configured);
    else if (this.allowed > Math.max(this.observed, this.floor) * 4) this.allowed = Infinity; // well past what we do: no limit
  }

  private observe(n: number): void {
    this.windowDocs += n;
    const elapsed = Date.now() - this.windowStart;
    if (elapsed >= 2000) {
      const rate = (this.windowDocs / elapsed) * 1000;
      this.observed = this.observed ? this.observed * 0.5 + rate * 0.5 : rate;
      this.windowStart = Date.now();
      this.windowDocs = 0;
    }
  }
}
