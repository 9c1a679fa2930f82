/**
 * Elasticsearch query bodies for slices, planning and paging: pure, so they are tested without a
 * server. The filters mean exactly what the Solr ones mean (solr/queries.ts) and what `inSlice` says.
 */
import type { SliceBounds } from '../../coordination/workNode';
import type { Bucket } from '../types';
import { exactJson } from '../exactJson';
import type { Customers, CustomerShapeRow } from '../types';

export type Query = Record<string, unknown>;

export interface FieldNames {
  customer: string;
  timestamp: string;
  uniqueKey: string;
}

const missing = (field: string): Query => ({ bool: { must_not: [{ exists: { field } }] } });

/** One customer by exact term; null = documents with no value in the customer field. */
export function customerFilter(field: string, customer: string | null): Query {
  if (customer === null) return missing(field);
  return { term: { [field]: customer } };
}

/** Values per `terms` query: below index.max_terms_count's default (65,536); a larger set is several, OR'd. */
export const TERMS_CHUNK = 50_000;

/**
 * The customers a read covers. One customer: as customerFilter. A set: one bool `should` of `terms`
 * queries (the empty string is a term like any other) and, when null is in the set, the documents
 * with no customer value. An empty set matches nothing.
 */
export function customersFilter(field: string, customers: Customers): Query {
  if (customers === null || typeof customers === 'string') return customerFilter(field, customers);
  const values = [...new Set(customers)];
  const terms = values.filter((v): v is string => v !== null);
  const should: Query[] = [];
  for (let i = 0; i < terms.length; i += TERMS_CHUNK) should.push({ terms: { [field]: terms.slice(i, i + TERMS_CHUNK) } });
  if (values.includes(null)) should.push(missing(field));
  if (should.length === 0) return { match_none: {} };
  if (should.length === 1) return should[0];
  return { bool: { should, minimum_should_match: 1 } };
}

/** Below this (1966-11-01), epoch_millis is not trusted: Elasticsearch 7/8 refuse -10761609311986 (year 1628). */
const EPOCH_MILLIS_FLOOR = -100_000_000_000;

/**
 * A slice's time range, half-open [from, to) with open ends, or the documents with no timestamp;
 * null for `all` (every document, with or without a timestamp: no time filter at all).
 */
export function boundsFilter(field: string, bounds: SliceBounds): Query | null {
  if (bounds.kind === 'all') return null;
  if (bounds.kind === 'no-timestamp') return missing(field);
  if (bounds.from === null && bounds.to === null) return { exists: { field } };
  // Elasticsearch's epoch_millis refuses large negative values (before ~1660, say): those bounds go as
  // ISO dates, which it reads for years 0000-9999. Both bounds of one range share one format.
  const before1970 = (bounds.from !== null && bounds.from < EPOCH_MILLIS_FLOOR) || (bounds.to !== null && bounds.to < EPOCH_MILLIS_FLOOR);
  const value = (t: number) => (before1970 ? new Date(t).toISOString() : t);
  const range: Record<string, unknown> = { format: before1970 ? 'strict_date_optional_time' : 'epoch_millis' };
  if (bounds.from !== null) range.gte = value(bounds.from);
  if (bounds.to !== null) range.lt = value(bounds.to);
  return { range: { [field]: range } };
}

/**
 * A query narrowed by the source's selection (source.query): both as filters (no scoring: reads sort
 * on the unique key). No query: the selection alone; no selection: the query as it is.
 */
export function withSelection(query: Query | undefined, selection: Query | undefined): Query | undefined {
  if (!selection) return query;
  if (!query) return { bool: { filter: [selection] } };
  return { bool: { filter: [query, selection] } };
}

/** A search body whose query is narrowed by the selection (withSelection); the body is not changed. */
export function selectBody(body: Query, selection: Query | undefined): Query {
  if (!selection) return body;
  return { ...body, query: withSelection(body.query as Query | undefined, selection) };
}

export function sliceQuery(fields: FieldNames, customers: Customers, bounds: SliceBounds): Query {
  const time = boundsFilter(fields.timestamp, bounds);
  return { bool: { filter: [customersFilter(fields.customer, customers), ...(time ? [time] : [])] } };
}

/**
 * The cursor kept in the work node: the JSON of the last hit's sort values, which is all
 * `search_after` needs. Unlike a scroll or point-in-time id it never expires, so it survives any
 * restart. '' (or null) = from the start.
 */
export function encodeCursor(sortValues: unknown[]): string {
  return exactJson.stringify(sortValues);
}

export function decodeCursor(cursor: string | null): unknown[] | null {
  if (cursor === null || cursor === '') return null;
  let values: unknown;
  try {
    values = exactJson.parse(cursor);
  } catch {
    throw new Error(`the cursor ${JSON.stringify(cursor.slice(0, 80))} is not an Elasticsearch search_after cursor (JSON sort values)`);
  }
  if (!Array.isArray(values) || values.length === 0) {
    throw new Error(`the cursor ${JSON.stringify(cursor.slice(0, 80))} is not an Elasticsearch search_after cursor (JSON sort values)`);
  }
  return values;
}

/** `index.max_result_window`'s default: the largest page one search may return. */
export const MAX_PAGE = 10_000;

/**
 * One page of a slice after the cursor, sorted on the unique key. The whole `_source`, unfiltered:
 * a filtered one is rewritten by the server (sourceFilter.ts applies copy.excludeFields instead).
 */
export function pageRequest(fields: FieldNames, customers: Customers, bounds: SliceBounds, cursor: string | null, rows: number): Query {
  const after = decodeCursor(cursor);
  return {
    size: Math.max(1, Math.min(rows, MAX_PAGE)),
    query: sliceQuery(fields, customers, bounds),
    sort: [{ [fields.uniqueKey]: { order: 'asc' } }],
    track_total_hits: false,
    ...(after ? { search_after: after } : {}),
  };
}

/**
 * Why a search or count answer cannot be trusted, or null. A timed-out search or one with failed
 * shards returns fewer hits than exist: taken at face value it would end a slice early.
 */
export function incompleteReason(res: any): string | null {
  if (res?.timed_out === true) return 'the search timed out on some shards';
  const shards = res?._shards;
  if (shards && Number(shards.failed) > 0) {
    const first = shards.failures?.[0]?.reason;
    const why = first ? `: ${first.type ?? ''} ${first.reason ?? ''}`.trimEnd() : '';
    return `${shards.failed} of ${shards.total} shards failed${why}`;
  }
  return null;
}

/** Customers and their counts, a page at a time (composite aggregation: scales to any number of customers). */
export function customersRequest(field: string, pageSize: number, after?: Record<string, unknown>): Query {
  return {
    size: 0,
    track_total_hits: false,
    aggs: {
      customers: {
        composite: {
          size: pageSize,
          sources: [{ customer: { terms: { field, missing_bucket: true } } }],
          ...(after ? { after } : {}),
        },
      },
    },
  };
}

/**
 * One page of customer shapes: a composite aggregation on the customer (the missing bucket holds the
 * documents with none), each bucket with the same min/max/missing aggregations as shapeRequest.
 * `only`: restricted to those customers.
 */
export function shapesRequest(fields: FieldNames, pageSize: number, only?: ReadonlyArray<string | null>, after?: Record<string, unknown>): Query {
  return {
    size: 0,
    track_total_hits: false,
    ...(only === undefined ? {} : { query: customersFilter(fields.customer, only) }),
    aggs: {
      customers: {
        composite: {
          size: pageSize,
          sources: [{ customer: { terms: { field: fields.customer, missing_bucket: true } } }],
          ...(after ? { after } : {}),
        },
        aggs: timestampStats(fields.timestamp),
      },
    },
  };
}

function timestampStats(field: string): Query {
  return {
    minTs: { min: { field } },
    maxTs: { max: { field } },
    noTs: { missing: { field } },
  };
}

/** A min/max date aggregation's value in whole milliseconds, rounded down (a date_nanos value stays inside [min, max + 1)). */
export function aggDate(agg: { value?: unknown } | undefined): number | null {
  return agg?.value === null || agg?.value === undefined ? null : Math.floor(Number(agg.value));
}

interface ShapeBucket { key: { customer: unknown }; doc_count: unknown; minTs?: { value?: unknown }; maxTs?: { value?: unknown }; noTs?: { doc_count?: unknown } }

/** The rows of one composite page (empty buckets dropped), in the server's order. */
export function shapeRows(buckets: ShapeBucket[]): CustomerShapeRow[] {
  return buckets.filter((b) => Number(b.doc_count) > 0).map((b) => ({
    customer: b.key.customer === null || b.key.customer === undefined ? null : String(b.key.customer),
    total: Number(b.doc_count),
    noTimestamp: Number(b.noTs?.doc_count ?? 0),
    minTs: aggDate(b.minTs),
    maxTs: aggDate(b.maxTs),
  }));
}

export function shapeRequest(fields: FieldNames, customer: string | null): Query {
  return {
    size: 0,
    track_total_hits: true,
    query: customerFilter(fields.customer, customer),
    aggs: timestampStats(fields.timestamp),
  };
}

/** A date histogram whose buckets start at `from` and tile [from, to) in steps of `gap` ms. */
export function histogramRequest(fields: FieldNames, customer: string | null, from: number, to: number, buckets: number): { gap: number; body: Query } {
  const gap = Math.max(1, Math.ceil((to - from) / buckets));
  // Buckets are aligned on multiples of the interval, shifted by the offset: this offset puts an edge on `from`.
  const offset = ((from % gap) + gap) % gap;
  return {
    gap,
    body: {
      size: 0,
      track_total_hits: false,
      query: sliceQuery(fields, customer, { kind: 'range', from, to }),
      aggs: {
        histogram: {
          date_histogram: { field: fields.timestamp, fixed_interval: `${gap}ms`, offset: `${offset}ms`, min_doc_count: 1 },
        },
      },
    },
  };
}

/**
 * The buckets over [from, to), empty ones included; the last is cut at `to` (the query never counts
 * beyond it). Throws if the server's buckets are not on the expected edges: counts would be misplaced.
 */
export function histogramBuckets(from: number, to: number, gap: number, esBuckets: Array<{ key: unknown; doc_count: unknown }>): Bucket[] {
  const counts = new Map<number, number>();
  for (const b of esBuckets) {
    const key = Number(b.key);
    if ((key - from) % gap !== 0 || key < from || key >= to) {
      throw new Error(`date_histogram bucket ${key} is not on the edges from ${from} every ${gap} ms`);
    }
    counts.set(key, Number(b.doc_count));
  }
  const out: Bucket[] = [];
  for (let start = from; start < to; start += gap) {
    out.push({ from: start, to: Math.min(start + gap, to), count: counts.get(start) ?? 0 });
  }
  return out;
}
