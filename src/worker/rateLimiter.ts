import { sleep } from '../retry';

/** Token bucket shared by all slices of one worker: at most `perSecond` documents a second (0 = unlimited). */
export class RateLimiter {
  private tokens: number;
  private last = Date.now();

  constructor(private readonly perSecond: number) {
    this.tokens = perSecond;
  }

  async take(n: number): Promise<void> {
    if (this.perSecond <= 0) return;
    for (;;) {
      const now = Date.now();
      this.tokens = Math.min(this.perSecond, this.tokens + ((now - this.last) / 1000) * this.perSecond);
      this.last = now;
      // A batch larger than one second's budget is let through once the bucket is full.
      if (this.tokens >= Math.min(n, this.perSecond)) {
        this.tokens -= n;
        return;
      }
      await sleep(Math.ceil(((Math.min(n, this.perSecond) - this.tokens) / this.perSecond) * 1000));
    }
  }
}
