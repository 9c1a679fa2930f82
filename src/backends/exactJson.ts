/**
 * JSON that keeps every number exactly as the text had it, for documents of both backends (and their
 * cursors): `1.0` stays `1.0`, `1E+2` stays `1E+2`, `-0.0`, `1e-400`, `1e400` and 40-digit decimals
 * stay as written, integers beyond 2^53 stay exact.
 *
 * Parsed values: a number whose text JavaScript writes back identically is a plain number; an integer
 * beyond 2^53 is a BigInt (digit for digit, as before); any other number is a RawNumber holding its
 * text. `stringify` writes each of them with its original text (JSON.rawJSON).
 *
 * Speed: a text in which no number could fail to round-trip (checked by one regular expression, see
 * SUSPECT) is read by plain JSON.parse; otherwise see parseCareful (about twice JSON.parse's time).
 * Writing is plain JSON.stringify (RawNumber writes itself
 * through toJSON → JSON.rawJSON); only values holding a BigInt take a replacer.
 */

// Node 24 (V8) has these; TypeScript's lib does not declare them yet.
declare global {
  interface JSON {
    rawJSON(text: string): { readonly rawJSON: string };
    isRawJSON(value: unknown): boolean;
  }
}

/**
 * A number whose text JavaScript would not write back as it came (`1.0`, `1E+2`, `-0`, `1e400`,
 * `3.14159265358979323846`). Keeps the text; `Number(x)` / `+x` still give its value as a double.
 */
export class RawNumber {
  constructor(readonly text: string) {
    Object.freeze(this);
  }

  valueOf(): number {
    return Number(this.text);
  }

  toString(): string {
    return this.text;
  }

  toJSON(): unknown {
    return JSON.rawJSON(this.text);
  }
}

/**
 * Where a number token may start and end in JSON text. Inside strings these also match (harmless: it
 * only sends the text the careful way).
 */
const BEFORE = '(?:^|[\\s:,\\[])';
const AFTER = '(?=[\\s,\\]}]|$)';
/**
 * A number token whose text might not survive JSON.parse → JSON.stringify: negative zero, an
 * exponent, a fraction ending in 0, 16 or more digits (beyond 2^53, more digits than a double holds,
 * or 1e21 and up, which JavaScript writes with an exponent), or below 1e-6 (ditto). A number that is
 * none of these has at most 15 significant digits in plain notation, and a double gives those back
 * exactly as written.
 */
const SUSPECT = new RegExp(`${BEFORE}(?:-0${AFTER}|-?(?:\\d+(?:\\.\\d+)?[eE]|\\d+\\.\\d*0${AFTER}|(?:\\d\\.?){16}|0\\.0{6}))`);

const INTEGER = /^-?\d+$/;

/** The value a number token stands for, given its text: number, BigInt or RawNumber (see above). */
export function numberFromText(text: string, value: number = Number(text)): number | bigint | RawNumber {
  if (String(value) === text) return value;
  if (INTEGER.test(text) && !/^-0+$/.test(text)) {
    const big = BigInt(text);
    if (big.toString() === text) return big;
  }
  return new RawNumber(text);
}

function reviver(this: unknown, _key: string, value: unknown, context?: { source?: string }): unknown {
  if (typeof value !== 'number') return value;
  return numberFromText(context!.source!, value);
}

/**
 * JSON strings and number tokens, in order: a number token found by this scan is outside every
 * string. (Strings unrolled, `[^"\\]*`, so that a long one costs no backtracking.)
 */
const TOKENS = /"[^"\\]*(?:\\.[^"\\]*)*"|(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)/g;
/** Marks, as the first character of a string, a number token turned into a string for JSON.parse. */
const MARK = '\uE000';
const MARK_IN_TEXT = /\uE000|\\u[eE]000/;

/**
 * The careful way, at about half of JSON.parse's speed (a reviver with context.source runs at a
 * fifth): the number tokens that would not round-trip are turned into marked strings, the text is
 * read by plain JSON.parse, and the marked strings become numbers again from their text.
 */
function parseCareful(text: string): any {
  if (MARK_IN_TEXT.test(text)) return JSON.parse(text, reviver as any);
  const re = new RegExp(TOKENS);
  let pieces: string[] | null = null;
  let last = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const token = m[1];
    if (token === undefined || String(Number(token)) === token) continue;
    (pieces ??= []).push(text.slice(last, m.index), '"', MARK, token, '"');
    last = m.index + token.length;
  }
  if (!pieces) return JSON.parse(text);
  pieces.push(text.slice(last));
  return unmark(JSON.parse(pieces.join('')));
}

function unmark(v: unknown): unknown {
  if (typeof v === 'string') return v.charCodeAt(0) === 0xe000 ? numberFromText(v.slice(1)) : v;
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const x = v[i];
      if (typeof x === 'object' || typeof x === 'string') v[i] = unmark(x);
    }
    return v;
  }
  const o = v as Record<string, unknown>;
  for (const k in o) {
    const x = o[k];
    if (typeof x !== 'object' && typeof x !== 'string') continue;
    const y = unmark(x);
    if (y === x) continue;
    if (k === '__proto__') Object.defineProperty(o, k, { value: y, writable: true, enumerable: true, configurable: true });
    else o[k] = y;
  }
  return o;
}

const bigintReplacer = (_key: string, v: unknown): unknown => (typeof v === 'bigint' ? JSON.rawJSON(v.toString()) : v);

export const exactJson = {
  parse(text: string): any {
    return SUSPECT.test(text) ? parseCareful(text) : JSON.parse(text);
  },
  /** The same as parse, by JSON.parse's reviver with context.source alone (slower; for the tests to compare). */
  parseWithReviver(text: string): any {
    return JSON.parse(text, reviver as any);
  },
  stringify(value: unknown): string {
    try {
      return JSON.stringify(value) ?? 'null';
    } catch (e) {
      if (e instanceof TypeError && /BigInt/i.test(e.message)) return JSON.stringify(value, bigintReplacer) ?? 'null';
      throw e;
    }
  },
};

/** A number as read by exactJson (plain, BigInt or RawNumber). */
export function isJsonNumber(v: unknown): v is number | bigint | RawNumber {
  return typeof v === 'number' || typeof v === 'bigint' || v instanceof RawNumber;
}

/** The text a number read by exactJson is written with, or undefined for anything else. */
export function numberText(v: unknown): string | undefined {
  if (typeof v === 'number') return JSON.stringify(v);
  if (typeof v === 'bigint' || v instanceof RawNumber) return v.toString();
  return undefined;
}

/** An object as JSON has them ({...}), not an array, a RawNumber or null. */
export function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}
