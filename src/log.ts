import pino from 'pino';

/** Paths pino blanks in every log line, whatever object carries them. */
export const REDACT_PATHS = [
  'password', '*.password', '*.*.password', '*.*.*.password',
  'apiKey', '*.apiKey', '*.*.apiKey', '*.*.*.apiKey',
  'authorization', '*.authorization', '*.headers.authorization', '*.*.headers.authorization',
  'zookeeper.auth', '*.zookeeper.auth', 'zkAuth', '*.zkAuth',
];

/** Strips credentials out of a URL (http://user:pass@host → http://host) before it is shown anywhere. */
export function safeUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.username || u.password) {
      u.username = '';
      u.password = '';
    }
    return u.toString().replace(/\/$/, '');
  } catch {
    return url.replace(/\/\/[^@/]*@/, '//');
  }
}

/**
 * A JSON log line holds each key once. pino writes the bound context (migration, worker, pid) and the
 * line's own object side by side, so a line that repeats a bound key would carry it twice: the
 * repeat is dropped when it says the same, and kept as `<key>Line` when it says something else.
 */
function onceEachKey(this: pino.Logger, args: unknown[], method: (...a: unknown[]) => void): void {
  const first = args[0];
  if (first && typeof first === 'object' && !(first instanceof Error)) {
    const bound = this.bindings();
    let own: Record<string, unknown> | undefined;
    for (const key of Object.keys(first)) {
      if (!(key in bound)) continue;
      own ??= { ...(first as Record<string, unknown>) };
      const value = own[key];
      delete own[key];
      if (JSON.stringify(value) !== JSON.stringify(bound[key])) own[`${key}Line`] = value;
    }
    if (own) args = [own, ...args.slice(1)];
  }
  method.apply(this, args);
}

function makeLogger(): pino.Logger {
  const level = process.env.BLUEGREEN_LOG_LEVEL ?? process.env.LOG_LEVEL ?? 'info';
  const pretty = process.env.BLUEGREEN_LOG_FORMAT === 'pretty' || (process.env.BLUEGREEN_LOG_FORMAT !== 'json' && process.stderr.isTTY);
  const options: pino.LoggerOptions = {
    level,
    base: { pid: process.pid },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    hooks: { logMethod: onceEachKey },
  };
  // Logs go to stderr: stdout is for command output (tables, JSON) that scripts parse.
  if (pretty) {
    return pino(options, pino.transport({ target: 'pino-pretty', options: { destination: 2, translateTime: 'SYS:HH:MM:ss.l' } }));
  }
  return pino(options, pino.destination({ dest: 2, sync: true }));
}

export const log: pino.Logger = makeLogger();
export type Logger = pino.Logger;
