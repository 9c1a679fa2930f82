/**
 * What the target must hold for some source documents, given the spec's transform: each output by
 * its id, with the source document it came from. A source document the transform rejects is
 * expected under its own id as a marker no target document can equal: verification reports it (the
 * copy did not bring it), and repair never writes it.
 */
import type { SourceDoc } from '../backends/types';
import type { Spec } from '../config/spec';
import type { Logger } from '../log';
import { applyTransform } from './apply';
import type { Transform } from './define';

/** The one field of a rejection marker (a NUL in the name: no real document has it). */
export const REJECTED_MARK = '\u0000bluegreen:transform-rejected';

export interface ExpectedDoc {
  doc: SourceDoc;
  sourceId: string;
  /** Why the transform refused the source document (the doc is then a marker). */
  rejected?: string;
}

/** Expected outputs of the documents, by output id (a later source document's output with the same id wins, as a create-only copy would keep the first: both are reported if they differ from the target). */
export function expectedOutputs(t: Transform, fields: Spec['fields'], docs: Iterable<SourceDoc>, slice: number, log: Logger): Map<string, ExpectedDoc> {
  const out = new Map<string, ExpectedDoc>();
  for (const d of docs) {
    const r = applyTransform(t, d, fields, { slice, log });
    if ('reason' in r) {
      out.set(d.id, { doc: { id: d.id, fields: { [REJECTED_MARK]: r.reason }, bytes: d.bytes, ...(d.routing !== undefined ? { routing: d.routing } : {}) }, sourceId: d.id, rejected: r.reason });
      continue;
    }
    for (const o of r.outputs) if (!out.has(o.id)) out.set(o.id, { doc: o, sourceId: d.id });
  }
  return out;
}
