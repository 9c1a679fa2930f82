import type { Endpoint, Spec } from '../config/spec';
import { UserError } from '../errors';
import { SolrBackend } from './solr/solrBackend';
import type { Backend } from './types';

/** Opens the backend for one endpoint of the spec. */
export function openBackend(endpoint: Endpoint, spec: Spec): Backend {
  switch (endpoint.kind) {
    case 'solr':
      return new SolrBackend(endpoint, spec.fields, spec.copy.excludeFields);
    case 'elasticsearch':
      throw new UserError('Elasticsearch endpoints are not supported yet in this build.', 'Use a Solr source and target for now.');
  }
}

export type { Backend } from './types';
