/**
 * A document read as bytes (a raw page: solr/rawPage.ts, elasticsearch/rawPage.ts; issue 15): a
 * SourceDoc whose `json` is its members as the source sent them, and whose `fields` is parsed
 * (exactly: exactJson) only when first asked for. From then on the object is the document: `json`
 * is dropped, so a writer never sends bytes that the fields no longer say. `json` is not enumerable:
 * a copy of the document ({...doc}) is a document of fields, without the bytes.
 */
import { log } from '../log';
import { exactJson } from './exactJson';
import { rawObjectText, type RawObject } from './rawJson';
import type { Doc, SourceDoc } from './types';

/**
 * A raw page's walk over an answer, or null when it does not take it (the caller parses the same
 * bytes as it always did; an answer that is not JSON then fails there, as before).
 */
export function walked<T>(walk: (b: Buffer) => T | null, bytes: Buffer): T | null {
  try {
    return walk(bytes);
  } catch (e) {
    log.debug({ err: (e as Error).message }, 'raw page not taken: parsing the answer');
    return null;
  }
}

/**
 * `customer`: the customer field's value as the reader saw it, or how to find it in the bytes when
 * first asked (read once; from the fields once they are parsed).
 */
export function rawSourceDoc(id: string, json: RawObject, customer: string | null | (() => string | null), routing?: string): SourceDoc {
  let fields: Doc | undefined;
  let raw: RawObject | undefined = json;
  const doc = {
    id,
    ...(routing !== undefined ? { routing } : {}),
    bytes: json.bytes,
    customer: typeof customer === 'function' ? undefined : customer,
    get fields(): Doc {
      if (fields === undefined) {
        fields = exactJson.parse(rawObjectText(raw!)) as Doc;
        raw = undefined;
      }
      return fields;
    },
    set fields(v: Doc) {
      fields = v;
      raw = undefined;
    },
  };
  Object.defineProperty(doc, 'json', { get: () => raw, enumerable: false });
  if (typeof customer === 'function') {
    let seen: string | null | undefined;
    // undefined once the fields are parsed: the reader then takes the field from them.
    Object.defineProperty(doc, 'customer', { get: () => (raw === undefined ? undefined : (seen === undefined ? (seen = customer()) : seen)), enumerable: true });
  }
  return doc as SourceDoc;
}
