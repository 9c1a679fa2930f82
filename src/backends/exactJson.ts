/**
 * JSON that keeps every number exactly as the text had it, for documents of both backends (and their
 * cursors): `1.0` stays `1.0`, `1E+2` stays `1E+2`, `-0.0`, `1e-400`, `1e400` and 40-digit decimals
 * stay as written, integers beyond 2^53 stay exact.
 *
 * Parsed values: a number whose text JavaScript writes back identically is a plain number; an integer
 * beyond 2^53 is a BigInt (digit for digit, as before); any other number is a RawNumber holding its
 * text. `stringify` writes each of them with its original text (JSON.rawJSON).
 *
 * Speed (issue 15): scanAfter finds the number tokens that might not round-trip (SUSPECT's shapes)
 * after each `:`, `,` and `[`, by String.indexOf and a look at the few characters after it (about a
 * third of JSON.parse's time over a page; no regular expression found was under three quarters). A
 * text with none, or none that really reads back otherwise (a 16-digit integer below 2^53), is read
 * by plain JSON.parse: no copy, no second pass. When the only tokens to change are beyond 2^53 and
 * their doubles tell them apart (every Solr page: a 19-digit `_version_` in each document), plain
 * JSON.parse too, and those values are put in place by their doubles (parsePlaced). Otherwise those
 * tokens, and only those, become marked strings in a copy of the text, JSON.parse reads the copy and
 * the marked strings are replaced by their values (unmark); the copy is then the main cost (V8
 * allocates a string this large outside its young generation: about half of JSON.parse's time per
 * MB). A suspect-looking token inside a string makes
 * the marked text invalid, and only then are strings told apart (parseScanned). JSON.parse's reviver
 * with context.source would be exact by itself, but costs 5 to 8 times JSON.parse on a page of
 * documents (it runs for every value). `npm run bench:json` prints the figures.
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
 * Looks ahead at the start of a number token whose text might not survive JSON.parse → JSON.stringify
 * (the shapes scanAfter looks for, here for parseScanned): negative zero, an exponent, a fraction
 * ending in 0, 16 or more digits, or below 1e-6. A suspect token may still round-trip (e.g.
 * 1234567890123456): each is checked by tokenValue before it is marked.
 */
const SUSPECT = `(?=-0${AFTER}|-?(?:\\d+(?:\\.\\d+)?[eE]|\\d+\\.\\d*0${AFTER}|(?:\\d\\.?){16}|0\\.0{6}))`;
/** A whole number token, by JSON's grammar (no leading zeros: "0123" is not marked, JSON.parse rejects it). */
const TOKEN = '-?(?:0|[1-9]\\d*)(?:\\.\\d+)?(?:[eE][+-]?\\d+)?';
/** A text that is one number (no delimiter before it): read by the reviver. */
const TOP_LEVEL_NUMBER = /^[ \t\n\r]*[-\d]/;
/** Where a JSON value may start: at the start of the text, or after `:`, `,` or `[` and whitespace. */
const VALUE_START = '(?<=(?:^|[:,\\[])[ \\t\\n\\r]*)';
/** A JSON string (unrolled, `[^"\\]*`, so that a long one costs no backtracking). */
const STRING = '"[^"\\\\]*(?:\\\\[^][^"\\\\]*)*"';
/**
 * From a place outside every string: the next suspect number token outside strings (group 1; lastIndex
 * is its end), or the rest of the text (no group 1). Strings are skipped inside the regular expression,
 * so that one exec costs one suspect number, not one per string.
 */
const SUSPECT_OUTSIDE_STRINGS = new RegExp(`(?:[^"]*${STRING})*?(?:[^"]*?${VALUE_START}${SUSPECT}(${TOKEN})${AFTER}|[^"]*$)`, 'y');

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

/**
 * Marks, as the first character of a string, a number token turned into a string for JSON.parse. DEL:
 * about as rare in text as a character can be, and one byte (Latin-1), so that a marked copy of a
 * Latin-1 text stays one byte per character (a two-byte copy took JSON.parse twice as long).
 */
const MARK = '\x7f';
const MARK_CODE = 0x7f;

/** Whether the text holds the marker itself (raw or escaped): then a marked string would be ambiguous. */
function holdsMark(text: string): boolean {
  return text.includes(MARK) || (text.includes('\\u') && /\\u007[fF]/.test(text));
}

/** Whether c (a char code, NaN past the end) may follow a number token: JSON whitespace, `,`, `]`, `}`, or the end. */
function endsNumber(c: number): boolean {
  return c === 44 || c === 93 || c === 125 || c === 32 || c === 10 || c === 13 || c === 9 || c !== c;
}

/** What scanAfter knows of a token's shape (the third number of each span). */
const OTHER = 0;
const INTEGER_TOKEN = 1;
/** An integer of 18 digits or more. */
const LONG_INTEGER = 2;
/** A fraction without exponent. */
const FRACTION = 3;

/**
 * Appends to `at` the start, end and kind (above) of every suspect number token that follows the
 * delimiter d (`:`, `,` or `[`) and whitespace: negative zero, an exponent, a fraction ending in 0, 16 or more digits
 * (beyond 2^53, more digits than a double holds, or 1e21 and up, which JavaScript writes with an
 * exponent), or 0.000000… (below 1e-6: ditto). A number that is none of these has at most 15
 * significant digits in plain notation, and a double gives those back exactly as written.
 *
 * Not string-aware: a suspect-looking token inside a string is found too (see parse). Only tokens of
 * JSON's grammar followed by what may follow a number: `0123` or `1.` are left alone, and JSON.parse
 * rejects them if they stand outside a string.
 *
 * Why code and not a regular expression: each delimiter is found by String.indexOf (a native search
 * for one character, many times faster than a regular expression that tests a character class at
 * every place), and the few characters after it are looked at here. Over a page of prose this costs
 * about a third of JSON.parse's time; the fastest regular expression found cost about three quarters.
 */
function scanAfter(text: string, d: string, at: number[]): void {
  for (let i = text.indexOf(d); i >= 0; i = text.indexOf(d, i + 1)) {
    let j = i + 1;
    let c = text.charCodeAt(j);
    while (c === 32 || c === 10 || c === 13 || c === 9) c = text.charCodeAt(++j);
    const start = j;
    const negative = c === 45;
    if (negative) c = text.charCodeAt(++j);
    if (!(c >= 48 && c <= 57)) continue;
    const zero = c === 48;
    let digits = 0;
    do {
      digits++;
      c = text.charCodeAt(++j);
    } while (c >= 48 && c <= 57);
    if (zero && digits > 1) continue; // a leading zero: not JSON
    let suspect = digits >= 16 || (negative && zero);
    let kind = digits >= 18 ? LONG_INTEGER : INTEGER_TOKEN;
    if (c === 46) {
      kind = FRACTION;
      c = text.charCodeAt(++j);
      if (!(c >= 48 && c <= 57)) continue;
      const fraction = j;
      let last = 0;
      do {
        digits++;
        last = c;
        c = text.charCodeAt(++j);
      } while (c >= 48 && c <= 57);
      // A fraction ending in 0 (also -0.0), 16 digits, or 0.000000… (below 1e-6).
      suspect = last === 48 || digits >= 16 || (zero && j - fraction > 6 && text.startsWith('000000', fraction));
    }
    if (c === 101 || c === 69) {
      c = text.charCodeAt(++j);
      if (c === 43 || c === 45) c = text.charCodeAt(++j);
      if (!(c >= 48 && c <= 57)) continue;
      do c = text.charCodeAt(++j);
      while (c >= 48 && c <= 57);
      suspect = true;
      kind = OTHER;
    }
    if (suspect && endsNumber(c)) at.push(start, j, kind);
    i = j - 1;
  }
}

/**
 * Start, end and kind of each suspect number token after a delimiter (see scanAfter), in text order, or
 * null if there are none (the usual case: then the text goes to plain JSON.parse).
 */
function suspectSpans(text: string): number[] | null {
  const colon: number[] = [];
  const comma: number[] = [];
  const bracket: number[] = [];
  scanAfter(text, ':', colon);
  scanAfter(text, ',', comma);
  scanAfter(text, '[', bracket);
  const lists = [colon, comma, bracket].filter((l) => l.length > 0);
  if (lists.length === 0) return null;
  if (lists.length === 1) return lists[0];
  // Each list is in order; merged by start (no token follows two delimiters).
  const out: number[] = [];
  const at = lists.map(() => 0);
  for (;;) {
    let best = -1;
    for (let k = 0; k < lists.length; k++) if (at[k] < lists[k].length && (best < 0 || lists[k][at[k]] < lists[best][at[best]])) best = k;
    if (best < 0) return out;
    out.push(lists[best][at[best]], lists[best][at[best] + 1], lists[best][at[best] + 2]);
    at[best] += 3;
  }
}

/**
 * numberFromText for a token of JSON's grammar whose shape scanAfter told (kind), quicker for the
 * common suspects: a fraction ending in 0 is a RawNumber, and an integer of 18 digits or more not
 * ending in 0 (the 19-digit _version_ of every Solr document) a BigInt, with no double in between (a
 * double has at most 17 significant digits, so JavaScript writes such an integer with trailing zeros).
 */
function tokenValue(token: string, kind: number): number | bigint | RawNumber {
  const last = token.charCodeAt(token.length - 1);
  if (kind === FRACTION && last === 48) return new RawNumber(token);
  if (kind === LONG_INTEGER && last !== 48) return BigInt(token);
  if (kind === INTEGER_TOKEN || kind === LONG_INTEGER) {
    if (token === '-0') return new RawNumber(token);
    const value = Number(token);
    // Otherwise an integer of JSON's grammar reads back from BigInt digit for digit.
    return String(value) === token ? value : BigInt(token);
  }
  return numberFromText(token);
}

/**
 * The text with each number token of `spans` (start, end, kind, start, end, kind, ...) that does not
 * read back as its own text replaced by a marked string `"<MARK><i>"`, i the index of its value (BigInt or
 * RawNumber) in `values`. Null when no token needs it (e.g. a 16-digit integer below 2^53).
 */
function marked(text: string, spans: number[], values: unknown[]): string | null {
  let out = '';
  let last = 0;
  for (let k = 0; k < spans.length; k += 3) {
    const start = spans[k];
    const end = spans[k + 1];
    const value = tokenValue(text.slice(start, end), spans[k + 2]);
    if (typeof value === 'number') continue;
    // String concatenation (a rope, flattened once by JSON.parse): about twice as fast here as
    // String.replace with a replacement pattern.
    out += `${text.slice(last, start)}"${MARK}${values.length}"`;
    values.push(value);
    last = end;
  }
  return values.length === 0 ? null : out + text.slice(last);
}

/** The index i of a marked string `"<MARK><i>"`. */
function markIndex(s: string): number {
  let i = 0;
  for (let k = 1; k < s.length; k++) i = i * 10 + s.charCodeAt(k) - 48;
  return i;
}

/**
 * Turns the marked strings in v back into their values, in place; stops once all are found.
 * Iterative, so that any depth JSON.parse reads is fine.
 */
function unmark(v: unknown, values: unknown[]): unknown {
  if (typeof v === 'string') return v.charCodeAt(0) === MARK_CODE ? values[markIndex(v)] : v;
  if (v === null || typeof v !== 'object') return v;
  let marks = values.length;
  const todo: object[] = [v];
  while (marks > 0 && todo.length > 0) {
    const o = todo.pop()!;
    if (Array.isArray(o)) {
      for (let i = 0; i < o.length; i++) {
        const x = o[i];
        if (typeof x === 'string') {
          if (x.charCodeAt(0) === MARK_CODE) {
            o[i] = values[markIndex(x)];
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
        if (x.charCodeAt(0) !== MARK_CODE) continue;
        // An own property, also `__proto__` (JSON.parse made it one): this sets it, not the prototype.
        r[k] = values[markIndex(x)];
        marks--;
      } else if (typeof x === 'object' && x !== null) todo.push(x);
    }
  }
  return v;
}

/**
 * The careful way when a suspect-looking number stands inside a string: the same, with strings told
 * apart by SUSPECT_OUTSIDE_STRINGS (exact for any text; about 3 times JSON.parse's time).
 */
function parseScanned(text: string): unknown {
  const re = SUSPECT_OUTSIDE_STRINGS;
  re.lastIndex = 0;
  const spans: number[] = [];
  for (let m = re.exec(text); m && m[1] !== undefined; m = re.exec(text)) spans.push(re.lastIndex - m[1].length, re.lastIndex, OTHER);
  const values: unknown[] = [];
  const m = spans.length === 0 ? null : marked(text, spans, values);
  if (m === null) return JSON.parse(text);
  let v: unknown;
  try {
    v = JSON.parse(m);
  } catch {
    // Not JSON: the message about the text as it came (positions included).
    JSON.parse(text);
    return JSON.parse(text, reviver as any);
  }
  return unmark(v, values);
}

/** 2^53: a number token whose value is at least this large (or infinite) has 16 digits or more, or an exponent. */
const BIG = 9007199254740992;

/**
 * The way without a copy, for a text whose only tokens to change have values beyond ±2^53 (64-bit
 * integers, e.g. the _version_ of every Solr document): plain JSON.parse, then each such value put in
 * place where the parsed tree holds its double. Exact because only a suspect token can have a value
 * that large (below it, 15 digits and no exponent: not suspect), and each is used only if no other
 * suspect token, inside a string or not, has the same double: then the one number of the tree with
 * that double, if there is one, was read from that token (none: it stood inside a string, or a
 * later duplicate key replaced it). Null when that does not hold for every token (then: marks).
 */
function parsePlaced(text: string, spans: number[]): unknown {
  const wanted = new Map<number, unknown>();
  const seen = new Set<number>();
  for (let k = 0; k < spans.length; k += 3) {
    const token = text.slice(spans[k], spans[k + 1]);
    const double = Number(token);
    if (!(double >= BIG || double <= -BIG)) {
      // A value this small needs no place found unless it is to change: then this way does not fit.
      if (typeof tokenValue(token, spans[k + 2]) !== 'number') return null;
      continue;
    }
    if (seen.has(double)) return null; // two tokens with one double: which is which is not known
    seen.add(double);
    const value = tokenValue(token, spans[k + 2]);
    if (typeof value !== 'number') wanted.set(double, value);
  }
  const v = JSON.parse(text);
  if (wanted.size === 0 || v === null || typeof v !== 'object') return v;
  let left = wanted.size;
  const todo: object[] = [v];
  while (left > 0 && todo.length > 0) {
    const o = todo.pop()!;
    if (Array.isArray(o)) {
      for (let i = 0; i < o.length; i++) {
        const x = o[i];
        if (typeof x === 'number') {
          if ((x >= BIG || x <= -BIG) && wanted.has(x)) {
            o[i] = wanted.get(x);
            left--;
          }
        } else if (typeof x === 'object' && x !== null) todo.push(x);
      }
      continue;
    }
    const r = o as Record<string, unknown>;
    for (const key in r) {
      const x = r[key];
      if (typeof x === 'number') {
        // An own property, also `__proto__` (JSON.parse made it one): this sets it, not the prototype.
        if ((x >= BIG || x <= -BIG) && wanted.has(x)) {
          r[key] = wanted.get(x);
          left--;
        }
      } else if (typeof x === 'object' && x !== null) todo.push(x);
    }
  }
  return v;
}

/** Whether the last value the replacer wrote held a BigInt (stringify's guess for the next one). */
let sawBigInt = false;
const bigintReplacer = (_key: string, v: unknown): unknown => {
  if (typeof v !== 'bigint') return v;
  sawBigInt = true;
  return JSON.rawJSON(v.toString());
};
/**
 * The last value written held a BigInt: the next one (a page's next document) likely does too, and
 * goes straight to the replacer — plain JSON.stringify would throw on it first, and the thrown
 * TypeError costs more than the whole replacer pass (about half of writing a page of documents with
 * 64-bit fields). A value without one turns the guess off again. The text is the same either way.
 */
let expectBigInt = false;

export const exactJson = {
  parse(text: string): any {
    if (TOP_LEVEL_NUMBER.test(text)) return JSON.parse(text, reviver as any);
    // Suspect-looking number tokens (scanAfter): none (the usual case) → plain JSON.parse.
    const spans = suspectSpans(text);
    if (spans === null) return JSON.parse(text);
    // Only 64-bit integers (or other values beyond 2^53) to change, each told apart by its double: no copy.
    const placed = parsePlaced(text, spans);
    if (placed !== null) return placed;
    const values: unknown[] = [];
    const m = marked(text, spans, values);
    if (m === null) return JSON.parse(text);
    if (holdsMark(text)) return JSON.parse(text, reviver as any);
    let v: unknown;
    try {
      v = JSON.parse(m);
    } catch {
      // A marked token stood inside a string (or the text is not JSON): tell strings apart.
      return parseScanned(text);
    }
    return unmark(v, values);
  },
  /** The same as parse, by JSON.parse's reviver with context.source alone (slower; for the tests to compare). */
  parseWithReviver(text: string): any {
    return JSON.parse(text, reviver as any);
  },
  stringify(value: unknown): string {
    if (expectBigInt) {
      sawBigInt = false;
      const text = JSON.stringify(value, bigintReplacer) ?? 'null';
      expectBigInt = sawBigInt;
      return text;
    }
    try {
      return JSON.stringify(value) ?? 'null';
    } catch (e) {
      if (!(e instanceof TypeError && /BigInt/i.test(e.message))) throw e;
      expectBigInt = true;
      return JSON.stringify(value, bigintReplacer) ?? 'null';
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
