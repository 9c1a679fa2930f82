/**
 * Moving the read alias: Solr CREATEALIAS (atomic re-point), Elasticsearch and OpenSearch _aliases (one
 * atomic request). Both are idempotent: pointing an alias where it already points changes nothing.
 */
import { HttpClient, HttpStatusError } from '../backends/http';
import type { Endpoint } from '../config/spec';
import { safeUrl } from '../log';
import { inWildcard, parseIndexPattern } from '../config/indexPattern';

const baseUrl = (e: Endpoint) => (Array.isArray(e.url) ? e.url[0] : e.url).replace(/\/+$/, '');
const sameCluster = (a: Endpoint, b: Endpoint) => a.kind === b.kind && baseUrl(a) === baseUrl(b);

/** Points `alias` at `to`'s collection; on a shared cluster it leaves `from`'s collection in the same step. */
export async function pointAlias(alias: string, to: Endpoint, from: Endpoint): Promise<string> {
  const http = new HttpClient({ timeoutMs: to.requestTimeout, auth: to.auth, tls: to.tls, json: 'plain' });
  const base = baseUrl(to);
  if (to.kind === 'solr') {
    // target.indexPattern (one collection into many): the alias names every collection of the set
    // that exists now (Collections API LIST, filtered by the pattern's wildcard), in one CREATEALIAS.
    let collections = to.collection;
    if (to.indexPattern) {
      const wildcard = parseIndexPattern(to.indexPattern).wildcard;
      const listed = await http.request('GET', `${base}/admin/collections?action=LIST&wt=json`);
      const set = ((listed?.collections ?? []) as unknown[]).map(String).filter((c) => c !== to.collection && inWildcard(wildcard, c)).sort();
      if (!set.length) throw new Error(`no collection of target.indexPattern ${to.indexPattern} (${wildcard}) exists at ${safeUrl(base)}: nothing to put the read alias ${alias} on`);
      collections = set.join(',');
    }
    await http.request('GET', `${base}/admin/collections?action=CREATEALIAS&name=${encodeURIComponent(alias)}&collections=${encodeURIComponent(collections)}&wt=json`);
    return `solr alias ${alias} → ${to.indexPattern ? `every collection of ${to.indexPattern} (${collections.split(',').length}: ${collections})` : to.collection} at ${safeUrl(base)}`;
  }
  // target.indexPattern (one index into many): the alias goes on every index of the set, the wildcard
  // resolved by the server in the same atomic request.
  const set = to.indexPattern ? parseIndexPattern(to.indexPattern).wildcard : null;
  const keeps = (index: string) => (set ? inWildcard(set, index) : index === to.collection);
  const actions: object[] = [];
  if (sameCluster(to, from)) {
    let current: Record<string, unknown> = {};
    try {
      current = await http.request('GET', `${base}/_alias/${encodeURIComponent(alias)}`);
    } catch (e) {
      // Only a 404 means "no such alias yet"; anything else must stop us, or the alias could end up on both indices.
      if (!(e instanceof HttpStatusError && e.status === 404)) throw e;
    }
    for (const index of Object.keys(current ?? {})) if (!keeps(index)) actions.push({ remove: { index, alias } });
  }
  actions.push({ add: { index: set ?? to.collection, alias } });
  await http.request('POST', `${base}/_aliases`, JSON.stringify({ actions }));
  return `${to.kind} alias ${alias} → ${set ? `every index of ${to.indexPattern} (${set})` : to.collection} at ${safeUrl(base)}`;
}
