/**
 * What a mapping must provide for bluegreen to slice, page and write an index, checked without a
 * server: the answers of `GET <index>/_mapping` (or a mappings file) go in, sentences come out.
 */
import { readFileSync } from 'node:fs';
import yaml from 'js-yaml';
import { UserError, describeError } from '../../errors';
import type { FieldNames } from './queries';

export interface FieldMapping {
  type?: string;
  doc_values?: boolean;
  [k: string]: unknown;
}

/**
 * The mapping of a field by its full dotted path: object properties (`a.b`) and multi-fields
 * (`title.keyword`) alike. Undefined when the field is not mapped.
 */
export function fieldMapping(mappings: any, path: string): FieldMapping | undefined {
  const parts = path.split('.');
  let node: any = mappings;
  for (let i = 0; i < parts.length; i++) {
    const props = node?.properties;
    if (props && Object.prototype.hasOwnProperty.call(props, parts[i])) {
      node = props[parts[i]];
      continue;
    }
    // A multi-field is the last step below a leaf field: title.keyword → title.fields.keyword.
    const rest = parts.slice(i).join('.');
    if (i > 0 && node?.fields && Object.prototype.hasOwnProperty.call(node.fields, rest)) return node.fields[rest];
    return undefined;
  }
  return node ?? undefined;
}

const KEYWORD = ['keyword', 'constant_keyword'];
const INTEGRAL = ['long', 'integer', 'short', 'byte', 'unsigned_long'];
const DATES = ['date', 'date_nanos'];

/** The type of a field as the mapping says; objects carry no type. */
function typeOf(m: FieldMapping): string {
  return m.type ?? 'object';
}

/**
 * Everything wrong with one index's mappings for this migration (empty = usable). `versionField` is
 * checked when the spec names one.
 */
export function mappingProblems(mappings: any, fields: FieldNames, versionField?: string): string[] {
  const problems: string[] = [];
  if (mappings?._source?.enabled === false) {
    problems.push('_source is disabled, so its documents cannot be read back and copied');
  }
  const need = (field: string, role: string, types: string[], why: string) => {
    const m = fieldMapping(mappings, field);
    if (!m) {
      problems.push(`no field "${field}" (${role}) in its mapping`);
      return;
    }
    const type = typeOf(m);
    if (!types.includes(type)) problems.push(`"${field}" (${role}) is a ${type} field; ${why}`);
    else if (m.doc_values === false) problems.push(`"${field}" (${role}) has doc_values disabled; ${why}`);
  };
  need(fields.uniqueKey, 'fields.uniqueKey', KEYWORD,
    'paging sorts on it (search_after), so it must be a keyword field with doc values holding the document\'s _id');
  need(fields.customer, 'fields.customer', [...KEYWORD, ...INTEGRAL],
    'customers are counted with a terms aggregation, so it must be a keyword (or integer) field');
  need(fields.timestamp, 'fields.timestamp', DATES, 'slices are time ranges on it, so it must be a date field');
  if (versionField) {
    need(versionField, 'copy.versionField', INTEGRAL, 'external versioning needs a whole number, so it must be a long field');
  }
  return problems;
}

/** The mappings of an index definition file: `{ "properties": … }` or `{ "mappings": { "properties": … } }`. */
export function unwrapMappings(raw: any): Record<string, unknown> {
  return raw && typeof raw === 'object' && raw.mappings && typeof raw.mappings === 'object' ? raw.mappings : raw;
}

/** The settings of a settings file: flat, `{ "index": … }` or `{ "settings": … }`. */
export function unwrapSettings(raw: any): Record<string, unknown> {
  return raw && typeof raw === 'object' && raw.settings && typeof raw.settings === 'object' ? raw.settings : raw;
}

/**
 * A target.prepare file (JSON or YAML). Here, not in esBackend.ts: the planner of a Solr → Solr
 * migration reads it without loading the Elasticsearch and OpenSearch clients (issue 15: memory).
 */
export function readPrepareFile(file: string, what: string): any {
  try {
    return yaml.load(readFileSync(file, 'utf8')) as any;
  } catch (e) {
    throw new UserError(`Cannot read ${what} ${file}: ${describeError(e).split('\n')[0]}`, `Give a readable JSON (or YAML) file as ${what}.`);
  }
}
