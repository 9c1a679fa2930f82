/**
 * Elasticsearch index management and loading for the tests and the benchmark, over plain HTTP: the
 * operator's and the application's side, deliberately not the backend under test.
 */
import { DEMO_ES_MAPPING } from '../../src/demo/clusters';
export interface EsDocIn {
  _id: string;
  routing?: string;
  /** External version (the application's live write with version_type=external). */
  version?: number;
  source: object;
}

export interface EsDocOut {
  source: Record<string, any>;
  routing?: string;
}

export class EsAdmin {
  constructor(readonly url: string) {}

  private async req(method: string, path: string, body?: unknown, ndjson = false): Promise<any> {
    const res = await fetch(`${this.url}${path}`, {
      method,
      headers: { 'content-type': ndjson ? 'application/x-ndjson' : 'application/json' },
      body: body === undefined ? undefined : ndjson ? String(body) : JSON.stringify(body),
    });
    const text = await res.text();
    const json = text ? JSON.parse(text) : undefined;
    if (!res.ok && !(method === 'DELETE' && res.status === 404) && !(method === 'HEAD')) {
      throw new Error(`${method} ${path}: HTTP ${res.status} ${text.slice(0, 500)}`);
    }
    return json;
  }

  async version(): Promise<string> {
    return (await this.req('GET', '/')).version.number;
  }

  async createIndex(name: string, definition: { mappings?: object; settings?: object }): Promise<void> {
    await this.deleteIndex(name);
    await this.req('PUT', `/${name}`, definition);
  }

  async deleteIndex(name: string): Promise<void> {
    await this.req('DELETE', `/${name}`);
  }

  async exists(name: string): Promise<boolean> {
    const res = await fetch(`${this.url}/${name}`, { method: 'HEAD' });
    return res.status === 200;
  }

  /** Plain writes (overwrite allowed), or external versions: the application's live writes. */
  async index(name: string, docs: EsDocIn[], refresh = true): Promise<void> {
    for (let i = 0; i < docs.length; i += 2000) {
      const lines = docs.slice(i, i + 2000).flatMap((d) => [
        JSON.stringify({ index: { _id: d._id, ...(d.routing ? { routing: d.routing } : {}), ...(d.version !== undefined ? { version: d.version, version_type: 'external' } : {}) } }),
        JSON.stringify(d.source),
      ]);
      const res = await this.req('POST', `/${name}/_bulk`, `${lines.join('\n')}\n`, true);
      if (res.errors) throw new Error(`bulk into ${name} failed: ${JSON.stringify(res.items.find((x: any) => x.index.error)).slice(0, 500)}`);
    }
    if (refresh) await this.refresh(name);
  }

  async setSettings(name: string, index: Record<string, unknown>): Promise<void> {
    await this.req('PUT', `/${name}/_settings`, { index });
  }

  async refresh(name: string): Promise<void> {
    await this.req('POST', `/${name}/_refresh`);
  }

  async count(name: string, query?: object): Promise<number> {
    return (await this.req('POST', `/${name}/_count`, query ? { query } : undefined)).count;
  }

  /** Every document, by _id (scroll: fine for a test's few thousand documents). */
  async all(name: string): Promise<Map<string, EsDocOut>> {
    const out = new Map<string, EsDocOut>();
    let res = await this.req('POST', `/${name}/_search?scroll=1m`, { size: 1000, sort: ['_doc'] });
    while (res.hits.hits.length) {
      for (const h of res.hits.hits) out.set(h._id, { source: h._source, ...(h._routing ? { routing: h._routing } : {}) });
      res = await this.req('POST', '/_search/scroll', { scroll: '1m', scroll_id: res._scroll_id });
    }
    await this.req('DELETE', '/_search/scroll', { scroll_id: res._scroll_id });
    return out;
  }

  /** One document by id (and routing), with its version; null when absent. */
  async get(name: string, id: string, routing?: string): Promise<{ source: any; version: number; routing?: string } | null> {
    const res = await fetch(`${this.url}/${name}/_doc/${encodeURIComponent(id)}${routing ? `?routing=${encodeURIComponent(routing)}` : ''}`);
    const body: any = await res.json();
    return body.found ? { source: body._source, version: body._version, routing: body._routing } : null;
  }

  /** index.refresh_interval and index.number_of_replicas as set on the index (null: not set). */
  async bulkSettings(name: string): Promise<{ refresh_interval: string | null; number_of_replicas: string | null }> {
    const res = await this.req('GET', `/${name}/_settings?flat_settings=true`);
    const s = (Object.values(res)[0] as any).settings;
    return { refresh_interval: s['index.refresh_interval'] ?? null, number_of_replicas: s['index.number_of_replicas'] ?? null };
  }

  async deleteDoc(name: string, id: string, routing?: string): Promise<void> {
    await this.req('DELETE', `/${name}/_doc/${encodeURIComponent(id)}${routing ? `?routing=${encodeURIComponent(routing)}` : ''}`);
  }

  /** The indices an alias points at ([] when it does not exist). */
  async aliasTargets(alias: string): Promise<string[]> {
    const res = await fetch(`${this.url}/_alias/${encodeURIComponent(alias)}`);
    if (res.status === 404) return [];
    return Object.keys((await res.json()) as object).sort();
  }

  async putAlias(index: string, alias: string): Promise<void> {
    await this.req('POST', '/_aliases', { actions: [{ add: { index, alias } }] });
  }

  async mapping(name: string): Promise<any> {
    return (Object.values(await this.req('GET', `/${name}/_mapping`))[0] as any).mappings;
  }
}

/** The test data's mapping: the demo dataset's (core types only), and the version field some tests use. */
export const TEST_MAPPING = {
  properties: { ...DEMO_ES_MAPPING.properties, version: { type: 'long' } },
};
