/**
 * Collection management and bulk loading for the demo and the tests. The product itself never
 * creates or deletes Solr collections; this is the operator's side, done for them on the local stack.
 */
import { HttpClient, HttpStatusError } from '../backends/http';

export class SolrAdmin {
  private readonly http = new HttpClient({ timeoutMs: 120_000, json: 'plain' });

  constructor(readonly baseUrl: string) {}

  async version(): Promise<string> {
    const info = await this.http.request('GET', `${this.baseUrl}/admin/info/system?wt=json`);
    return String(info.lucene['solr-spec-version']);
  }

  async createCollection(name: string, shards = 2, configSet = 'bluegreen'): Promise<void> {
    await this.deleteCollection(name);
    await this.http.request('GET', `${this.baseUrl}/admin/collections?action=CREATE&name=${name}&numShards=${shards}&replicationFactor=1&maxShardsPerNode=-1&collection.configName=${configSet}&wt=json`);
  }

  /**
   * Deletes the collection if it exists. Solr refuses while an alias still names it, and an alias
   * deleted a moment ago may still be seen: tried again for a few seconds, then the refusal is thrown
   * (a collection left behind is a leak, not something to swallow).
   */
  async deleteCollection(name: string): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const list = await this.http.request('GET', `${this.baseUrl}/admin/collections?action=LIST&wt=json`);
      if (!list.collections.includes(name)) return;
      try {
        await this.http.request('GET', `${this.baseUrl}/admin/collections?action=DELETE&name=${name}&wt=json`);
        return;
      } catch (e) {
        if (!(e instanceof HttpStatusError) || attempt >= 20) throw e;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }

  /** Plain adds (overwrite allowed): this is the application's live write, not the migration. */
  async index(collection: string, docs: object[], commit = false): Promise<void> {
    for (let i = 0; i < docs.length; i += 2000) {
      await this.http.request('POST', `${this.baseUrl}/${collection}/update?wt=json`, JSON.stringify(docs.slice(i, i + 2000)));
    }
    if (commit) await this.commit(collection);
  }

  async deleteById(collection: string, ids: string[]): Promise<void> {
    await this.http.request('POST', `${this.baseUrl}/${collection}/update?wt=json`, JSON.stringify({ delete: ids }));
  }

  async commit(collection: string): Promise<void> {
    await this.http.request('GET', `${this.baseUrl}/${collection}/update?commit=true&wt=json`);
  }

  async count(collection: string, q = '*:*'): Promise<number> {
    const r = await this.http.request('GET', `${this.baseUrl}/${collection}/select?q=${encodeURIComponent(q)}&rows=0&wt=json`);
    return Number(r.response.numFound);
  }

  /** Collection aliases: alias → collections. */
  async aliases(): Promise<Record<string, string>> {
    const r = await this.http.request('GET', `${this.baseUrl}/admin/collections?action=LISTALIASES&wt=json`);
    return r.aliases ?? {};
  }

  async deleteAlias(name: string): Promise<void> {
    await this.http.request('GET', `${this.baseUrl}/admin/collections?action=DELETEALIAS&name=${encodeURIComponent(name)}&wt=json`).catch(() => undefined);
  }

  /** Every document's id → chosen fields, by cursorMark (test-sized collections). */
  async all(collection: string, fl = 'id'): Promise<Map<string, Record<string, unknown>>> {
    const out = new Map<string, Record<string, unknown>>();
    let cursor = '*';
    for (;;) {
      const r = await this.http.request('GET', `${this.baseUrl}/${collection}/select?q=*:*&sort=id+asc&rows=5000&fl=${encodeURIComponent(fl)}&cursorMark=${encodeURIComponent(cursor)}&wt=json`);
      for (const d of r.response.docs) out.set(String(d.id), d);
      if (r.nextCursorMark === cursor) return out;
      cursor = r.nextCursorMark;
    }
  }
}
