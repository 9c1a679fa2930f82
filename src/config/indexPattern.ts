/**
 * One index into many (issue 17, seed 004's monthly → daily indices): `target.indexPattern` such as
 * `events-{timestamp:yyyy.MM.dd}` names, per document, the index it is written into, from a date
 * field of the (transformed) document, formatted in UTC. Pure: parsed once, applied per document.
 */

/** A document as far as the pattern reads it (a SourceDoc of backends/types). */
interface Fields {
  fields: Record<string, unknown>;
}

/** exactJson's RawNumber (a number kept as its text), without importing the backends here. */
const rawText = (v: unknown): string | null =>
  v !== null && typeof v === 'object' && typeof (v as { text?: unknown }).text === 'string' && v.constructor?.name === 'RawNumber' ? (v as { text: string }).text : null;

/** Date tokens a placeholder's format may use (UTC); any other character is kept as written. */
const TOKENS = ['yyyy', 'MM', 'dd', 'HH'] as const;

type Part = { literal: string } | { field: string; format: string };

export interface IndexPattern {
  text: string;
  /** The fields the placeholders read. */
  fields: string[];
  /** Every index the pattern can name, as one wildcard expression (`events-*`): what the target is read through. */
  wildcard: string;
  /** The index of this document, or why it has none. */
  indexOf(doc: Fields): { index: string } | { reason: string };
}

/** Characters an Elasticsearch index name may not hold (besides upper case). */
const FORBIDDEN = /[\\/*?"<>| ,#:]/;

/** The problem with a pattern's text, or null: used by spec validation for a clear message. */
export function indexPatternProblem(text: string): string | null {
  try {
    parseIndexPattern(text);
    return null;
  } catch (e) {
    return (e as Error).message;
  }
}

export function parseIndexPattern(text: string): IndexPattern {
  const parts: Part[] = [];
  const re = /\{([^{}:]*)(?::([^{}]*))?\}/g;
  let at = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    if (m.index > at) parts.push({ literal: text.slice(at, m.index) });
    const field = m[1].trim();
    const format = m[2];
    if (!field) throw new Error(`"${m[0]}" names no field: write {field:format}, e.g. {timestamp:yyyy.MM.dd}`);
    if (format === undefined || !TOKENS.some((t) => format.includes(t))) {
      throw new Error(`"${m[0]}" has no date format: write {${field}:yyyy.MM.dd} (tokens ${TOKENS.join(', ')}, in UTC)`);
    }
    if (FORBIDDEN.test(format.replace(/yyyy|MM|dd|HH/g, '')) || /[A-Z]/.test(format.replace(/yyyy|MM|dd|HH/g, ''))) {
      throw new Error(`the format "${format}" of "${m[0]}" holds characters an index name may not: use only ${TOKENS.join(', ')} and separators such as "." "-" "_"`);
    }
    parts.push({ field, format });
    at = re.lastIndex;
  }
  if (at < text.length) parts.push({ literal: text.slice(at) });
  const literals = parts.flatMap((p) => ('literal' in p ? [p.literal] : [])).join('');
  if (/[{}]/.test(literals)) throw new Error(`unbalanced "{" or "}" in "${text}": each placeholder is {field:format}`);
  if (!parts.some((p) => 'field' in p)) throw new Error(`"${text}" has no placeholder: write e.g. events-{timestamp:yyyy.MM.dd}`);
  if (FORBIDDEN.test(literals) || literals !== literals.toLowerCase()) {
    throw new Error(`"${text}" holds characters an Elasticsearch index name may not (upper case, space, \\ / * ? " < > | , # :)`);
  }
  if (/^[-_+.]/.test(text)) throw new Error(`"${text}" starts with "${text[0]}": an index name may not`);
  if (!('literal' in parts[0]) || parts[0].literal.length === 0) throw new Error(`"${text}" starts with a placeholder: begin with a fixed prefix (events-{...}) so that its indices can be read as one set`);
  const wildcard = parts.map((p) => ('literal' in p ? p.literal : '*')).join('').replace(/\*+/g, '*');
  const fields = [...new Set(parts.flatMap((p) => ('field' in p ? [p.field] : [])))];
  return {
    text,
    fields,
    wildcard,
    indexOf(doc) {
      let out = '';
      for (const p of parts) {
        if ('literal' in p) {
          out += p.literal;
          continue;
        }
        const value = doc.fields[p.field];
        const ms = dateMs(value);
        if (value === undefined || value === null) return { reason: `no value in "${p.field}": target.indexPattern ${text} needs it to choose the index` };
        if (ms === null) return { reason: `"${p.field}" (${String(rawText(value) ?? JSON.stringify(value)).slice(0, 40)}) is not a date: target.indexPattern ${text} needs an ISO date or epoch milliseconds` };
        out += formatUtc(ms, p.format);
      }
      return { index: out };
    },
  };
}

/** Epoch milliseconds of an ISO date string (no zone: UTC) or a number of epoch milliseconds, or null. */
export function dateMs(value: unknown): number | null {
  let ms: number;
  if (typeof value === 'number') ms = value;
  else if (rawText(value) !== null) ms = Number(rawText(value));
  else if (typeof value === 'string' && /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?)?(Z|[+-]\d{2}:?\d{2})?$/.test(value)) {
    const zoned = /(Z|[+-]\d{2}:?\d{2})$/.test(value) || value.length === 10 ? value : `${value.replace(' ', 'T')}Z`;
    ms = Date.parse(zoned);
  } else if (typeof value === 'string' && /^-?\d{1,15}$/.test(value)) ms = Number(value);
  else return null;
  return Number.isFinite(ms) && Math.abs(ms) <= 8.64e15 ? ms : null;
}

function formatUtc(ms: number, format: string): string {
  const d = new Date(ms);
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  return format.replace(/yyyy|MM|dd|HH/g, (t) => (t === 'yyyy' ? pad(d.getUTCFullYear(), 4)
    : t === 'MM' ? pad(d.getUTCMonth() + 1) : t === 'dd' ? pad(d.getUTCDate()) : pad(d.getUTCHours())));
}

/** Whether an index name is one of the pattern's set (matches its wildcard). */
export function inWildcard(wildcard: string, index: string): boolean {
  const re = new RegExp(`^${wildcard.split('*').map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
  return re.test(index);
}
