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
