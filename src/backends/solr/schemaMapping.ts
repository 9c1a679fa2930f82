/**
 * Solr → Elasticsearch / OpenSearch: the target index mapping derived from the live Solr schema
 * (Schema API `GET <collection>/schema`: fields, dynamic fields, field types, copy fields), free of
 * I/O. Every field either gets a mapping or is named in `untranslated` with the reason; nothing is
 * dropped silently.
 *
 * What it keeps:
 * - StrField / UUIDField → keyword; TextField (and SortableTextField) → text (Solr's analyzer chain is
 *   not carried over: the standard analyzer, said in `notes`);
 * - the numbers at their own width and exactness: int → integer, long → long (never double), float →
 *   float, double → double (Point and Trie classes alike); dates → date; BoolField → boolean;
 *   LatLonPointSpatialField → geo_point ("lat,lon" text is a geo_point value); BinaryField → binary;
 * - multiValued needs nothing (any Elasticsearch field takes an array); the documents keep their arrays;
 * - dynamic fields → dynamic_templates, longest pattern first (Solr prefers the longest match);
 * - copyField → copy_to on the source field (a stored destination is also copied as stored: notes);
 * - the uniqueKey → keyword (it is also the document's `_id`), Solr's own fields (`_version_`,
 *   `_root_`, `_nest_path_`) → nothing: they are never copied.
 */
import { unwrapMappings } from '../elasticsearch/mapping';

export interface SolrField {
  name: string;
  type: string;
  multiValued?: boolean;
  stored?: boolean;
  indexed?: boolean;
  docValues?: boolean;
  useDocValuesAsStored?: boolean;
  [k: string]: unknown;
}

export interface SolrFieldType {
  name: string;
  class: string;
  multiValued?: boolean;
  stored?: boolean;
  docValues?: boolean;
  [k: string]: unknown;
}

/** The answer of `GET <collection>/schema` (its `schema` member). */
export interface SolrSchema {
  uniqueKey?: string;
  fields?: SolrField[];
  dynamicFields?: SolrField[];
  fieldTypes?: SolrFieldType[];
  copyFields?: Array<{ source: string; dest: string; maxChars?: number }>;
}

export interface Untranslated {
  /** The field name (or dynamic field pattern, or "a → b" for a copy field). */
  field: string;
  solrType: string;
  reason: string;
}

export interface TranslatedMapping {
  /** `{ properties, dynamic_templates? }`: what the target index is created with. */
  mappings: { properties: Record<string, any>; dynamic_templates?: Array<Record<string, any>>; [k: string]: unknown };
  untranslated: Untranslated[];
  /** Where the mapping is approximate (analyzers), or where the operator may want to act. */
  notes: string[];
}

/** Fields Solr maintains itself (never copied: SOLR_INTERNAL in solrBackend.ts). */
const SOLR_OWN = new Set(['_version_', '_root_', '_nest_path_', '_nest_parent_']);

/** Solr field type class (short name, `solr.` stripped) → Elasticsearch field type. */
const BY_CLASS: Record<string, string> = {
  StrField: 'keyword',
  UUIDField: 'keyword',
  TextField: 'text',
  SortableTextField: 'text',
  BoolField: 'boolean',
  IntPointField: 'integer',
  TrieIntField: 'integer',
  LongPointField: 'long',
  TrieLongField: 'long',
  FloatPointField: 'float',
  TrieFloatField: 'float',
  DoublePointField: 'double',
  TrieDoubleField: 'double',
  DatePointField: 'date',
  TrieDateField: 'date',
  LatLonPointSpatialField: 'geo_point',
  BinaryField: 'binary',
};

/** Classes with no counterpart whose documents would carry over as they are, and why. */
const WHY_NOT: Record<string, string> = {
  DateRangeField: 'Solr date ranges are text such as "[2020 TO 2021-06]"; an Elasticsearch date_range takes {"gte","lte"} objects, so the stored values would be refused',
  CurrencyFieldType: 'a currency value ("10.00,USD") with exchange rates has no Elasticsearch type',
  CurrencyField: 'a currency value ("10.00,USD") with exchange rates has no Elasticsearch type',
  EnumFieldType: 'an enum\'s order lives in Solr\'s enumsConfig; a keyword would keep the values but not their order',
  EnumField: 'an enum\'s order lives in Solr\'s enumsConfig; a keyword would keep the values but not their order',
  ExternalFileField: 'its values live in a file beside the index, not in the documents',
  PointType: 'an n-dimensional point stored in sub-fields has no Elasticsearch type in both Elasticsearch and OpenSearch',
  SpatialRecursivePrefixTreeFieldType: 'shapes in WKT or Solr\'s own syntax would need a geo_shape mapping chosen by hand',
  BBoxField: 'a bounding box stored in sub-fields would need a geo_shape mapping chosen by hand',
  ICUCollationField: 'a collation needs the ICU analysis plugin on the target',
  CollationField: 'a collation needs the ICU analysis plugin on the target',
  RankField: 'rank features (rank_feature) take one number per field, Solr\'s RankField is query-time only',
  NestPathField: 'Solr\'s own nesting field',
};

const shortClass = (cls: string) => cls.replace(/^solr\./, '').replace(/^org\.apache\.solr\.schema\./, '');

/** "*_s" → "*_s": Solr patterns are a prefix or suffix wildcard, which `match` takes as is. */
function typeOfField(f: SolrField, types: Map<string, SolrFieldType>): { esType: string } | { why: string } {
  const t = types.get(f.type);
  if (!t) return { why: `its field type "${f.type}" is not in the schema's field types` };
  const cls = shortClass(t.class);
  const esType = BY_CLASS[cls];
  if (esType) return { esType };
  return { why: WHY_NOT[cls] ?? `no Elasticsearch type is known for solr.${cls}` };
}

/** Stored (or readable from docValues): its values come back from Solr, so they are copied. */
function readable(f: SolrField, t: SolrFieldType | undefined): boolean {
  const stored = f.stored ?? t?.stored ?? true;
  if (stored) return true;
  const dv = f.docValues ?? t?.docValues ?? false;
  return dv && (f.useDocValuesAsStored ?? true);
}

export function translateSolrSchema(schema: SolrSchema, opts: { uniqueKey: string }): TranslatedMapping {
  const types = new Map((schema.fieldTypes ?? []).map((t) => [t.name, t]));
  const properties: Record<string, any> = {};
  const untranslated: Untranslated[] = [];
  const notes: string[] = [];
  const analysed = new Set<string>();
  const solrTypeOf = (f: SolrField) => {
    const t = types.get(f.type);
    return t ? `${f.type} (solr.${shortClass(t.class)})` : f.type;
  };

  // A destination that Solr does not store (a catch-all text field) is mapped all the same: copy_to fills it.
  const copyDests = new Set((schema.copyFields ?? []).map((c) => c.dest));
  for (const f of schema.fields ?? []) {
    if (SOLR_OWN.has(f.name)) continue; // never copied, never mapped
    const t = types.get(f.type);
    const got = typeOfField(f, types);
    if ('why' in got) {
      untranslated.push({ field: f.name, solrType: solrTypeOf(f), reason: got.why });
      continue;
    }
    if (f.name === opts.uniqueKey && got.esType !== 'keyword') {
      untranslated.push({ field: f.name, solrType: solrTypeOf(f), reason: 'the uniqueKey becomes each document\'s _id and is paged on: it must be a keyword, map it by hand' });
      continue;
    }
    if (!readable(f, t) && !copyDests.has(f.name)) {
      untranslated.push({ field: f.name, solrType: solrTypeOf(f), reason: 'neither stored nor readable from docValues: Solr cannot give its values back, so there is nothing to copy' });
      continue;
    }
    properties[f.name] = { type: got.esType };
    if (got.esType === 'text') analysed.add(f.type);
  }

  // Solr takes the longest matching pattern; Elasticsearch the first matching template.
  const dynamics = [...(schema.dynamicFields ?? [])].sort((a, b) => b.name.length - a.name.length || a.name.localeCompare(b.name));
  const templates: Array<Record<string, any>> = [];
  for (const d of dynamics) {
    const t = types.get(d.type);
    const got = typeOfField(d, types);
    if ('why' in got) {
      untranslated.push({ field: d.name, solrType: solrTypeOf(d), reason: got.why });
      continue;
    }
    if (!readable(d, t)) {
      // e.g. `*` as "ignored": its values are not given back by Solr, nothing to map.
      untranslated.push({ field: d.name, solrType: solrTypeOf(d), reason: 'neither stored nor readable from docValues: nothing of it is copied' });
      continue;
    }
    if (d.name === '*') {
      untranslated.push({ field: d.name, solrType: solrTypeOf(d), reason: 'a catch-all dynamic field: Elasticsearch maps unknown fields itself (dynamic mapping); map it by hand to pin a type' });
      continue;
    }
    templates.push({ [`solr_dynamic_${d.name.replace(/\*/g, 'x')}`]: { match: d.name, mapping: { type: got.esType } } });
    if (got.esType === 'text') analysed.add(d.type);
  }

  for (const c of schema.copyFields ?? []) {
    const label = `${c.source} → ${c.dest}`;
    if (c.source.includes('*') || c.dest.includes('*')) {
      untranslated.push({ field: label, solrType: 'copyField', reason: 'a copy field with a wildcard: copy_to is set per field, add it by hand' });
      continue;
    }
    if (!properties[c.source]) {
      untranslated.push({ field: label, solrType: 'copyField', reason: `its source "${c.source}" has no translated mapping` });
      continue;
    }
    if (!properties[c.dest]) {
      // A destination that is not a stored field of its own: map it like its source, filled by copy_to.
      const destField = (schema.fields ?? []).find((f) => f.name === c.dest);
      if (destField) {
        untranslated.push({ field: label, solrType: 'copyField', reason: `its destination "${c.dest}" has no translated mapping` });
        continue;
      }
      const dyn = dynamics.find((d) => matches(d.name, c.dest));
      const got = dyn ? typeOfField(dyn, types) : null;
      if (!got || 'why' in got) {
        untranslated.push({ field: label, solrType: 'copyField', reason: `its destination "${c.dest}" is no field of the schema` });
        continue;
      }
      properties[c.dest] = { type: got.esType };
    }
    const src = properties[c.source];
    const to: string[] = Array.isArray(src.copy_to) ? src.copy_to : [];
    if (!to.includes(c.dest)) src.copy_to = [...to, c.dest];
    if (c.maxChars) notes.push(`copy field ${label} has maxChars ${c.maxChars}: copy_to copies whole values`);
    const destField = (schema.fields ?? []).find((f) => f.name === c.dest);
    if (destField && readable(destField, types.get(destField.type))) {
      notes.push(`copy field destination "${c.dest}" is stored in Solr: its values are copied as stored and filled by copy_to as well; `
        + 'list it in copy.excludeFields to let the target fill it alone');
    }
  }
  for (const t of [...analysed].sort()) notes.push(`text field type "${t}": Solr's analyzer chain is not carried over, the target's standard analyzer applies`);

  const mappings: TranslatedMapping['mappings'] = { properties: sortKeys(properties) };
  if (templates.length) mappings.dynamic_templates = templates;
  return { mappings, untranslated, notes };
}

function matches(pattern: string, name: string): boolean {
  if (pattern.startsWith('*')) return name.endsWith(pattern.slice(1));
  if (pattern.endsWith('*')) return name.startsWith(pattern.slice(0, -1));
  return pattern === name;
}

function sortKeys<T>(o: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.keys(o).sort().map((k) => [k, o[k]]));
}

/**
 * The operator's mappings file over the translated mapping (`target.prepare.mappingsFileMode`):
 * `merge` (the default) keeps every translated field and lets the file win where both name one —
 * a property of the file replaces the translated property of that name whole, the file's
 * dynamic_templates go first (the first match wins), its other keys (dynamic, _source, ...) replace
 * the translated ones; `replace`: the file alone.
 */
export function mergeMappings(translated: TranslatedMapping['mappings'], fileRaw: unknown, mode: 'merge' | 'replace'): { mappings: Record<string, any>; overridden: string[] } {
  const file = (unwrapMappings(fileRaw) ?? {}) as Record<string, any>;
  if (mode === 'replace') return { mappings: file, overridden: [] };
  const fileProps = (file.properties ?? {}) as Record<string, any>;
  const overridden = Object.keys(fileProps).filter((k) => k in translated.properties).sort();
  const fileTemplates: Array<Record<string, any>> = Array.isArray(file.dynamic_templates) ? file.dynamic_templates : [];
  const fileTemplateNames = new Set(fileTemplates.flatMap((t) => Object.keys(t)));
  const templates = [...fileTemplates, ...(translated.dynamic_templates ?? []).filter((t) => !Object.keys(t).some((k) => fileTemplateNames.has(k)))];
  const { properties: _p, dynamic_templates: _d, ...rest } = file;
  const mappings: Record<string, any> = {
    ...translated,
    ...rest,
    properties: sortKeys({ ...translated.properties, ...fileProps }),
  };
  if (templates.length) mappings.dynamic_templates = templates;
  else delete mappings.dynamic_templates;
  return { mappings, overridden };
}

/** The translation as a person reads it (`plan --dry-run`). */
export function formatTranslation(t: { mappings: Record<string, any>; untranslated: Untranslated[]; notes: string[]; overridden?: string[]; origin: string; used: string }): string {
  const lines: string[] = [];
  lines.push(`target mapping (${t.origin}; ${t.used}):`);
  lines.push(JSON.stringify({ mappings: t.mappings }, null, 2));
  if (t.overridden?.length) lines.push(`fields the mappings file maps instead of the translation: ${t.overridden.join(', ')}`);
  if (t.untranslated.length) {
    lines.push(`not translated (${t.untranslated.length}; what Solr gives of them is still copied as stored, typed by the target's dynamic mapping unless the mappings file maps them):`);
    for (const u of t.untranslated) lines.push(`  - ${u.field} [${u.solrType}]: ${u.reason}`);
  } else {
    lines.push('not translated: none');
  }
  for (const n of t.notes) lines.push(`note: ${n}`);
  return lines.join('\n');
}
