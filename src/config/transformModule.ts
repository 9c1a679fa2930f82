/**
 * What a transform module exports (issue 17): `export default defineTransform({ version, map })`,
 * and how the spec's module is loaded: once per process, `.js`, `.cjs`, `.mjs` and `.ts` (Node 24
 * strips TypeScript types itself, no build step; `require` loads ES modules too), resolved against
 * the spec file's folder. A module that does not load, or whose default export is not a transform,
 * is bad input (UserError), found when the spec is loaded: before anything is read or written.
 * Here, in config, because validating the spec loads it (its version is part of the spec hash).
 */
import { existsSync } from 'node:fs';
import { extname, isAbsolute, resolve } from 'node:path';
import { UserError } from '../errors';
import type { Logger } from '../log';

/** What `map` is told besides the document. */
/** A document's fields (backends/types Doc: numbers as exactJson reads them). */
export type Doc = Record<string, unknown>;

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


export const MODULE_EXTENSIONS = ['.js', '.cjs', '.mjs', '.ts', '.mts', '.cts'];

const loaded = new Map<string, Transform>();

/** The absolute path of a module named in a spec (relative names: to the spec file's folder). */
export function resolveModule(module: string, baseDir: string): string {
  return isAbsolute(module) ? module : resolve(baseDir, module);
}

/** The transform a module exports (its default export, or module.exports itself), loaded once per path. */
export function loadTransform(path: string): Transform {
  const cached = loaded.get(path);
  if (cached) return cached;
  const hint = 'Fix transform.module in the spec (a path relative to the spec file, or absolute) so that it names a module whose default export is defineTransform({ version, map }); nothing was changed.';
  if (!MODULE_EXTENSIONS.includes(extname(path))) {
    throw new UserError(`The transform module ${path} is not a ${MODULE_EXTENSIONS.join(', ')} file.`, hint);
  }
  if (!existsSync(path)) throw new UserError(`The transform module ${path} does not exist.`, hint);
  let mod: any;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    mod = require(path);
  } catch (e) {
    const msg = (e as Error)?.message?.split('\n').slice(0, 3).join(' ') ?? String(e);
    throw new UserError(`The transform module ${path} does not load: ${msg}`, hint);
  }
  const value = mod && typeof mod === 'object' && 'default' in mod ? mod.default : mod;
  const problem = transformProblem(value);
  if (problem) throw new UserError(`The transform module ${path} does not export a transform: its default export ${problem}.`, hint);
  const t: Transform = value[TRANSFORM_BRAND] ? value : Object.freeze({ version: value.version, map: value.map.bind(value), [TRANSFORM_BRAND]: true as const });
  loaded.set(path, t);
  return t;
}
