/**
 * An Elasticsearch (or OpenSearch) search answer's page of hits, taken from its bytes without
 * building the documents (issue 15, as solr/rawPage.ts for Solr): each hit's `_source` is kept as
 * the span of the answer it came in — byte for byte as the cluster stored it — and written to an
 * Elasticsearch target as it is. Its `_id`, `_routing`, the customer field at the top of `_source`,
 * and the last hit's `sort` values (the cursor) are read from their spans; `fields` is parsed only
 * if something asks for it. Only without copy.excludeFields (the backend's choice): the exclusion
 * patterns reach into objects, and a page with them is parsed. Free of I/O.
 */
import { rawSourceDoc } from '../rawDoc';
import { OPEN_OBJECT, QUOTE, RawJsonError, STOP, eachMember, isSpace, keyBytes, keyIs, skipSpace, stringText, valueEnd, walkElements, walkMembers } from '../rawJson';
import type { SourceDoc } from '../types';

export interface RawEsPage {
  docs: SourceDoc[];
  /** The text of the last hit's `sort` array (null: no hits). */
  lastSort: string | null;
  /** What says whether the answer is complete (incompleteReason): `timed_out` and `_shards`, parsed. */
  header: { timed_out?: unknown; _shards?: unknown };
}

const HITS = keyBytes('hits');
const ID = keyBytes('_id');
const ROUTING = keyBytes('_routing');
const SOURCE = keyBytes('_source');
const SORT = keyBytes('sort');
const TIMED_OUT = keyBytes('timed_out');
const SHARDS = keyBytes('_shards');

/** Makes a reader of raw pages that also reads the top-level `customer` field of each `_source`. */
export function rawEsPages(customerField: string): (b: Buffer) => RawEsPage | null {
  const customerKey = keyBytes(customerField);
  return (b: Buffer) => {
    const out: RawEsPage = { docs: [], lastSort: null, header: {} };
    let sawHits = false;
    /** Where the last hit's sort values stand: only those become the cursor. */
    let lastSort: { start: number; end: number } | null = null;
    // Each value walked once: the envelope's members to their ends, the hits by hitAt.
    const hit = (start: number) => {
      const h = hitAt(b, start, customerKey);
      if (h === null) return STOP;
      out.docs.push(h.doc);
      lastSort = h.sort;
      return h.end;
    };
    const inHits = (keyStart: number, keyEnd: number, valueStart: number) => {
      if (!keyIs(b, keyStart, keyEnd, HITS)) return valueEnd(b, valueStart);
      sawHits = true;
      return walkElements(b, valueStart, hit);
    };
    const walked = walkMembers(b, skipSpace(b, 0), (keyStart, keyEnd, valueStart) => {
      if (keyIs(b, keyStart, keyEnd, HITS)) return walkMembers(b, valueStart, inHits);
      const end = valueEnd(b, valueStart);
      if (keyIs(b, keyStart, keyEnd, TIMED_OUT)) out.header.timed_out = JSON.parse(b.toString('latin1', valueStart, end));
      else if (keyIs(b, keyStart, keyEnd, SHARDS)) out.header._shards = JSON.parse(b.toString('utf8', valueStart, end));
      return end;
    });
    if (walked === STOP) return null;
    if (!sawHits) throw new RawJsonError('no hits.hits in the answer', 0);
    const last = lastSort as { start: number; end: number } | null;
    if (last !== null) out.lastSort = b.toString('utf8', last.start, last.end);
    return out;
  };
}

/**
 * One hit: its document, where its sort values stand and where it ends; null (the page is parsed instead) when it
 * has no `_id`, a `_source` that is not an object, or no sort values (the cursor would have nothing
 * to move on to).
 */
function hitAt(b: Buffer, start: number, customerKey: Buffer): { doc: SourceDoc; sort: { start: number; end: number }; end: number } | null {
  let id: string | null = null;
  let routing: string | undefined;
  let source: { start: number; end: number } | null = null;
  let sort: { start: number; end: number } | null = null;
  let sourceOk = true;
  const end = eachMember(b, start, (m) => {
    if (keyIs(b, m.keyStart, m.keyEnd, ID)) id = b[m.valueStart] === QUOTE ? stringText(b, m.valueStart, m.valueEnd) : null;
    else if (keyIs(b, m.keyStart, m.keyEnd, ROUTING)) {
      if (b[m.valueStart] === QUOTE) routing = stringText(b, m.valueStart, m.valueEnd);
    } else if (keyIs(b, m.keyStart, m.keyEnd, SOURCE)) {
      if (b[m.valueStart] === OPEN_OBJECT) source = { start: m.valueStart, end: m.valueEnd };
      else sourceOk = false;
    } else if (keyIs(b, m.keyStart, m.keyEnd, SORT)) sort = { start: m.valueStart, end: m.valueEnd };
  });
  if (id === null || !sourceOk || sort === null) return null;
  // No _source in the hit (the index keeps none): the document is {} as the parsed path has it.
  const s = source as { start: number; end: number } | null;
  const spans: number[] = [];
  let bytes = 2;
  if (s !== null) {
    // The members of _source, between its braces (whitespace at either end left out).
    const from = skipSpace(b, s.start + 1);
    let to = s.end - 1;
    while (to > from && isSpace(b[to - 1])) to--;
    if (to > from) {
      spans.push(from, to);
      bytes += to - from;
    }
  }
  // Looked for only when asked (a packed slice's counts): a second walk of _source, not one per page.
  const customer = () => {
    let found: string | null = null;
    if (s !== null) {
      eachMember(b, s.start, (m) => {
        if (keyIs(b, m.keyStart, m.keyEnd, customerKey)) found = b[m.valueStart] === QUOTE ? stringText(b, m.valueStart, m.valueEnd) : null;
      });
    }
    return found;
  };
  return { doc: rawSourceDoc(id, { buf: b, spans, bytes }, customer, routing), sort, end };
}
