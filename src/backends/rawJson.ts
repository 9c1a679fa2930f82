/**
 * Finding values in JSON bytes without building them (issue 15: a copy that does not turn every
 * document into objects only to write it out again). A page of documents is walked once over its
 * bytes: each value's start and end, the members of an object, and a string's text only where it is
 * asked for. Strings are skipped by Buffer.indexOf (a `"` byte is never part of a multi-byte UTF-8
 * character, so bytes are walked, not characters). Free of I/O.
 *
 * The walker checks the structure it passes (brackets, colons, commas, the first character of every
 * value) and throws RawJsonError on anything else; it does not check a string's escapes or a number's
 * digits, which it never rewrites: a caller that needs them as values parses the span (exactJson),
 * and a span handed on whole is the server's own text. Callers fall back to parsing the whole text
 * when it throws.
 */

export class RawJsonError extends Error {
  constructor(message: string, readonly at: number) {
    super(`${message} at byte ${at}`);
    this.name = 'RawJsonError';
  }
}

/** The bytes of JSON's structure (a walker of its own, such as solr/rawPage.ts, uses these). */
export const QUOTE = 0x22;
export const BACKSLASH = 0x5c;
export const COMMA = 0x2c;
export const COLON = 0x3a;
export const OPEN_OBJECT = 0x7b;
export const CLOSE_OBJECT = 0x7d;
export const OPEN_ARRAY = 0x5b;
export const CLOSE_ARRAY = 0x5d;

/** 1 for the bytes a number or literal may start with: digits, `-`, and t f n. */
const STARTS_SCALAR = new Uint8Array(256);
for (const c of '0123456789-tfn') STARTS_SCALAR[c.charCodeAt(0)] = 1;
/** 1 for the bytes that may follow a number or literal: `,` `}` `]` and whitespace. */
const ENDS_SCALAR = new Uint8Array(256);
for (const c of ',}] \n\r\t') ENDS_SCALAR[c.charCodeAt(0)] = 1;

export function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

/** The first index at or after `i` that is not JSON whitespace. */
export function skipSpace(b: Uint8Array, i: number): number {
  while (i < b.length && isSpace(b[i])) i++;
  return i;
}

/** Bytes looked at one by one before a string is searched by indexOf (a call costs as much as this many looks). */
const SHORT = 48;

/**
 * The index just after the string whose opening quote is at `i`. Short strings (keys, ids, most
 * values) byte by byte, escapes stepped over; a long one by indexOf from where that stopped.
 */
export function stringEnd(b: Buffer, i: number): number {
  const stop = Math.min(b.length, i + SHORT);
  let j = i + 1;
  while (j < stop) {
    const c = b[j];
    if (c === QUOTE) return j + 1;
    j += c === BACKSLASH ? 2 : 1;
  }
  // j stands outside any escape here (an escape's second byte was stepped over).
  let from = j;
  for (;;) {
    const q = b.indexOf(QUOTE, from);
    if (q < 0) throw new RawJsonError('unterminated string', i);
    // Escaped when an odd number of backslashes stands right before it (the opening quote bounds the look).
    let k = q - 1;
    while (b[k] === BACKSLASH) k--;
    if ((q - 1 - k) % 2 === 0) return q + 1;
    from = q + 1;
  }
}

/**
 * Whether the string span [start, end) (quotes included) holds an escape. Byte by byte: it is asked
 * of short strings (keys, ids), and indexOf would look on past the span, to the end of the page.
 */
export function hasEscape(b: Buffer, start: number, end: number): boolean {
  for (let k = start; k < end; k++) if (b[k] === BACKSLASH) return true;
  return false;
}

/** The text of the string span [start, end) (quotes included). */
export function stringText(b: Buffer, start: number, end: number): string {
  if (!hasEscape(b, start, end)) return b.toString('utf8', start + 1, end - 1);
  return JSON.parse(b.toString('utf8', start, end)) as string;
}

/** The index just after the value that starts at `i` (no whitespace before it). */
export function valueEnd(b: Buffer, i: number): number {
  const c = b[i];
  if (c === QUOTE) return stringEnd(b, i);
  if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
    let depth = 0;
    let j = i;
    while (j < b.length) {
      const x = b[j];
      if (x === QUOTE) {
        j = stringEnd(b, j);
        continue;
      }
      if (x === OPEN_OBJECT || x === OPEN_ARRAY) depth++;
      else if (x === CLOSE_OBJECT || x === CLOSE_ARRAY) {
        depth--;
        if (depth === 0) return j + 1;
      }
      j++;
    }
    throw new RawJsonError('unterminated object or array', i);
  }
  // A number or a literal: up to what may follow a value.
  if (STARTS_SCALAR[c] !== 1) throw new RawJsonError(`unexpected ${c === undefined ? 'end' : JSON.stringify(String.fromCharCode(c))}`, i);
  const n = b.length;
  let j = i + 1;
  while (j < n && ENDS_SCALAR[b[j]] !== 1) j++;
  return j;
}

/** One member of an object: its key's span (quotes included) and its value's span. */
export interface Member {
  keyStart: number;
  keyEnd: number;
  valueStart: number;
  valueEnd: number;
}

/** What a visitor of walkMembers / walkElements returns to end the walk where it is. */
export const STOP = -1;

/**
 * Walks the members of the object whose `{` is at `i`, in order, and lets the visitor take each value
 * on: `visit` gets the key's span (quotes included) and where the value starts, and returns the index
 * just after the value (valueEnd's, or its own walk's), or STOP. So each value is walked once, by
 * whoever needs its inside (a page's envelope, then each document: issue 15). Returns the index just
 * after the `}`, or STOP when a visitor stopped.
 */
export function walkMembers(b: Buffer, i: number, visit: (keyStart: number, keyEnd: number, valueStart: number) => number): number {
  if (b[i] !== OPEN_OBJECT) throw new RawJsonError('expected an object', i);
  let j = skipSpace(b, i + 1);
  if (b[j] === CLOSE_OBJECT) return j + 1;
  for (;;) {
    if (b[j] !== QUOTE) throw new RawJsonError('expected a key', j);
    const keyStart = j;
    const keyEnd = stringEnd(b, j);
    j = skipSpace(b, keyEnd);
    if (b[j] !== COLON) throw new RawJsonError('expected ":"', j);
    const end = visit(keyStart, keyEnd, skipSpace(b, j + 1));
    if (end === STOP) return STOP;
    j = skipSpace(b, end);
    if (b[j] === COMMA) {
      j = skipSpace(b, j + 1);
      continue;
    }
    if (b[j] === CLOSE_OBJECT) return j + 1;
    throw new RawJsonError('expected "," or "}"', j);
  }
}

/** As walkMembers, for the elements of the array whose `[` is at `i`: `visit` gets where each starts. */
export function walkElements(b: Buffer, i: number, visit: (start: number) => number): number {
  if (b[i] !== OPEN_ARRAY) throw new RawJsonError('expected an array', i);
  let j = skipSpace(b, i + 1);
  if (b[j] === CLOSE_ARRAY) return j + 1;
  for (;;) {
    const end = visit(j);
    if (end === STOP) return STOP;
    j = skipSpace(b, end);
    if (b[j] === COMMA) {
      j = skipSpace(b, j + 1);
      continue;
    }
    if (b[j] === CLOSE_ARRAY) return j + 1;
    throw new RawJsonError('expected "," or "]"', j);
  }
}

/**
 * Calls `visit` for each member of the object whose `{` is at `i`, in order, its value walked to its
 * end first; returns the index just after its `}`. The Member passed is reused from one call to the next.
 */
export function eachMember(b: Buffer, i: number, visit: (m: Member) => void): number {
  const m: Member = { keyStart: 0, keyEnd: 0, valueStart: 0, valueEnd: 0 };
  return walkMembers(b, i, (keyStart, keyEnd, valueStart) => {
    m.keyStart = keyStart;
    m.keyEnd = keyEnd;
    m.valueStart = valueStart;
    m.valueEnd = valueEnd(b, valueStart);
    visit(m);
    return m.valueEnd;
  });
}

/** Calls `visit` with the start and end of each element of the array whose `[` is at `i`; returns the index after its `]`. */
export function eachElement(b: Buffer, i: number, visit: (start: number, end: number) => void): number {
  return walkElements(b, i, (start) => {
    const end = valueEnd(b, start);
    visit(start, end);
    return end;
  });
}

/** A key as keyIs compares it: its JSON string, quotes included, as bytes. */
export function keyBytes(key: string): Buffer {
  return Buffer.from(JSON.stringify(key));
}

/** Whether the key span [start, end) is exactly `key` (given as its JSON string, quotes included, as bytes). */
export function keyIs(b: Buffer, start: number, end: number, key: Buffer): boolean {
  if (end - start !== key.length) return false;
  // Byte by byte: keys are short, and Buffer.compare is a call into C++ (15% of a page's walk).
  for (let k = 0; k < key.length; k++) if (b[start + k] !== key[k]) return false;
  return true;
}

/**
 * A document's JSON as spans of a buffer it shares with its page: the members kept, each run of
 * them in one span (`{` and `}` not included; runs are joined with `,`). Written out as it came.
 */
export interface RawObject {
  buf: Buffer;
  /** start, end, start, end, …: runs of members, in order. */
  spans: number[];
  /** Bytes of the object as written by writeObject (braces and commas included). */
  bytes: number;
}

/** The object's text ({…}): for the rare caller that needs its values (parse it exactly). */
export function rawObjectText(o: RawObject): string {
  const parts: string[] = [];
  for (let k = 0; k < o.spans.length; k += 2) parts.push(o.buf.toString('utf8', o.spans[k], o.spans[k + 1]));
  return `{${parts.join(',')}}`;
}

/**
 * Writes the object's members into `out` at `at`, without its braces, and returns the new end (the
 * caller has made room: o.bytes). Runs are joined with `,`.
 */
export function writeMembers(o: RawObject, out: Buffer, at: number): number {
  for (let k = 0; k < o.spans.length; k += 2) {
    if (k > 0) out[at++] = COMMA;
    at += o.buf.copy(out, at, o.spans[k], o.spans[k + 1]);
  }
  return at;
}
