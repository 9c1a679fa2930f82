/**
 * Loads the spec's transform module once per process: `.js`, `.cjs`, `.mjs` and `.ts` (Node 24
 * strips TypeScript types itself, no build step; `require` loads ES modules too), resolved against
 * the spec file's folder. A module that does not load, or whose default export is not a transform,
 * is bad input (UserError): nothing has been written when it is found, since the spec is loaded first.
 */
import { existsSync } from 'node:fs';
import { extname, isAbsolute, resolve } from 'node:path';
import { UserError } from '../errors';
import { TRANSFORM_BRAND, transformProblem, type Transform } from './define';

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
