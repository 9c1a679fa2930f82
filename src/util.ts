import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';

/** host-pid-random: names a worker or verifier in claims, logs and status (random: pids repeat across pods). */
export function processId(): string {
  return `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

/** Fisher–Yates: spreads processes that start together over different customers. */
export function shuffle<T>(items: T[]): T[] {
  const a = [...items];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

/**
 * Items in runs of at most `most` and, by `size`, at most `bytes` (a lone larger item goes alone):
 * how a look by ids is cut into requests a server takes (Jetty's form limit, a URL, a body).
 */
export function chunked<T>(items: T[], most: number, bytes: number, size: (item: T) => number): T[][] {
  const out: T[][] = [];
  let run: T[] = [];
  let held = 0;
  for (const item of items) {
    const n = size(item);
    if (run.length > 0 && (run.length >= most || held + n > bytes)) {
      out.push(run);
      run = [];
      held = 0;
    }
    run.push(item);
    held += n;
  }
  if (run.length > 0) out.push(run);
  return out;
}
