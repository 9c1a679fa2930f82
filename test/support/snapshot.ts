/**
 * Byte-level snapshots of what bad input must leave alone: every ZooKeeper node (data and stat, the
 * Solr clusters' own chroots excepted: they change by themselves) and the clusters' collections /
 * indices (names, document counts, settings, aliases). Equal before and after = nothing changed.
 */
import type { ZkSession } from '../../src/coordination/zk';
import { HttpClient } from '../../src/backends/http';

/** Solr keeps its cluster state under these; they move on their own (overseer, live nodes). */
const FOREIGN = new Set(['/zookeeper', '/solr-legacy', '/solr-new', '/solr-secure']);

const hex = (b: unknown) => (Buffer.isBuffer(b) ? b.toString('hex') : String(b));

/**
 * `lockParents`: nodes under which an ephemeral lock may have come and gone (a worker's `checking`
 * lock, removed when its check fails): their child counters (cversion, pzxid) are left out; their data,
 * version and children still count.
 */
export async function zkSnapshot(zk: ZkSession, path = '/', lockParents: string[] = []): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (p: string): Promise<void> => {
    if (FOREIGN.has(p)) return;
    const got = await zk.getDataOrNull(p);
    if (!got) return;
    const s = got.stat as any;
    const lock = lockParents.includes(p);
    out[p] = JSON.stringify({
      data: got.data.toString('base64'), version: s.version, cversion: lock ? '(lock parent)' : s.cversion, aversion: s.aversion,
      czxid: hex(s.czxid), mzxid: hex(s.mzxid), pzxid: lock ? '(lock parent)' : hex(s.pzxid), ephemeralOwner: hex(s.ephemeralOwner), numChildren: s.numChildren,
    });
    for (const c of (await zk.childrenOrEmpty(p)).sort()) await walk(p === '/' ? `/${c}` : `${p}/${c}`);
  };
  await walk(path);
  return out;
}

const http = new HttpClient({ timeoutMs: 30_000, json: 'plain' });

/** Collections, their document counts and aliases of one Solr cluster. */
export async function solrSnapshot(base: string): Promise<Record<string, unknown>> {
  const list: string[] = (await http.request('GET', `${base}/admin/collections?action=LIST&wt=json`)).collections ?? [];
  const aliases = (await http.request('GET', `${base}/admin/collections?action=LISTALIASES&wt=json`)).aliases ?? {};
  const counts: Record<string, number> = {};
  for (const c of list.sort()) {
    await http.request('GET', `${base}/${encodeURIComponent(c)}/update?commit=true&wt=json`).catch(() => undefined);
    counts[c] = Number((await http.request('GET', `${base}/${encodeURIComponent(c)}/select?q=*:*&rows=0&wt=json`)).response?.numFound);
  }
  return { collections: list, aliases, counts };
}

/** Indices (uuid, document count), every index setting (flat) and the aliases of one Elasticsearch cluster. */
export async function esSnapshot(base: string): Promise<Record<string, unknown>> {
  await http.request('POST', `${base}/_refresh?expand_wildcards=all`).catch(() => undefined);
  const indices = (await http.request('GET', `${base}/_cat/indices?format=json&h=index,uuid,docs.count&expand_wildcards=all`) as any[])
    .filter((i) => !String(i.index).startsWith('.'))
    .sort((a, b) => String(a.index).localeCompare(String(b.index)));
  const settings = await http.request('GET', `${base}/_settings?flat_settings=true&expand_wildcards=all`);
  for (const k of Object.keys(settings)) if (k.startsWith('.')) delete settings[k];
  const aliases = await http.request('GET', `${base}/_alias`);
  for (const k of Object.keys(aliases)) if (k.startsWith('.')) delete aliases[k];
  return { indices, settings, aliases };
}
