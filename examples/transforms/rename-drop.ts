/**
 * Seed 004's Logstash `mutate` while moving to the new cluster: fields renamed to the new mapping's
 * names and legacy fields dropped, everything else copied exactly as stored. For a copy legacy → new
 * (rename-drop-copy.yaml); verification then compares transform(source) with the target.
 *
 * Idempotent as written (a renamed field is only moved when the old name is there), although a copy
 * applies map to source documents only: `bluegreen transform test --sample N` checks it anyway.
 */
import { defineTransform, type Doc } from 'bluegreen';

/** Old name → new name. */
export const RENAMES: Readonly<Record<string, string>> = { title: 'headline_s', body: 'text_s' };
/** Dropped: these fields, and every field starting with `tmp_`. */
export const DROPS: ReadonlySet<string> = new Set(['legacy_flags', 'legacy_score']);

export default defineTransform({
  version: '1',
  map(doc: Doc) {
    const out: Doc = {};
    for (const [k, v] of Object.entries(doc)) {
      if (DROPS.has(k) || k.startsWith('tmp_')) continue;
      const to = RENAMES[k] ?? k;
      // Both names present (a half-migrated document): the new name's value wins, the old one goes.
      if (to !== k && to in doc) continue;
      out[to] = v;
    }
    return out;
  },
});
