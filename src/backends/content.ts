/**
 * The exact content of a document, and its hash (number text included, key order and ignored fields
 * left out): what verification compares, and what the worker checks before it takes back a copy of a
 * document deleted live (worker/liveDeletes.ts). Free of I/O.
 */
import { createHash } from 'node:crypto';
import { exactJson, isPlainObject } from './exactJson';
import type { Doc } from './types';

/** Solr's own field: it differs on every copy and is never copied. */
const ALWAYS_IGNORED = '_version_';

/**
 * The exact content of a document, as one string: every value as it was read, number text included
 * (`1.0` is not `1`, `1E+2` is not `100`, `-0.0` is not `0`: exactJson keeps that text), object keys
 * sorted (their order is not content), arrays in order, ignored fields and `_version_` left out.
 */
export function canonicalContent(fields: Doc, ignore: ReadonlySet<string>): string {
  const canonical = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(canonical);
    // Plain objects only: a RawNumber (a number's text) or a BigInt is a value, written as is.
    if (isPlainObject(v)) {
      // No prototype: a key named __proto__ is content like any other.
      const out: Record<string, unknown> = Object.create(null);
      for (const k of Object.keys(v).sort()) out[k] = canonical(v[k]);
      return out;
    }
    return v;
  };
  const kept: Doc = Object.create(null);
  for (const k of Object.keys(fields).sort()) if (!ignore.has(k) && k !== ALWAYS_IGNORED) kept[k] = canonical(fields[k]);
  return exactJson.stringify(kept);
}

/** Strings longer than this are hashed in pieces of it (no copy of a 5 MB value to hash it). */
const PIECE = 64 * 1024;

/**
 * Same exact content (canonicalContent) ⇔ same hash: the hash of canonicalContent's very text, fed
 * to the hash piece by piece as the document is walked, never written out whole (a document of
 * megabytes would be copied twice more, as a string and as its UTF-8 bytes, only to be hashed).
 */
export function contentHash(fields: Doc, ignore: ReadonlySet<string>): string {
  const hash = createHash('sha1');
  const put = (text: string) => hash.update(text, 'utf8');
  const value = (v: unknown): void => {
    if (typeof v === 'string') return str(v);
    if (Array.isArray(v)) {
      put('[');
      // As JSON.stringify writes them: a hole or undefined in an array is null.
      for (let i = 0; i < v.length; i++) {
        if (i > 0) put(',');
        if (v[i] === undefined) put('null');
        else value(v[i]);
      }
      return void put(']');
    }
    if (isPlainObject(v)) return object(v, Object.keys(v).sort(), null);
    put(exactJson.stringify(v));
  };
  const object = (o: Record<string, unknown>, keys: string[], skip: ((k: string) => boolean) | null): void => {
    put('{');
    let first = true;
    for (const k of keys) {
      if (skip?.(k) || o[k] === undefined) continue;
      put(first ? '' : ',');
      first = false;
      put(JSON.stringify(k));
      put(':');
      value(o[k]);
    }
    put('}');
  };
  const str = (v: string): void => {
    if (v.length <= PIECE) return void put(JSON.stringify(v));
    put('"');
    for (let i = 0; i < v.length;) {
      let end = Math.min(v.length, i + PIECE);
      // Never between the two halves of a surrogate pair: each half alone would be escaped.
      const last = v.charCodeAt(end - 1);
      if (end < v.length && last >= 0xd800 && last <= 0xdbff) end++;
      const piece = JSON.stringify(v.slice(i, end));
      put(piece.slice(1, -1));
      i = end;
    }
    put('"');
  };
  object(fields as Record<string, unknown>, Object.keys(fields).sort(), (k) => ignore.has(k) || k === ALWAYS_IGNORED);
  return hash.digest('hex');
}
