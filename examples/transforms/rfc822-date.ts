/**
 * Seed 000's toy backport: a date field written as RFC 3339 (`2021-03-01T10:00:00Z`) must now be
 * RFC 822 (`Mon, 01 Mar 2021 10:00:00 GMT`). Made for `copy.mode: in-place` (rfc822-in-place.yaml),
 * and fine in a copy as well.
 *
 * Idempotent, as in place requires (a document re-read after a live write, or re-checked by
 * verification, goes through map again): a value already in RFC 822 — or anything that is not an
 * RFC 3339 date — is returned as it is, so transform(transform(d)) == transform(d). Every other
 * field is left exactly as read (spread, never a JSON round trip: number text is kept).
 *
 * Try it before the run: `bluegreen transform test --spec rfc822-in-place.yaml --sample 5`.
 */
import { defineTransform, type Doc } from 'bluegreen';

/** The field rewritten (the bundled Solr configset stores `*_s` as strings; map it as `keyword` in Elasticsearch). */
export const FIELD = 'when_s';
/** RFC 3339 with a zone: `Z` or an offset, seconds, optional fraction. */
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

export default defineTransform({
  version: '1', // change it whenever map changes: a planned migration refuses another version
  map(doc: Doc, ctx) {
    const v = doc[FIELD];
    if (typeof v !== 'string' || !RFC3339.test(v)) return doc; // already new (or not a date): unchanged, not written
    const at = new Date(v);
    if (Number.isNaN(at.getTime())) throw new Error(`${FIELD} "${v}" of ${ctx.id} is not a real date`); // a dead letter; the slice goes on
    return { ...doc, [FIELD]: at.toUTCString() };
  },
});
