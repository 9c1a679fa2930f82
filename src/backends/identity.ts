/**
 * Is the target the source? The spec check (spec.ts) compares normalized URLs; this one asks the
 * clusters themselves, so that no spelling of an address (a DNS alias, another node of the same
 * cluster, an alias pointing at the source index) lets bluegreen write into its own source.
 *
 * - Elasticsearch: the index UUIDs behind each name (an alias resolves to its indices). One index UUID
 *   on both sides is the same index, whatever the URLs say; `GET /` gives the cluster UUID for the message.
 * - Solr: the cluster is its ZooKeeper ensemble and chroot (`zkHost` of /admin/info/system), or its
 *   resolved address without one; the collection after alias resolution (LISTALIASES).
 *
 * Same cluster with another index/collection is a shadow-index migration, and allowed.
 */
import { lookup } from 'node:dns/promises';
import { HttpClient, HttpStatusError } from './http';
import { UserError, describeError } from '../errors';
import { safeUrl } from '../log';
import { normalizeUrl, urlKeys, zkConnectKey } from '../config/endpoints';
import type { Endpoint, Spec } from '../config/spec';

export interface EndpointIdentity {
  /** What identifies the cluster (cluster UUID, zkHost, or resolved addresses), for the message. */
  cluster: string;
  /** Keys that are equal only for the same cluster. Empty: unknown. */
  clusterKeys: Set<string>;
  /** The concrete indices / collections behind the name (Elasticsearch: index UUIDs; Solr: collection names). */
  members: Set<string>;
  /** Names of those members, for the message. */
  memberNames: string[];
}

const urlsOf = (e: Endpoint) => (Array.isArray(e.url) ? e.url : [e.url]).map((u) => u.replace(/\/+$/, ''));

function client(e: Endpoint): HttpClient {
  return new HttpClient({ timeoutMs: Math.min(e.requestTimeout, 30_000), auth: e.auth, tls: e.tls, json: 'plain' });
}

/** The first URL of the endpoint that answers `path`; its answer. */
async function first(e: Endpoint, path: (base: string) => string): Promise<{ base: string; body: any }> {
  const http = client(e);
  let last: unknown;
  for (const base of urlsOf(e)) {
    try {
      return { base, body: await http.request('GET', path(base)) };
    } catch (err) {
      if (err instanceof HttpStatusError) throw err;
      last = err;
    }
  }
  throw last;
}

/** Every address the endpoint's hosts resolve to, with port and path: the same server spelled two ways shares one. */
async function resolvedKeys(e: Endpoint): Promise<Set<string>> {
  const out = new Set<string>(urlKeys(e.url));
  for (const u of urlsOf(e)) {
    const n = normalizeUrl(u);
    if (!n || n.host === 'loopback') continue;
    try {
      for (const a of await lookup(n.host, { all: true })) out.add(`${n.scheme}://${normalizeUrl(`http://${a.family === 6 ? `[${a.address}]` : a.address}`)!.host}:${n.port}${n.path}`);
    } catch {
      /* unresolvable: the names alone are compared */
    }
  }
  return out;
}

async function elasticsearchIdentity(e: Endpoint): Promise<EndpointIdentity> {
  const root = await first(e, (b) => `${b}/`);
  const uuid = typeof root.body?.cluster_uuid === 'string' && root.body.cluster_uuid !== '_na_' ? root.body.cluster_uuid : null;
  const members = new Set<string>();
  const memberNames: string[] = [];
  try {
    const settings = (await client(e).request('GET', `${root.base}/${encodeURIComponent(e.collection)}/_settings/index.uuid?expand_wildcards=all`)) as Record<string, any>;
    for (const [name, v] of Object.entries(settings ?? {})) {
      const id = v?.settings?.index?.uuid;
      members.add(typeof id === 'string' ? `uuid:${id}` : `${uuid ?? root.base}/${name}`);
      memberNames.push(name);
    }
  } catch (err) {
    if (!(err instanceof HttpStatusError)) throw err;
    // 404: a target that target.prepare will create. Other refusals (no privilege to read settings):
    // compare by name within the cluster, the most this endpoint lets us see.
    if (err.status !== 404) {
      members.add(`${uuid ?? root.base}/${e.collection}`);
      memberNames.push(e.collection);
    }
  }
  const clusterKeys = uuid ? new Set([`es-cluster:${uuid}`]) : await resolvedKeys(e);
  return { cluster: uuid ? `cluster UUID ${uuid} (${root.body?.cluster_name ?? '?'})` : safeUrl(root.base), clusterKeys, members, memberNames };
}

async function solrIdentity(e: Endpoint): Promise<EndpointIdentity> {
  const info = await first(e, (b) => `${b}/admin/info/system?wt=json`);
  const zkHost = typeof info.body?.zkHost === 'string' ? info.body.zkHost : null;
  const zkKey = zkHost ? zkConnectKey(zkHost) ?? zkHost : null;
  let names = [e.collection];
  if (zkHost) {
    try {
      const aliases = (await client(e).request('GET', `${info.base}/admin/collections?action=LISTALIASES&wt=json`))?.aliases ?? {};
      // An alias may name aliases (Solr 8.x+ routed aliases aside): follow a few levels.
      for (let depth = 0; depth < 5; depth++) {
        const next = names.flatMap((n) => (typeof aliases[n] === 'string' ? aliases[n].split(',').map((x: string) => x.trim()).filter(Boolean) : [n]));
        if (next.join(',') === names.join(',')) break;
        names = next;
      }
    } catch (err) {
      if (!(err instanceof HttpStatusError)) throw err;
    }
  }
  const clusterKeys = zkKey ? new Set([`solr-zk:${zkKey}`]) : await resolvedKeys(e);
  const clusterId = zkKey ?? [...clusterKeys].sort().join('|');
  return {
    cluster: zkHost ? `ZooKeeper ${zkHost}` : safeUrl(info.base),
    clusterKeys,
    members: new Set(names.map((n) => `${clusterId}/${n}`)),
    memberNames: [...new Set(names)],
  };
}

export function endpointIdentity(e: Endpoint): Promise<EndpointIdentity> {
  return e.kind === 'solr' ? solrIdentity(e) : elasticsearchIdentity(e);
}

const cache = new WeakMap<Spec, Promise<{ source: EndpointIdentity; target: EndpointIdentity; sameCluster: boolean } | null>>();

/** Both endpoints' identities, asked once per spec; null when the kinds differ (never the same cluster). */
function identities(spec: Spec) {
  let p = cache.get(spec);
  if (!p) {
    p = (async () => {
      if (spec.source.kind !== spec.target.kind) return null;
      const [source, target] = await Promise.all([endpointIdentity(spec.source), endpointIdentity(spec.target)]).catch((e) => {
        if (e instanceof UserError) throw e;
        throw new UserError(`Could not confirm that the target is not the source (asking the clusters who they are failed: ${describeError(e)}).`,
          'Check that both clusters answer (bluegreen diagnostics), then run the command again; nothing was changed.');
      });
      return { source, target, sameCluster: [...target.clusterKeys].some((k) => source.clusterKeys.has(k)) };
    })();
    cache.set(spec, p);
    p.catch(() => cache.delete(spec));
  }
  return p;
}

/**
 * Throws a UserError when the target is (or resolves to) the source's index/collection. The CLI asks
 * before anything is written; target.prepare asks again before it changes an index. Unreachable
 * clusters are left to the backends' own checks, which name them.
 */
export async function assertTargetIsNotSource(spec: Spec): Promise<void> {
  // copy.mode in-place: the target is the source by design (validateSpec insists on it); only there.
  if (spec.copy.mode === 'in-place') return;
  const ids = await identities(spec);
  if (!ids) return;
  const { source: s, target: t, sameCluster } = ids;
  const { source, target } = spec;
  const shared = [...t.members].filter((m) => s.members.has(m));
  if (!shared.length) return;
  const what = source.kind === 'solr' ? 'collection' : 'index';
  const via = (name: string, members: string[]) => (members.length === 1 && members[0] === name ? '' : ` (${members.join(', ')})`);
  throw new UserError(
    `The target is the source: target.collection "${target.collection}"${via(target.collection, t.memberNames)} at ${JSON.stringify(target.url)} is the same ${what} as `
    + `source.collection "${source.collection}"${via(source.collection, s.memberNames)} at ${JSON.stringify(source.url)}${sameCluster ? ` — one cluster, ${s.cluster}` : ''}. bluegreen never writes to the source.`,
    `Point target.url at the new cluster, or target.collection at another ${what} (a shadow ${what} on the same cluster is fine). Nothing was changed.`);
}

/**
 * For target.prepare, before it changes index settings by concrete name: refuses when one of `names`
 * is an index of the source (same cluster), whatever a record in ZooKeeper says.
 */
export async function assertNotSourceIndices(spec: Spec, names: string[]): Promise<void> {
  await assertTargetIsNotSource(spec);
  const ids = await identities(spec);
  if (!ids?.sameCluster) return;
  const hit = names.filter((n) => ids.source.memberNames.includes(n));
  if (hit.length) {
    throw new UserError(`target.prepare was about to change the settings of ${hit.map((n) => `"${n}"`).join(', ')}, an index of the source "${spec.source.collection}" (same cluster, ${ids.source.cluster}); it refused.`,
      'bluegreen never writes to the source. Check the target record in ZooKeeper (<root>/<migration>/target) and target.collection; nothing was changed.');
  }
}
