/**
 * What a transform module exports (issue 17): `export default defineTransform({ version, map })`.
 * The helper only checks the shape and brands the value; it has no I/O, so a module that imports it
 * loads anywhere (worker, planner, verifier, `bluegreen transform test`).
 */
import type { Logger } from '../log';
import type { Doc } from '../backends/types';

/** What `map` is told besides the document. */
export interface TransformContext {
  /** The document's customer (its customer field; null when it has none). */
  customer: string | null;
  /** The slice being copied or verified (-1 in `bluegreen transform test`). */
  slice: number;
  /** The source document's id (its uniqueKey / `_id`). */
  id: string;
  /** A pino child logger bound to the migration, slice and document id. */
  log: Logger;
}

/**
 * The transformed document(s): one document (written under the source id unless it sets the
 * uniqueKey field), an array (fan-out: each element must carry its own id in the uniqueKey field),
 * or null (the document is not copied).
 */
export type TransformOutput = Doc | Doc[] | null;

export interface TransformDefinition {
  /** Changes with the code: part of the spec hash, so a migration planned with one version refuses another. */
  version: string;
  /**
   * Called once per source document (and again by verification). Numbers arrive as exactJson reads
   * them (number, BigInt, RawNumber): leave the values you do not change as they are, and they are
   * written exactly as stored. A thrown error rejects the document with its message; the slice goes on.
   */
  map(doc: Doc, ctx: TransformContext): TransformOutput;
}

/** The brand that tells a value built by defineTransform (Symbol.for: the same across copies of the package). */
export const TRANSFORM_BRAND = Symbol.for('bluegreen.transform');

export type Transform = Readonly<TransformDefinition> & { readonly [TRANSFORM_BRAND]: true };

/** Why a definition is not a transform, or null when it is one. */
export function transformProblem(def: unknown): string | null {
  if (def === null || typeof def !== 'object') return `it is ${def === null ? 'null' : typeof def}, not an object { version, map }`;
  const d = def as Partial<TransformDefinition>;
  if (typeof d.version !== 'string' || d.version.trim() === '') return 'its version is not a non-empty string (e.g. version: \'1\')';
  if (d.version.length > 100) return 'its version is longer than 100 characters';
  if (typeof d.map !== 'function') return 'it has no map(doc, ctx) function';
  return null;
}

/** Checks the definition and brands it: `export default defineTransform({ version: '2', map(doc, ctx) { … } })`. */
export function defineTransform(def: TransformDefinition): Transform {
  const problem = transformProblem(def);
  if (problem) throw new TypeError(`defineTransform: ${problem}`);
  return Object.freeze({ version: def.version, map: def.map.bind(def), [TRANSFORM_BRAND]: true as const });
}
