/**
 * OpenSearch (2.x and 3.x) as source and target: `kind: opensearch`. OpenSearch serves the same REST
 * API as the Elasticsearch it was forked from for everything bluegreen asks (search_after paging,
 * composite aggregations, create-only and external-version bulks, mget, seq_no/primary_term
 * conditions, index creation and settings, _aliases), so this adapter is the Elasticsearch backend
 * with OpenSearch's distribution: `GET /` must say `distribution: opensearch` (an Elasticsearch node
 * is refused, and the reverse), and requests go through OpenSearch's own client (client.ts here).
 */
import type { Endpoint, Spec } from '../../config/spec';
import { ElasticsearchBackend, type EsBackendOptions } from '../elasticsearch/esBackend';
import type { FieldNames } from '../elasticsearch/queries';

export class OpenSearchBackend extends ElasticsearchBackend {
  constructor(endpoint: Endpoint, fields: FieldNames, opts: Omit<EsBackendOptions, 'distribution'>) {
    super(endpoint, fields, { ...opts, distribution: 'opensearch' });
  }

  static override forSpec(endpoint: Endpoint, spec: Spec, extra: Pick<EsBackendOptions, 'rawPages'> = {}): OpenSearchBackend {
    return new OpenSearchBackend(endpoint, spec.fields, { ...ElasticsearchBackend.optionsFor(endpoint, spec), ...extra });
  }
}
