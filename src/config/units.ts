/** Parses "5MB", "512kb", 1048576 → bytes. */
export function parseBytes(value: string | number): number {
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || !Number.isInteger(value) || value < 0) throw new Error(`${value} is not a size in bytes (examples: 1048576, 512KB, 5MB)`);
    return value;
  }
  const m = /^\s*(\d+(?:\.\d+)?)\s*(b|kb|kib|mb|mib|gb|gib)?\s*$/i.exec(value);
  if (!m) throw new Error(`"${value}" is not a size (examples: 1048576, 512KB, 5MB)`);
  const unit = (m[2] ?? 'b').toLowerCase();
  const mult: Record<string, number> = { b: 1, kb: 1024, kib: 1024, mb: 1024 ** 2, mib: 1024 ** 2, gb: 1024 ** 3, gib: 1024 ** 3 };
  return Math.round(Number(m[1]) * mult[unit]);
}

const DURATION_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000, y: 365 * 86_400_000 };

/** Parses "90d", "6h", "30s", "1y", 1500 → milliseconds. */
export function parseDuration(value: string | number): number {
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || !Number.isInteger(value) || value < 0) throw new Error(`${value} is not a duration in milliseconds (examples: 1500, 30s, 15m, 6h, 90d, 1y)`);
    return value;
  }
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w|y)\s*$/i.exec(value);
  if (!m) throw new Error(`"${value}" is not a duration (examples: 30s, 15m, 6h, 90d, 1y)`);
  return Math.round(Number(m[1]) * DURATION_MS[m[2].toLowerCase()]);
}

/** 1536 → "1.5KB", 8388608 → "8MB": for messages that state an allowed range. */
export function formatBytes(n: number): string {
  const units: Array<[string, number]> = [['GB', 1024 ** 3], ['MB', 1024 ** 2], ['KB', 1024]];
  for (const [u, m] of units) if (n >= m) return `${Number((n / m).toFixed(2))}${u}`;
  return `${n} bytes`;
}

/** 90000 → "90s", 86400000 → "1d": exact where it can be, for messages that state an allowed range. */
export function formatMs(ms: number): string {
  const units: Array<[string, number]> = [['y', DURATION_MS.y], ['d', DURATION_MS.d], ['h', DURATION_MS.h], ['m', DURATION_MS.m], ['s', DURATION_MS.s]];
  for (const [u, m] of units) if (ms >= m && ms % m === 0) return `${ms / m}${u}`;
  return `${ms}ms`;
}

export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return '?';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  return `${Math.floor(s / 86400)}d${String(Math.floor((s % 86400) / 3600)).padStart(2, '0')}h`;
}
