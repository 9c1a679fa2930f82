/**
 * copy.mode in-place (issue 17): what the transform makes of one document read from the collection
 * it is to be written back to. Shared by the worker (what to write back) and the verifier (a document
 * left untransformed is one the transform still changes).
 *
 * - The document is written back only if the transform changes it: same content (contentHash, backends/content.ts:
 *   the exact serialized text of every value, number text included, keys in any order) = unchanged,
 *   not written.
 * - `null` leaves the document as it is (in place, skipping is not deleting).
 * - One document in, one out, under the same id: an output under another id, or a fan-out, would be
 *   a new document beside the old one, not the old one changed — it rejects the document (a dead letter).
 */
import type { SourceDoc } from '../backends/types';
import type { Spec } from '../config/spec';
import type { Logger } from '../log';
import { contentHash } from '../backends/content';
import { applyTransform } from './apply';
import type { Transform } from './define';

export type InPlaceOutcome =
  | { kind: 'unchanged' }
  | { kind: 'changed'; doc: SourceDoc }
  | { kind: 'rejected'; reason: string };

/** Nothing ignored: in place every field is the document's own (Solr's `_version_` aside, as everywhere). */
const NOTHING_IGNORED: ReadonlySet<string> = new Set();

/** The transform on a document as read (its fields may be changed by map: they are measured first). */
export function inPlaceOutcome(t: Transform, src: SourceDoc, fields: Spec['fields'], slice: number, log: Logger): InPlaceOutcome {
  const before = contentHash(src.fields, NOTHING_IGNORED);
  const r = applyTransform(t, src, fields, { slice, log });
  if ('reason' in r) return { kind: 'rejected', reason: r.reason };
  if (r.outputs.length === 0) return { kind: 'unchanged' };
  if (r.outputs.length > 1 || r.outputs[0].id !== src.id) {
    return { kind: 'rejected', reason: `transform ${t.version}: in place, map must return the document itself (same id) or null; it returned ${r.outputs.length} document(s) (${r.outputs.map((o) => o.id).slice(0, 5).join(', ')}): a fan-out or a new id is for copies into another collection` };
  }
  const out = r.outputs[0];
  if (contentHash(out.fields, NOTHING_IGNORED) === before) return { kind: 'unchanged' };
  return { kind: 'changed', doc: out };
}
