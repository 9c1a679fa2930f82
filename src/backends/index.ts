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

/**
 * Opens the backend for one endpoint of the spec. Any kind can be the source or the target: the
 * planner and worker speak only the Backend interface.
 */
export function openBackend(endpoint: Endpoint, spec: Spec): Backend {
  switch (endpoint.kind) {
    case 'solr':
      return new SolrBackend(endpoint, spec.fields, spec.copy.excludeFields);
    case 'elasticsearch':
      return elasticsearch().ElasticsearchBackend.forSpec(endpoint, spec);
    case 'opensearch':
      return opensearch().OpenSearchBackend.forSpec(endpoint, spec);
  }
}

export type { Backend } from './types';
