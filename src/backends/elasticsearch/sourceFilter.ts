/**
 * copy.excludeFields for Elasticsearch, applied here to the `_source` as read, not by the server: a
 * `_source` filter (like any filter_path) makes Elasticsearch parse the source and write it again
 * through doubles (`1E+2` → `100.0`, `1e400` → "Infinity", 7.x also reorders the keys), while an
 * unfiltered `_source` comes back byte for byte as stored.
 *
 * The patterns mean what `_source.excludes` means: a full dotted path (`meta.internal`), `*` for any
 * run of characters; a pattern that names an object drops all of it, objects inside arrays are
 * matched under the array's path, and a key with dots in it (`"meta.internal": 1`) is the same path.
 */
import { isPlainObject } from '../exactJson';

export type SourceExcluder = (source: Record<string, unknown>) => Record<string, unknown>;

const escape = (s: string) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&');

/** The function that drops the excluded fields (a new object, the input untouched); identity for none. */
export function sourceExcluder(patterns: readonly string[]): SourceExcluder {
  if (patterns.length === 0) return (source) => source;
  // A path is excluded when a pattern matches it, or matches one of its ancestors.
  const re = new RegExp(`^(?:${patterns.map((p) => p.split('*').map(escape).join('.*')).join('|')})(?:\\..*)?$`, 's');
  const filter = (obj: Record<string, unknown>, prefix: string): Record<string, unknown> => {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(obj)) {
      const path = prefix + k;
      if (re.test(path)) continue;
      const v = obj[k];
      if (k === '__proto__') Object.defineProperty(out, k, { value: value(v, path), writable: true, enumerable: true, configurable: true });
      else out[k] = value(v, path);
    }
    return out;
  };
  const value = (v: unknown, path: string): unknown => {
    if (isPlainObject(v)) return filter(v, `${path}.`);
    if (Array.isArray(v)) return v.map((x) => value(x, path));
    return v;
  };
  return (source) => filter(source, '');
}
