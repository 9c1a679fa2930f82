/**
 * A document read as bytes (a raw page: solr/rawPage.ts, elasticsearch/rawPage.ts; issue 15): a
 * SourceDoc whose `json` is its members as the source sent them, and whose `fields` is parsed
 * (exactly: exactJson) only when first asked for. From then on the object is the document: `json`
 * is dropped, so a writer never sends bytes that the fields no longer say.
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
 * first asked (read once). Undefined once the fields are parsed: the reader then takes it from them.
 *
 * A class (issue 15): an object literal with accessors and a property defined on it cost 1.7–2.5 µs
 * a document, this 0.1. Its fields, bytes and customer are accessors of the class, not properties
 * of the object, so a copy by spreading ({...doc}) carries neither the bytes nor the fields. Raw
 * pages are read only where nothing copies a document (no transform, not in place: cli.ts work).
 */
class RawSourceDoc implements SourceDoc {
  readonly id: string;
  readonly bytes: number;
  readonly routing?: string;
  #raw: RawObject | undefined;
  #fields: Doc | undefined;
  #customer: string | null | undefined;
  #findCustomer: (() => string | null) | undefined;

  constructor(id: string, json: RawObject, customer: string | null | (() => string | null), routing?: string) {
    this.id = id;
    this.bytes = json.bytes;
    if (routing !== undefined) this.routing = routing;
    this.#raw = json;
    if (typeof customer === 'function') this.#findCustomer = customer;
    else this.#customer = customer;
  }

  get fields(): Doc {
    if (this.#fields === undefined) {
      this.#fields = exactJson.parse(rawObjectText(this.#raw!)) as Doc;
      this.#raw = undefined;
    }
    return this.#fields;
  }

  set fields(v: Doc) {
    this.#fields = v;
    this.#raw = undefined;
  }

  get json(): RawObject | undefined {
    return this.#raw;
  }

  get customer(): string | null | undefined {
    if (this.#raw === undefined) return undefined;
    if (this.#customer === undefined && this.#findCustomer) {
      this.#customer = this.#findCustomer();
      this.#findCustomer = undefined;
    }
    return this.#customer;
  }
}

export function rawSourceDoc(id: string, json: RawObject, customer: string | null | (() => string | null), routing?: string): SourceDoc {
  return new RawSourceDoc(id, json, customer, routing);
}

