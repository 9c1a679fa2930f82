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
