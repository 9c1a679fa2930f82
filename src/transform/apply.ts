/**
 * Applying the spec's transform to documents read from the source: the copy (transformPage, the one
 * hook in sliceCopier), verification and repair (expected outputs), and `bluegreen transform test`
 * all go through applyTransform, so they agree on what the target must hold.
 *
 * Rules of an output: a plain object; one output keeps the source id unless it sets the uniqueKey
 * field (and gets the uniqueKey field back when the source held it and the transform dropped it);
 * each output of a fan-out must carry its own id in the uniqueKey field, all different. Outputs keep
 * the customer and timestamp values of their source document as read: they decide the slice, and a
 * document moved to another slice could neither be resumed nor verified. A rule broken, or an error
 * thrown by map, rejects the source document with the reason; the other documents go on.
 */
import { jsonBytes } from '../backends/http';
import { exactJson, isPlainObject, numberText } from '../backends/exactJson';
import type { Doc, SourceDoc } from '../backends/types';
import type { Spec } from '../config/spec';
import type { Rejection } from '../coordination/workNode';
import { log as rootLog, type Logger } from '../log';
import type { Transform, TransformContext } from './define';
import { loadTransform } from '../config/transformModule';
import { countTransformed } from '../metrics';

export type Applied = { outputs: SourceDoc[] } | { reason: string };

/** The id a field value stands for (strings, and numbers by their text), or undefined. */
function idOf(v: unknown): string | undefined {
  if (typeof v === 'string') return v.length ? v : undefined;
  const n = numberText(v);
  return n ?? undefined;
}

const describeThrown = (e: unknown) => (e instanceof Error ? e.message : String(e)).slice(0, 300);

/** One source document through the transform: its outputs, or why it is rejected. */
export function applyTransform(t: Transform, src: SourceDoc, fields: Spec['fields'], ctx: Omit<TransformContext, 'id' | 'customer'> & { log: Logger }): Applied {
  const cv = src.fields[fields.customer];
  const customer = typeof cv === 'string' ? cv : null;
  // The document handed over is the one as read (mutating it is allowed): its guarded fields are kept aside first.
  const guarded = [fields.customer, fields.timestamp].map((f) => [f, src.fields[f] === undefined ? undefined : exactJson.stringify(src.fields[f])] as const);
  const hadKey = src.fields[fields.uniqueKey];
  let out: unknown;
  try {
    const base = ctx.log;
    out = t.map(src.fields, { customer, slice: ctx.slice, id: src.id, get log() { return base.child({ id: src.id }); } });
  } catch (e) {
    return { reason: `transform ${t.version} threw: ${describeThrown(e)}` };
  }
  if (out === null) return { outputs: [] };
  if (out === undefined) return { reason: `transform ${t.version} returned undefined: return the document, an array of documents, or null to skip it` };
  const fanOut = Array.isArray(out);
  const list: unknown[] = fanOut ? out as unknown[] : [out];
  const outputs: SourceDoc[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < list.length; i++) {
    const what = fanOut ? `output ${i + 1} of ${list.length}` : 'the output';
    const doc = list[i];
    if (!isPlainObject(doc)) return { reason: `transform ${t.version}: ${what} is not a document (an object of fields)` };
    let id = idOf(doc[fields.uniqueKey]);
    if (id === undefined) {
      if (fanOut) return { reason: `transform ${t.version}: ${what} has no id: each document of a fan-out must set its own "${fields.uniqueKey}"` };
      if (doc[fields.uniqueKey] !== undefined) return { reason: `transform ${t.version}: the output's "${fields.uniqueKey}" is not an id (a string or a number)` };
      id = src.id;
      if (hadKey !== undefined) (doc as Doc)[fields.uniqueKey] = hadKey;
    }
    if (seen.has(id)) return { reason: `transform ${t.version}: ${what} repeats the id "${id}"` };
    seen.add(id);
    for (const [f, text] of guarded) {
      const now = doc[f] === undefined ? undefined : exactJson.stringify(doc[f]);
      if (now !== text) {
        return { reason: `transform ${t.version}: ${what} changes "${f}" (${text ?? 'absent'} → ${now ?? 'absent'}); the customer and timestamp fields decide the slice and must stay as read` };
      }
    }
    outputs.push({ id, fields: doc as Doc, ...(src.routing !== undefined ? { routing: src.routing } : {}), bytes: jsonBytes(doc) });
  }
  return { outputs };
}

/** The transform the spec names (loaded once per process), or null without one. */
export function transformOf(spec: Spec): Transform | null {
  return spec.transform ? loadTransform(spec.transform.module) : null;
}

/** A page's documents through the spec's transform (none: as they are): what to write, and what was rejected. */
export function transformPage(spec: Spec, docs: SourceDoc[], slice: number): { docs: SourceDoc[]; rejected: Rejection[] } {
  const t = transformOf(spec);
  if (!t) return { docs, rejected: [] };
  const log = rootLog.child({ slice, transform: t.version });
  const out: SourceDoc[] = [];
  const rejected: Rejection[] = [];
  const n = { transformed: 0, fanned_out: 0, skipped: 0, rejected: 0 };
  for (const d of docs) {
    const r = applyTransform(t, d, spec.fields, { slice, log });
    if ('reason' in r) {
      rejected.push({ id: d.id, reason: r.reason, by: 'transform' });
      log.warn({ id: d.id, reason: r.reason }, 'transform rejected a document');
      n.rejected++;
    } else {
      out.push(...r.outputs);
      if (r.outputs.length === 0) n.skipped++;
      else if (r.outputs.length === 1) n.transformed++;
      else n.fanned_out++;
    }
  }
  countTransformed(spec.migration, n);
  return { docs: out, rejected };
}
