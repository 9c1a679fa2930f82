/**
 * JSON that keeps every number exactly as the text had it, for documents of both backends (and their
 * cursors): `1.0` stays `1.0`, `1E+2` stays `1E+2`, `-0.0`, `1e-400`, `1e400` and 40-digit decimals
 * stay as written, integers beyond 2^53 stay exact.
 *
 * Parsed values: a number whose text JavaScript writes back identically is a plain number; an integer
 * beyond 2^53 is a BigInt (digit for digit, as before); any other number is a RawNumber holding its
 * text. `stringify` writes each of them with its original text (JSON.rawJSON).
 *
 * Speed: one native pass (String.replace with CANDIDATES) turns every number token that might not
 * round-trip into a marked string; a text with none (the usual case) is read by plain JSON.parse,
 * otherwise JSON.parse reads the marked text and the marked strings become numbers again from their
 * text (unmark). A suspect-looking token inside a string makes the marked text invalid, and only then
 * are strings told apart (parseScanned). JSON.parse's reviver with context.source would be exact by
 * itself, but costs 5 to 8 times JSON.parse on a page of documents (it runs for every value).
 * Writing is plain JSON.stringify (RawNumber writes itself through toJSON → JSON.rawJSON); only
 * values holding a BigInt take a replacer.
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

/** Where a number token ends in JSON text (what may follow it). */
const AFTER = '(?=[\\s,\\]}]|$)';
/**
 * The start of a number token whose text might not survive JSON.parse → JSON.stringify: negative
 * zero, an exponent, a fraction ending in 0, 16 or more digits (beyond 2^53, more digits than a
 * double holds, or 1e21 and up, which JavaScript writes with an exponent), or below 1e-6 (ditto). A
 * number that is none of these has at most 15 significant digits in plain notation, and a double
 * gives those back exactly as written.
 */
const SUSPECT = `-0${AFTER}|-?(?:\\d+(?:\\.\\d+)?[eE]|\\d+\\.\\d*0${AFTER}|(?:\\d\\.?){16}|0\\.0{6})`;
/** A whole number token. */
const TOKEN = '-?\\d+(?:\\.\\d+)?(?:[eE][+-]?\\d+)?';
/** Where a JSON value may start: at the start of the text, or after `:`, `,` or `[` and whitespace. */
const VALUE_START = '(?<=(?:^|[:,\\[])[ \\t\\n\\r]*)';
/**
 * Suspect number tokens after `:`, `,` or `[` and whitespace (group 1: those, group 2: the token),
 * strings not told apart: a match inside a string, turned into a marked string, ends that string
 * before the marker, which is not JSON syntax, so JSON.parse rejects the marked text (see parse). (The
 * delimiter is matched rather than looked behind: the regular expression runs about twice as fast.)
 */
const CANDIDATES = new RegExp(`([:,\\[][ \\t\\n\\r]*)(?=${SUSPECT})(${TOKEN})${AFTER}`, 'g');
/** A text that is one number (no delimiter before it): read by the reviver. */
const TOP_LEVEL_NUMBER = /^[ \t\n\r]*[-\d]/;
/** A JSON string (unrolled, `[^"\\]*`, so that a long one costs no backtracking). */
const STRING = '"[^"\\\\]*(?:\\\\[^][^"\\\\]*)*"';
/**
 * From a place outside every string: the next suspect number token outside strings (group 1), or
 * the rest of the text (no group 1). Strings are skipped inside the regular expression, so that one
 * exec costs one suspect number, not one per string.
 */
const SUSPECT_OUTSIDE_STRINGS = new RegExp(`(?:[^"]*${STRING})*?(?:[^"]*?${VALUE_START}(?=${SUSPECT})(${TOKEN})${AFTER}|[^"]*$)`, 'y');

const INTEGER = /^-?\d+$/;

/** The value a number token stands for, given its text: number, BigInt or RawNumber (see above). */
export function numberFromText(text: string, value?: number): number | bigint | RawNumber {
  // JavaScript never writes `E`, nor a fraction ending in 0: those texts need no conversion to know.
  if (text.includes('E') || (text.charCodeAt(text.length - 1) === 48 && text.includes('.') && !text.includes('e'))) return new RawNumber(text);
  value ??= Number(text);
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

/** Marks, as the first character of a string, a number token turned into a string for JSON.parse. */
const MARK = '\uE000';
/** A suspect number token, as a marked string (3 characters longer). */
const MARKED = `$1"${MARK}$2"`;

/** Whether the text holds the marker itself (raw or escaped): then a marked string would be ambiguous. */
function holdsMark(text: string): boolean {
  return text.includes(MARK) || (text.includes('\\u') && /\\u[eE]000/.test(text));
}

/**
 * The careful way when a suspect-looking number stands inside a string: the same, with strings told
 * apart by SUSPECT_OUTSIDE_STRINGS (exact for any text; about 3 times JSON.parse's time).
 */
function parseScanned(text: string): unknown {
  const re = SUSPECT_OUTSIDE_STRINGS;
  re.lastIndex = 0;
  const pieces: string[] = [];
  let last = 0;
  let marks = 0;
  for (let m = re.exec(text); m && m[1] !== undefined; m = re.exec(text)) {
    const end = re.lastIndex;
    pieces.push(text.slice(last, end - m[1].length), '"', MARK, m[1], '"');
    last = end;
    marks++;
  }
  if (marks === 0) return JSON.parse(text);
  pieces.push(text.slice(last));
  let v: unknown;
  try {
    v = JSON.parse(pieces.join(''));
  } catch {
    // Not JSON: the message about the text as it came (positions included).
    JSON.parse(text);
    return JSON.parse(text, reviver as any);
  }
  return unmark(v, marks);
}

/**
 * Turns the `marks` marked strings in v back into numbers (numberFromText), in place; stops once all
 * are found. Iterative, so that any depth JSON.parse reads is fine.
 */
function unmark(v: unknown, marks: number): unknown {
  if (typeof v === 'string') return v.charCodeAt(0) === 0xe000 ? numberFromText(v.slice(1)) : v;
  if (v === null || typeof v !== 'object') return v;
  const todo: object[] = [v];
  while (marks > 0 && todo.length > 0) {
    const o = todo.pop()!;
    if (Array.isArray(o)) {
      for (let i = 0; i < o.length; i++) {
        const x = o[i];
        if (typeof x === 'string') {
          if (x.charCodeAt(0) === 0xe000) {
            o[i] = numberFromText(x.slice(1));
            marks--;
          }
        } else if (typeof x === 'object' && x !== null) todo.push(x);
      }
      continue;
    }
    const r = o as Record<string, unknown>;
    for (const k in r) {
      const x = r[k];
      if (typeof x === 'string') {
        if (x.charCodeAt(0) !== 0xe000) continue;
        // An own property, also `__proto__` (JSON.parse made it one): this sets it, not the prototype.
        r[k] = numberFromText(x.slice(1));
        marks--;
      } else if (typeof x === 'object' && x !== null) todo.push(x);
    }
  }
  return v;
}

const bigintReplacer = (_key: string, v: unknown): unknown => (typeof v === 'bigint' ? JSON.rawJSON(v.toString()) : v);

export const exactJson = {
  parse(text: string): any {
    // One native pass marks every suspect-looking number token: none (the usual case) → plain JSON.parse.
    const marked = text.replace(CANDIDATES, MARKED);
    if (marked.length === text.length) return TOP_LEVEL_NUMBER.test(text) ? JSON.parse(text, reviver as any) : JSON.parse(text);
    if (holdsMark(text)) return JSON.parse(text, reviver as any);
    let v: unknown;
    try {
      v = JSON.parse(marked);
    } catch {
      // A marked token stood inside a string (or the text is not JSON): tell strings apart.
      return parseScanned(text);
    }
    return unmark(v, (marked.length - text.length) / 3);
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
