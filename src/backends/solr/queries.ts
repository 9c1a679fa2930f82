/** Solr query text for slices: pure, so the filters are tested without a server. */
import type { SliceBounds } from '../../coordination/workNode';
import type { Customers, CustomerShapeRow } from '../types';

const iso = (t: number) => new Date(t).toISOString();

/**
 * A value as one quoted term of the standard query parser, every character kept (`"` and `\` escaped).
 * The empty string is the one value it cannot hold: Solr reads `""` as two quote characters.
 */
export function quotedTerm(value: string): string {
  return `"${value.replace(/["\\]/g, (c) => `\\${c}`)}"`;
}

/** Filter for documents whose `field` is one of `values` (each quoted: quotedTerm). */
export function anyOfFilter(field: string, values: ReadonlyArray<string>): string {
  return `${field}:(${values.map(quotedTerm).join(' OR ')})`;
}

/** Filter for one customer; null = documents with no value in the customer field. */
export function customerFilter(field: string, customer: string | null): string {
  if (customer === null) return `(*:* -${field}:[* TO *])`;
  return `{!term f=${field}}${customer}`;
}

/**
 * A filter query and the request parameters it refers to (`$name`): values travel as parameters of
 * their own, never quoted inside query text, so no customer value can change what the query means.
 */
export interface SolrFilter {
  fq: string;
  params: Record<string, string>;
}

/** Separators for the terms query parser, tried in order: the first that occurs in none of the values. */
const SEPARATORS = [',', '|', ';', '~', '^', '\u0001', '\u001f'];

/**
 * A separator for `{!terms}` that occurs in none of the values (not whitespace: a space separator
 * makes Solr split on any whitespace and trim). Falls back to private-use characters.
 */
export function pickSeparator(values: ReadonlyArray<string>): string {
  const used = (sep: string) => values.some((v) => v.includes(sep));
  for (const sep of SEPARATORS) if (!used(sep)) return sep;
  for (let cp = 0xe000; cp <= 0xf8ff; cp++) {
    const sep = String.fromCharCode(cp);
    if (!used(sep)) return sep;
  }
  throw new Error('no separator for the terms query: every candidate character occurs in a customer value');
}

/** Parameter names the customers filter uses (prefixed: never a Solr parameter). */
export const CUSTOMER_PARAMS = { terms: 'bg_customers', empty: 'bg_customer_empty', none: 'bg_customer_none' } as const;

/**
 * Filter for the customers a read covers. One customer: as customerFilter. A set: one `{!bool}` of
 * up to three clauses, each a request parameter: the non-empty values as one `{!terms}` query (the
 * termsFilter method: a TermInSetQuery, no maxBooleanClauses limit, any number of values in a POST
 * body), the empty string as a term of its own (a terms list cannot hold '' alone), and the
 * documents with no customer value when null is in the set. An empty set matches nothing.
 */
export function customersFilter(field: string, customers: Customers): SolrFilter {
  if (customers === null || typeof customers === 'string') return { fq: customerFilter(field, customers), params: {} };
  const values = [...new Set(customers)];
  const terms = values.filter((v): v is string => v !== null && v !== '');
  const params: Record<string, string> = {};
  if (terms.length > 0) {
    const sep = pickSeparator(terms);
    params[CUSTOMER_PARAMS.terms] = `{!terms f=${field} method=termsFilter separator='${sep}'}${terms.join(sep)}`;
  }
  if (values.includes('')) params[CUSTOMER_PARAMS.empty] = `{!term f=${field} v=''}`;
  if (values.includes(null)) params[CUSTOMER_PARAMS.none] = customerFilter(field, null);
  const names = Object.keys(params);
  if (names.length === 0) return { fq: '-*:*', params: {} };
  return { fq: `{!bool ${names.map((n) => `should=$${n}`).join(' ')}}`, params };
}

/**
 * Filter for a slice's time range, half-open [from, to), or for documents with no timestamp; null
 * for `all` (every document, with or without a timestamp: no time filter at all).
 */
export function boundsFilter(field: string, bounds: SliceBounds): string | null {
  if (bounds.kind === 'all') return null;
  if (bounds.kind === 'no-timestamp') return `(*:* -${field}:[* TO *])`;
  const from = bounds.from === null ? '*' : iso(bounds.from);
  const to = bounds.to === null ? '*' : iso(bounds.to);
  // `[a TO b}`: lower bound inclusive, upper exclusive. An open upper end must be inclusive (`*]`).
  return `${field}:[${from} TO ${to}${bounds.to === null ? ']' : '}'}`;
}

/** Largest count Solr's date math takes before a unit (`+N UNIT`: N is a Java int). */
const SOLR_MAX_GAP_COUNT = 2 ** 31 - 1;
const GAP_UNITS: Array<[string, number]> = [
  ['MILLISECONDS', 1], ['SECONDS', 1000], ['MINUTES', 60_000], ['HOURS', 3_600_000], ['DAYS', 86_400_000],
];

/**
 * The range-facet gap for about `buckets` equal buckets over [from, to): at least the exact width,
 * in the smallest unit whose count fits Solr's int (`+2147483648MILLISECONDS` is "Can't add gap";
 * ~24.8 days, i.e. a 13.6-year span at 200 buckets). Rounding up to a whole unit only ever makes
 * buckets wider (fewer of them); DAYS are exact 86,400,000 ms in UTC, so every edge is `from + i·gapMs`.
 */
export function rangeGap(from: number, to: number, buckets: number): { gapMs: number; text: string } {
  const want = Math.max(1, Math.ceil((to - from) / Math.max(1, buckets)));
  for (const [unit, ms] of GAP_UNITS) {
    const n = Math.ceil(want / ms);
    if (n <= SOLR_MAX_GAP_COUNT) return { gapMs: n * ms, text: `+${n}${unit}` };
  }
  throw new Error(`a range-facet gap of ${want} ms is beyond what Solr's date math can express`);
}

/**
 * A Solr date (`2024-05-01T10:00:00Z`, `-0500-01-01T00:00:00Z`, `+10000-01-01T00:00:00.5Z`) in ms
 * since the epoch. Solr writes years outside 0000–9999 with a sign and at least 4 digits, which
 * Date.parse refuses (it wants exactly 6 digits there); fractions beyond ms are cut, not rounded.
 */
export function parseSolrDate(text: string): number {
  const m = /^([+-]?)(\d{4,})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d+))?Z$/.exec(text.trim());
  if (!m) throw new Error(`"${text}" is not a Solr date`);
  const year = Number(m[2]) * (m[1] === '-' ? -1 : 1);
  const d = new Date(0);
  d.setUTCFullYear(year, Number(m[3]) - 1, Number(m[4]));
  d.setUTCHours(Number(m[5]), Number(m[6]), Number(m[7]), m[8] ? Number(m[8].slice(0, 3).padEnd(3, '0')) : 0);
  const t = d.getTime();
  if (!Number.isFinite(t)) throw new Error(`the Solr date "${text}" is outside what bluegreen can plan (years -271821 to 275760)`);
  return t;
}

/** Documents that are not children of another (the top of each block; every document when there are none). */
export function rootsFilter(mode: 'anonymous' | 'labelled', uniqueKey: string): string {
  // Labelled children carry _nest_path_, their roots do not. Anonymous children (`_childDocuments_`) carry
  // nothing but _root_ = their root's id, and only a root's own _root_ is its id: the join keeps roots.
  return mode === 'labelled' ? '(*:* -_nest_path_:*)' : `{!join from=_root_ to=${uniqueKey}}*:*`;
}

/**
 * The customers after `last` in index order, for keyset paging of the terms facet (an offset would
 * skip a customer whenever one before it disappears between two pages). A quoted range term keeps
 * every character once backslash and `"` are escaped; the empty string is the one value a quoted range
 * cannot hold (Solr reads `""` as two quote characters), and it is the smallest term: after it
 * comes every other value.
 */
export function customersAfter(field: string, last: string): string {
  if (last === '') return `(${field}:[* TO *] -${field}:"")`;
  return `${field}:{${quotedTerm(last)} TO *]`;
}

/**
 * The JSON Facet request of one page of customer shapes: customers in index order from the page's
 * domain (customersAfter), each with min/max of the timestamp and the count of documents without
 * one; with `missing`, the documents with no customer value too (only on the first page: the
 * keyset filter leaves them out of later ones).
 */
export function shapesFacet(fields: { customer: string; timestamp: string }, pageSize: number, missing: boolean): string {
  const stats = {
    minTs: `min(${fields.timestamp})`,
    maxTs: `max(${fields.timestamp})`,
    noTs: { type: 'query', q: `(*:* -${fields.timestamp}:[* TO *])` },
  };
  return JSON.stringify({
    customers: { type: 'terms', field: fields.customer, sort: 'index asc', limit: pageSize, mincount: 1, missing, numBuckets: false, facet: stats },
  });
}

/**
 * A JSON Facet min/max of a date: Solr 8.11 and 9.x give the date text (`-0500-01-01T00:00:00Z`,
 * as stats do); a number (ms since the epoch, older versions) is taken as is, rounded down.
 */
export function facetDate(v: unknown): number | null {
  if (v === null || v === undefined) return null;
  if (typeof v === 'string') return parseSolrDate(v);
  const n = Number(String(v));
  if (!Number.isFinite(n)) throw new Error(`the facet value ${String(v)} is not a date`);
  return Math.floor(n);
}

interface FacetBucket { val?: unknown; count?: unknown; minTs?: unknown; maxTs?: unknown; noTs?: { count?: unknown } }

function shapeOf(customer: string | null, b: FacetBucket): CustomerShapeRow {
  const total = Number(b.count ?? 0);
  // A bucket whose documents all lack the timestamp carries no min/max.
  return { customer, total, noTimestamp: Number(b.noTs?.count ?? 0), minTs: facetDate(b.minTs), maxTs: facetDate(b.maxTs) };
}

/** One page's rows (customers with documents, in the server's order) and the missing bucket, if asked for and not empty. */
export function shapesPage(facets: any): { rows: CustomerShapeRow[]; missing: CustomerShapeRow | null; buckets: number; last: string | null } {
  const agg = facets?.customers;
  const buckets: FacetBucket[] = agg?.buckets ?? [];
  const rows = buckets.map((b) => shapeOf(String(b.val), b)).filter((r) => r.total > 0);
  const missing = agg?.missing && Number(agg.missing.count) > 0 ? shapeOf(null, agg.missing) : null;
  return { rows, missing, buckets: buckets.length, last: buckets.length ? String(buckets[buckets.length - 1].val) : null };
}
