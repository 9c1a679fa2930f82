/** Solr query text for slices: pure, so the filters are tested without a server. */
import type { SliceBounds } from '../../coordination/workNode';

const iso = (t: number) => new Date(t).toISOString();

/** Filter for one customer; null = documents with no value in the customer field. */
export function customerFilter(field: string, customer: string | null): string {
  if (customer === null) return `(*:* -${field}:[* TO *])`;
  return `{!term f=${field}}${customer}`;
}

/** Filter for a slice's time range, half-open [from, to), or for documents with no timestamp. */
export function boundsFilter(field: string, bounds: SliceBounds): string {
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
