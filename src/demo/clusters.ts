/**
 * The two clusters of the demo, one kind at a time (Solr 8 → 9, Elasticsearch 7 → 8), on the local
 * stack's ports (BG_* variables, as scripts/lib/common.sh sets them). The operator's side, done for
 * them here: fresh collections / indices and the legacy data loaded before the day starts. The
 * product itself never creates or deletes collections.
 */
import type { DemoDoc } from './dataset';
import { SolrAdmin } from './solrAdmin';

export type DemoKind = 'solr' | 'elasticsearch';

export interface DemoClusters {
  kind: DemoKind;
  /** "Solr" / "Elasticsearch" */
  label: string;
  urls: { legacy: string; new: string };
  versions(): Promise<{ legacy: string; new: string }>;
  /** Creates the collection (index) afresh on both clusters: one left by an earlier run is deleted first. */
  create(collection: string): Promise<void>;
  drop(collection: string): Promise<void>;
  /** Loads the historical data into legacy (plain writes, made visible). */
  loadLegacy(collection: string, docs: DemoDoc[]): Promise<void>;
}

const host = process.env.BG_HOST ?? '127.0.0.1';
const port = (name: string, fallback: number) => process.env[name] || String(fallback);

export const stackUrls = {
  zk: `${host}:${port('BG_ZK_PORT', 2181)}`,
  solr: { legacy: `http://${host}:${port('BG_SOLR_LEGACY_PORT', 8983)}/solr`, new: `http://${host}:${port('BG_SOLR_NEW_PORT', 8984)}/solr` },
  elasticsearch: { legacy: `http://${host}:${port('BG_ES_LEGACY_PORT', 9200)}`, new: `http://${host}:${port('BG_ES_NEW_PORT', 9201)}` },
};

function solrClusters(): DemoClusters {
  const admin = { legacy: new SolrAdmin(stackUrls.solr.legacy), new: new SolrAdmin(stackUrls.solr.new) };
  return {
    kind: 'solr',
    label: 'Solr',
    urls: stackUrls.solr,
    versions: async () => ({ legacy: await admin.legacy.version(), new: await admin.new.version() }),
    create: async (c) => {
      await Promise.all([admin.legacy.createCollection(c, 2), admin.new.createCollection(c, 2)]);
    },
    drop: async (c) => {
      await Promise.all([admin.legacy.deleteCollection(c), admin.new.deleteCollection(c)]);
    },
    loadLegacy: (c, docs) => admin.legacy.index(c, docs, true),
  };
}

/** Core types only (the integ-test zip of Elasticsearch has no analysis-common). */
export const DEMO_ES_MAPPING = {
  properties: {
    id: { type: 'keyword' },
    customer: { type: 'keyword' },
    timestamp: { type: 'date' },
    title: { type: 'text' },
    body: { type: 'text' },
    category: { type: 'keyword' },
    tags: { type: 'keyword' },
    price: { type: 'double' },
    quantity: { type: 'long' },
  },
};

async function es(url: string, method: string, path: string, body?: string, ndjson = false): Promise<any> {
  const res = await fetch(`${url}${path}`, { method, headers: { 'content-type': ndjson ? 'application/x-ndjson' : 'application/json' }, body });
  const text = await res.text();
  if (!res.ok && !(method === 'DELETE' && res.status === 404)) throw new Error(`${method} ${url}${path}: HTTP ${res.status} ${text.slice(0, 300)}`);
  return text ? JSON.parse(text) : undefined;
}

function esClusters(): DemoClusters {
  const urls = stackUrls.elasticsearch;
  const both = (fn: (url: string) => Promise<unknown>) => Promise.all([fn(urls.legacy), fn(urls.new)]);
  return {
    kind: 'elasticsearch',
    label: 'Elasticsearch',
    urls,
    versions: async () => ({ legacy: (await es(urls.legacy, 'GET', '/')).version.number, new: (await es(urls.new, 'GET', '/')).version.number }),
    create: async (c) => {
      await both((u) => es(u, 'DELETE', `/${c}`));
      await both((u) => es(u, 'PUT', `/${c}`, JSON.stringify({ settings: { number_of_shards: 2, number_of_replicas: 0 }, mappings: DEMO_ES_MAPPING })));
    },
    drop: async (c) => {
      await both((u) => es(u, 'DELETE', `/${c}`));
    },
    loadLegacy: async (c, docs) => {
      for (let i = 0; i < docs.length; i += 2000) {
        const lines = docs.slice(i, i + 2000).flatMap((d) => [JSON.stringify({ index: { _id: d.id } }), JSON.stringify(d)]);
        const r = await es(urls.legacy, 'POST', `/${c}/_bulk`, `${lines.join('\n')}\n`, true);
        if (r.errors) throw new Error(`loading legacy failed: ${JSON.stringify(r.items.find((x: any) => x.index.error)).slice(0, 300)}`);
      }
      await es(urls.legacy, 'POST', `/${c}/_refresh`);
    },
  };
}

export function demoClusters(kind: DemoKind): DemoClusters {
  return kind === 'solr' ? solrClusters() : esClusters();
}
