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

function makeLogger(): pino.Logger {
  const level = process.env.BLUEGREEN_LOG_LEVEL ?? process.env.LOG_LEVEL ?? 'info';
  const pretty = process.env.BLUEGREEN_LOG_FORMAT === 'pretty' || (process.env.BLUEGREEN_LOG_FORMAT !== 'json' && process.stderr.isTTY);
  const options: pino.LoggerOptions = {
    level,
    base: { pid: process.pid },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
  };
  // Logs go to stderr: stdout is for command output (tables, JSON) that scripts parse.
  if (pretty) {
    return pino(options, pino.transport({ target: 'pino-pretty', options: { destination: 2, translateTime: 'SYS:HH:MM:ss.l' } }));
  }
  return pino(options, pino.destination({ dest: 2, sync: true }));
}

export const log: pino.Logger = makeLogger();
export type Logger = pino.Logger;
