/**
 * `bluegreen transform test`: a few real documents of the source (as source.query selects them: the
 * first --limit across customers, --sample N of every customer, or by id) through the spec's
 * transform, printed before → after, each output checked for idempotence (transform(transform(d))
 * must equal transform(d): in place, a document re-read after a live write, or re-read by
 * verification, goes through the transform again). Reads the source only: no ZooKeeper, nothing
 * written anywhere.
 */
import type { Backend, SourceDoc } from '../backends/types';
import { exactJson } from '../backends/exactJson';
import type { Spec } from '../config/spec';
import { UserError } from '../errors';
import type { Transform } from './define';
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
  /** Documents read when neither ids nor sample is given: the first of the selection, customer after customer. */
  limit: number;
  /** Documents read of every customer (the first `sample` of each one's selection). */
  sample?: number;
  /** With sample: only these customers (as the customer field holds them). */
  customers?: string[];
}

export interface TransformTestResult {
  lines: string[];
  counts: { read: number; outputs: number; skipped: number; rejected: number };
  /** With --sample: documents read per customer ('(none)': documents without a customer). */
  perCustomer?: Record<string, number>;
  /** Ids whose output the transform changes again (transform(transform(d)) != transform(d)). */
  notIdempotent: Array<{ id: string; diff: string[] }>;
  /** Documents whose output was checked for idempotence (single outputs). */
  checked: number;
}

const customerName = (c: string | null) => c ?? '(none)';

/** The documents to test: by id, `sample` of every customer, or the first `limit` of the selection. */
async function documentsToTest(source: Backend, opts: TransformTestOptions): Promise<{ docs: SourceDoc[]; perCustomer?: Record<string, number>; groups?: Array<{ customer: string | null; docs: SourceDoc[] }> }> {
  if (opts.ids?.length) {
    const got = await source.getByIds(opts.ids);
    const missing = opts.ids.filter((id) => !got.has(id));
    if (missing.length) throw new UserError(`The source has no document with id ${missing.map((m) => JSON.stringify(m)).join(', ')} (${source.describe()}).`, 'Give ids of documents the source holds (--id), or use --limit or --sample.');
    return { docs: opts.ids.map((id) => got.get(id)!.doc) };
  }
  const customers = (await source.customers()).map((c) => c.customer);
  if (opts.sample !== undefined) {
    let chosen = customers;
    if (opts.customers?.length) {
      const known = new Set(customers.map(customerName));
      const unknown = opts.customers.filter((c) => !known.has(c));
      if (unknown.length) throw new UserError(`The source has no document of customer ${unknown.map((c) => JSON.stringify(c)).join(', ')} (${source.describe()}).`, 'Give customers the source holds (--customer, as the customer field holds them), or leave --customer out to sample every customer.');
      const want = new Set(opts.customers);
      chosen = customers.filter((c) => want.has(customerName(c)));
    }
    const groups: Array<{ customer: string | null; docs: SourceDoc[] }> = [];
    const perCustomer: Record<string, number> = {};
    for (const c of chosen) {
      const { docs } = await source.readPage(c, { kind: 'all' }, null, opts.sample);
      groups.push({ customer: c, docs });
      perCustomer[customerName(c)] = docs.length;
    }
    return { docs: groups.flatMap((g) => g.docs), perCustomer, groups };
  }
  const docs: SourceDoc[] = [];
  for (const c of customers) {
    if (docs.length >= opts.limit) break;
    docs.push(...(await source.readPage(c, { kind: 'all' }, null, opts.limit - docs.length)).docs);
  }
  return { docs };
}

/** transform(transform(d)) against transform(d), field by field: empty when the output is a fixed point. */
function idempotenceDiff(t: Transform, out: SourceDoc, fields: Spec['fields'], tlog: typeof log): string[] {
  const again = applyTransform(t, { ...out, fields: exactJson.parse(exactJson.stringify(out.fields)) as Record<string, unknown> }, fields, { slice: -1, log: tlog });
  if ('reason' in again) return [`the output is rejected when transformed again: ${again.reason}`];
  if (again.outputs.length === 0) return ['the output is skipped (null) when transformed again'];
  if (again.outputs.length > 1 || again.outputs[0].id !== out.id) return [`the output becomes ${again.outputs.length} document(s) (${again.outputs.map((o) => o.id).slice(0, 5).join(', ')}) when transformed again`];
  return fieldDiff(out.fields, again.outputs[0].fields);
}

/** Reads the documents (by id, a sample of every customer, or the first `limit` of the selection) and reports each. */
export async function transformTest(spec: Spec, source: Backend, opts: TransformTestOptions): Promise<TransformTestResult> {
  const t = transformOf(spec);
  if (!t) throw new UserError(`The spec of migration "${spec.migration}" names no transform (transform.module).`, 'Add transform: { module: ./my-transform.ts } to the spec; the README section "Transforms" has an example.');
  const { docs, perCustomer, groups } = await documentsToTest(source, opts);
  const what = perCustomer ? `${docs.length} document(s) (up to ${opts.sample} of each of ${Object.keys(perCustomer).length} customer(s))` : `${docs.length} document(s)`;
  const lines: string[] = [`transform ${t.version} (${spec.transform!.module}) on ${what} of ${source.describe()}${spec.source.query !== undefined ? `, source.query ${show(spec.source.query)}` : ''}; nothing is written`];
  const counts = { read: docs.length, outputs: 0, skipped: 0, rejected: 0 };
  const tlog = log.child({ transform: t.version, test: true });
  const notIdempotent: TransformTestResult['notIdempotent'] = [];
  let checked = 0;
  const report = (d: SourceDoc) => {
    const before = exactJson.parse(exactJson.stringify(d.fields)) as Record<string, unknown>;
    const r = applyTransform(t, d, spec.fields, { slice: -1, log: tlog });
    let idempotent: boolean | undefined;
    if (!('reason' in r) && r.outputs.length === 1) {
      const diff = idempotenceDiff(t, r.outputs[0], spec.fields, tlog);
      idempotent = diff.length === 0;
      checked++;
      if (!idempotent) notIdempotent.push({ id: d.id, diff });
    }
    if ('reason' in r) counts.rejected++;
    else if (r.outputs.length === 0) counts.skipped++;
    else counts.outputs += r.outputs.length;
    lines.push('', ...describeApplied(d.id, before, r, idempotent));
    if (idempotent === false) lines.push(...notIdempotent[notIdempotent.length - 1].diff.map((l) => `    again: ${l}`));
  };
  if (groups) {
    for (const g of groups) {
      lines.push('', `customer ${customerName(g.customer)}: ${g.docs.length} document(s)`);
      g.docs.forEach(report);
    }
  } else docs.forEach(report);
  lines.push('', `${counts.read} read: ${counts.outputs} output document(s), ${counts.skipped} skipped, ${counts.rejected} rejected`);
  // transform(transform(d)) == transform(d): required in place (a document re-read after a live write is transformed again).
  const inPlace = spec.copy.mode === 'in-place';
  if (notIdempotent.length) {
    lines.push(`NOT IDEMPOTENT on ${notIdempotent.length} of ${checked} document(s) checked (the transform changes its own output again): ${notIdempotent.slice(0, 20).map((n) => n.id).join(' ')}${inPlace ? ' — copy.mode in-place needs an idempotent transform: a document re-read after a live write, or checked by verification, would be changed again' : ''}`);
  } else if (checked) {
    lines.push(`idempotent on the ${checked} document(s) checked (transform(transform(d)) equals transform(d))${inPlace ? ': fit for copy.mode in-place' : ''}`);
  }
  return { lines, counts, ...(perCustomer ? { perCustomer } : {}), notIdempotent, checked };
}
