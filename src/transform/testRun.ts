/**
 * `bluegreen transform test`: a few real documents of the source (as source.query selects them, or
 * by id) through the spec's transform, printed before → after. Reads the source only: no ZooKeeper,
 * nothing written anywhere.
 */
import type { Backend, SourceDoc } from '../backends/types';
import { exactJson } from '../backends/exactJson';
import type { Spec } from '../config/spec';
import { UserError } from '../errors';
import { log } from '../log';
import { applyTransform, type Applied } from './apply';
import { transformOf } from './apply';

const show = (v: unknown) => exactJson.stringify(v);

/** Field by field, what the transform did to one document: `- f: v` dropped, `+ f: v` added, `~ f: a → b` changed. */
export function fieldDiff(before: Record<string, unknown>, after: Record<string, unknown>): string[] {
  const out: string[] = [];
  for (const k of Object.keys(before)) {
    if (!(k in after)) out.push(`- ${k}: ${show(before[k])}`);
    else if (show(before[k]) !== show(after[k])) out.push(`~ ${k}: ${show(before[k])} → ${show(after[k])}`);
  }
  for (const k of Object.keys(after)) if (!(k in before)) out.push(`+ ${k}: ${show(after[k])}`);
  return out;
}

/** The report of one document: its id, then what became of it. `before` is the document as read (a copy: map may change its argument). */
export function describeApplied(id: string, before: Record<string, unknown>, r: Applied, idempotent?: boolean): string[] {
  if ('reason' in r) return [`${id}: REJECTED: ${r.reason}`];
  if (r.outputs.length === 0) return [`${id}: skipped (the transform returned null: not copied)`];
  const lines: string[] = [];
  const fan = r.outputs.length > 1 || r.outputs[0].id !== id;
  lines.push(fan ? `${id}: ${r.outputs.length} document(s): ${r.outputs.map((o) => o.id).join(', ')}` : `${id}:`);
  for (const o of r.outputs) {
    if (fan) lines.push(`  → ${o.id}`);
    const d = fieldDiff(before, o.fields);
    lines.push(...(d.length ? d : ['(unchanged)']).map((l) => `${fan ? '    ' : '  '}${l}`));
  }
  if (idempotent === false) lines.push('  note: not idempotent: the transform changes its own output again');
  return lines;
}

export interface TransformTestOptions {
  ids?: string[];
  limit: number;
}

/** Reads the documents (by id, or the first `limit` of the selection, customer after customer) and reports each. */
export async function transformTest(spec: Spec, source: Backend, opts: TransformTestOptions): Promise<{ lines: string[]; counts: { read: number; outputs: number; skipped: number; rejected: number } }> {
  const t = transformOf(spec);
  if (!t) throw new UserError(`The spec of migration "${spec.migration}" names no transform (transform.module).`, 'Add transform: { module: ./my-transform.ts } to the spec; the README section "Transforms" has an example.');
  let docs: SourceDoc[] = [];
  if (opts.ids?.length) {
    const got = await source.getByIds(opts.ids);
    const missing = opts.ids.filter((id) => !got.has(id));
    if (missing.length) throw new UserError(`The source has no document with id ${missing.map((m) => JSON.stringify(m)).join(', ')} (${source.describe()}).`, 'Give ids of documents the source holds (--id), or use --limit.');
    docs = opts.ids.map((id) => got.get(id)!.doc);
  } else {
    for (const c of await source.customers()) {
      if (docs.length >= opts.limit) break;
      docs.push(...(await source.readPage(c.customer, { kind: 'all' }, null, opts.limit - docs.length)).docs);
    }
  }
  const lines: string[] = [`transform ${t.version} (${spec.transform!.module}) on ${docs.length} document(s) of ${source.describe()}${spec.source.query !== undefined ? `, source.query ${show(spec.source.query)}` : ''}; nothing is written`];
  const counts = { read: docs.length, outputs: 0, skipped: 0, rejected: 0 };
  const tlog = log.child({ transform: t.version, test: true });
  const notIdempotent: string[] = [];
  let checked = 0;
  for (const d of docs) {
    const before = exactJson.parse(exactJson.stringify(d.fields)) as Record<string, unknown>;
    const r = applyTransform(t, d, spec.fields, { slice: -1, log: tlog });
    let idempotent: boolean | undefined;
    if (!('reason' in r) && r.outputs.length === 1) {
      const again = applyTransform(t, { ...r.outputs[0], fields: exactJson.parse(exactJson.stringify(r.outputs[0].fields)) as Record<string, unknown> }, spec.fields, { slice: -1, log: tlog });
      idempotent = !('reason' in again) && again.outputs.length === 1 && fieldDiff(again.outputs[0].fields, r.outputs[0].fields).length === 0;
      checked++;
      if (!idempotent) notIdempotent.push(d.id);
    }
    if ('reason' in r) counts.rejected++;
    else if (r.outputs.length === 0) counts.skipped++;
    else counts.outputs += r.outputs.length;
    lines.push('', ...describeApplied(d.id, before, r, idempotent));
  }
  lines.push('', `${counts.read} read: ${counts.outputs} output document(s), ${counts.skipped} skipped, ${counts.rejected} rejected`);
  // transform(transform(d)) == transform(d): required in place (a document re-read after a live write is transformed again).
  const inPlace = spec.copy.mode === 'in-place';
  if (notIdempotent.length) {
    lines.push(`NOT IDEMPOTENT on ${notIdempotent.length} of ${checked} document(s) checked (the transform changes its own output again): ${notIdempotent.slice(0, 20).join(' ')}${inPlace ? ' — copy.mode in-place needs an idempotent transform: a document re-read after a live write, or checked by verification, would be changed again' : ''}`);
  } else if (checked) {
    lines.push(`idempotent on the ${checked} document(s) checked (transform(transform(d)) equals transform(d))${inPlace ? ': fit for copy.mode in-place' : ''}`);
  }
  return { lines, counts };
}
