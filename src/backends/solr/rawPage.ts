/**
 * A Solr select answer's page of documents, taken from its bytes without building the documents
 * (issue 15): each document is kept as spans of the answer (rawJson.ts), the fields Solr maintains
 * cut out, and written to a Solr target as it came. Its id and customer are read from their spans;
 * `fields` is parsed (exactly: exactJson) only if something asks for it.
 *
 * Only flat documents take this path: a document with an object value (a child document), or an
 * array holding one, or a key written with an escape, makes rawSolrPage answer null, and the caller
 * parses the whole answer as before. Free of I/O.
 */
import { numberFromText } from '../exactJson';
import { rawSourceDoc } from '../rawDoc';
import {
  CLOSE_OBJECT, COLON, COMMA, OPEN_ARRAY, OPEN_OBJECT, QUOTE, RawJsonError, STOP, eachElement, hasEscape, keyBytes, keyIs, skipSpace, stringEnd, stringText,
  valueEnd as valueEndAt, walkElements, walkMembers,
} from '../rawJson';
import type { SourceDoc } from '../types';

export interface RawPageFields {
  uniqueKey: string;
  customer: string;
  /** Fields not copied (Solr's own, the spec's copy.excludeFields). */
  exclude: ReadonlySet<string>;
}

export interface RawSolrPage {
  docs: SourceDoc[];
  nextCursorMark: string | null;
  partialResults: boolean;
}

/** Key spans to look for, as bytes (quotes included), grouped by length: most keys are told apart by their length alone. */
class KeySet {
  private readonly byLength = new Map<number, Buffer[]>();

  constructor(keys: Iterable<string>) {
    for (const k of keys) {
      const b = keyBytes(k);
      this.byLength.set(b.length, [...(this.byLength.get(b.length) ?? []), b]);
    }
  }

  has(b: Buffer, start: number, end: number): boolean {
    const list = this.byLength.get(end - start);
    if (list === undefined) return false;
    for (const k of list) if (b[start + 1] === k[1] && keyIs(b, start, end, k)) return true;
    return false;
  }
}

const RESPONSE_HEADER = keyBytes('responseHeader');
const RESPONSE = keyBytes('response');
const DOCS = keyBytes('docs');
const NEXT_CURSOR = keyBytes('nextCursorMark');

/** Makes a reader of raw pages for these fields (the key sets are built once). */
export function rawSolrPages(f: RawPageFields): (b: Buffer) => RawSolrPage | null {
  const exclude = new KeySet(f.exclude);
  const uniqueKey = keyBytes(f.uniqueKey);
  const customerKey = keyBytes(f.customer);
  /**
   * The document at `start` into `docs`, and the index just after it; STOP when it is not flat, or its
   * id cannot be read from its span. Members walked inline (no callback per member).
   */
  const docAt = (b: Buffer, start: number, docs: SourceDoc[]): number => {
    const spans: number[] = [];
    let runStart = -1;
    let runEnd = -1;
    let id: string | null = null;
    let customer: string | null = null;
    if (b[start] !== OPEN_OBJECT) throw new RawJsonError('expected a document (an object)', start);
    let j = skipSpace(b, start + 1);
    if (b[j] !== CLOSE_OBJECT) {
      for (;;) {
        if (b[j] !== QUOTE) throw new RawJsonError('expected a key', j);
        const keyStart = j;
        const keyEnd = stringEnd(b, j);
        j = skipSpace(b, keyEnd);
        if (b[j] !== COLON) throw new RawJsonError('expected ":"', j);
        const valueStart = skipSpace(b, j + 1);
        const valueEnd = valueEndAt(b, valueStart);
        const c = b[valueStart];
        // Not flat (a child document, children in an array), or a key written with an escape: parsed instead.
        if (c === OPEN_OBJECT || (c === OPEN_ARRAY && holdsObject(b, valueStart)) || hasEscape(b, keyStart, keyEnd)) return STOP;
        if (exclude.has(b, keyStart, keyEnd)) {
          if (runStart >= 0) spans.push(runStart, runEnd);
          runStart = -1;
        } else {
          if (runStart < 0) runStart = keyStart;
          runEnd = valueEnd;
          if (keyIs(b, keyStart, keyEnd, uniqueKey)) id = idText(b, valueStart, valueEnd);
          else if (keyIs(b, keyStart, keyEnd, customerKey)) customer = c === QUOTE ? stringText(b, valueStart, valueEnd) : null;
        }
        j = skipSpace(b, valueEnd);
        if (b[j] === COMMA) {
          j = skipSpace(b, j + 1);
          continue;
        }
        if (b[j] === CLOSE_OBJECT) break;
        throw new RawJsonError('expected "," or "}"', j);
      }
    }
    if (runStart >= 0) spans.push(runStart, runEnd);
    if (id === null) return STOP;
    let bytes = 2 + Math.max(0, spans.length / 2 - 1);
    for (let k = 0; k < spans.length; k += 2) bytes += spans[k + 1] - spans[k];
    docs.push(rawSourceDoc(id, { buf: b, spans, bytes }, customer));
    return j + 1;
  };
  return (b: Buffer) => {
    const out: RawSolrPage = { docs: [], nextCursorMark: null, partialResults: false };
    let sawDocs = false;
    // Each value walked once: the envelope's members to their ends, the documents by docAt.
    const doc = (start: number) => docAt(b, start, out.docs);
    const inResponse = (keyStart: number, keyEnd: number, valueStart: number) => {
      if (!keyIs(b, keyStart, keyEnd, DOCS)) return valueEndAt(b, valueStart);
      sawDocs = true;
      return walkElements(b, valueStart, doc);
    };
    const walked = walkMembers(b, skipSpace(b, 0), (keyStart, keyEnd, valueStart) => {
      if (keyIs(b, keyStart, keyEnd, RESPONSE)) return walkMembers(b, valueStart, inResponse);
      const valueEnd = valueEndAt(b, valueStart);
      if (keyIs(b, keyStart, keyEnd, RESPONSE_HEADER)) {
        const header = JSON.parse(b.toString('utf8', valueStart, valueEnd));
        out.partialResults = Boolean(header?.partialResults);
      } else if (keyIs(b, keyStart, keyEnd, NEXT_CURSOR)) {
        if (b[valueStart] !== QUOTE) throw new RawJsonError('nextCursorMark is not a string', valueStart);
        out.nextCursorMark = stringText(b, valueStart, valueEnd);
      }
      return valueEnd;
    });
    if (walked === STOP) return null;
    if (!sawDocs) throw new RawJsonError('no response.docs in the answer', 0);
    return out;
  };
}

/** Whether the array at `i` holds an object among its elements (a Solr document's children). */
function holdsObject(b: Buffer, i: number): boolean {
  let found = false;
  eachElement(b, i, (s) => {
    if (b[s] === OPEN_OBJECT) found = true;
  });
  return found;
}

/** The id a uniqueKey value stands for, as the parsed path has it (String of the value); null for anything else. */
function idText(b: Buffer, start: number, end: number): string | null {
  const c = b[start];
  if (c === QUOTE) return stringText(b, start, end);
  if (c === 0x2d || (c >= 0x30 && c <= 0x39)) return String(numberFromText(b.toString('latin1', start, end)));
  return null;
}
