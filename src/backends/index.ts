import type { Endpoint, Spec } from '../config/spec';
import { SolrBackend } from './solr/solrBackend';
import type { Backend } from './types';

/**
 * The Elasticsearch backend is loaded only when a spec names Elasticsearch: its two clients (7 and 8)
 * are some 17 MiB of a process's memory (issue 15: a worker's RSS), for nothing in a Solr migration.
 */
function elasticsearch(): typeof import('./elasticsearch/esBackend') {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('./elasticsearch/esBackend');
}

/**
 * Opens the backend for one endpoint of the spec. Either kind can be the source or the target: the
 * planner and worker speak only the Backend interface.
 */
export function openBackend(endpoint: Endpoint, spec: Spec): Backend {
  switch (endpoint.kind) {
    case 'solr':
      return new SolrBackend(endpoint, spec.fields, spec.copy.excludeFields);
    case 'elasticsearch':
      return elasticsearch().ElasticsearchBackend.forSpec(endpoint, spec);
  }
}

export type { Backend } from './types';
