import type { Endpoint, Spec } from '../config/spec';
import { ElasticsearchBackend } from './elasticsearch/esBackend';
import { OpenSearchBackend } from './opensearch/osBackend';
import { SolrBackend } from './solr/solrBackend';
import type { Backend } from './types';

/**
 * Opens the backend for one endpoint of the spec. Any kind can be the source or the target: the
 * planner and worker speak only the Backend interface.
 */
export function openBackend(endpoint: Endpoint, spec: Spec): Backend {
  switch (endpoint.kind) {
    case 'solr':
      return new SolrBackend(endpoint, spec.fields, spec.copy.excludeFields);
    case 'elasticsearch':
      return ElasticsearchBackend.forSpec(endpoint, spec);
    case 'opensearch':
      return OpenSearchBackend.forSpec(endpoint, spec);
  }
}

export type { Backend } from './types';
