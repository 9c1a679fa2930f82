import type { Endpoint, Spec } from '../config/spec';
import { SolrBackend } from './solr/solrBackend';
import type { Backend } from './types';

/**
 * The Elasticsearch and OpenSearch backends are loaded only when a spec names them: their clients
 * (Elasticsearch 7, 8, 9, OpenSearch) are some 17 MiB of a process's memory (issue 15: a worker's
 * RSS), for nothing in a Solr migration.
 */
function elasticsearch(): typeof import('./elasticsearch/esBackend') {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('./elasticsearch/esBackend');
}

function opensearch(): typeof import('./opensearch/osBackend') {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('./opensearch/osBackend');
}

export interface OpenOptions {
  /**
   * The copy's source (the worker): pages read without building their documents where the backend
   * can (solr/rawPage.ts, elasticsearch/rawPage.ts), for a writer that writes them as they came.
   */
  rawPages?: boolean;
}

/**
 * Opens the backend for one endpoint of the spec. Any kind can be the source or the target: the
 * planner and worker speak only the Backend interface.
 */
export function openBackend(endpoint: Endpoint, spec: Spec, opts: OpenOptions = {}): Backend {
  switch (endpoint.kind) {
    case 'solr':
      return new SolrBackend(endpoint, spec.fields, spec.copy.excludeFields, undefined, { rawPages: opts.rawPages });
    case 'elasticsearch':
      return elasticsearch().ElasticsearchBackend.forSpec(endpoint, spec, { rawPages: opts.rawPages });
    case 'opensearch':
      return opensearch().OpenSearchBackend.forSpec(endpoint, spec, { rawPages: opts.rawPages });
  }
}

export type { Backend } from './types';
