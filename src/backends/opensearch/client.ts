/**
 * OpenSearch's own client (`@opensearch-project/opensearch`), built for EsApi (../elasticsearch/client.ts),
 * which speaks to it as to the v7 Elasticsearch client it was forked from: the same request
 * parameters, answers wrapped in `{ body }`, `abort()` on the request promise, the same error names.
 * Only what differs is here: the class and its serializer (every number's text kept: exactJson.ts).
 */
import { Client, Serializer } from '@opensearch-project/opensearch';
import { exactJson } from '../exactJson';

class ExactSerializer extends Serializer {
  override serialize(object: any): string {
    return exactJson.stringify(object);
  }
  override deserialize(json: string): any {
    return exactJson.parse(json);
  }
}

export interface OpenSearchClientOptions {
  nodes: string[];
  auth?: { username: string; password: string } | { apiKey: string };
  maxRetries: number;
  requestTimeout: number;
  ssl?: { ca?: Buffer; cert?: Buffer; key?: Buffer; rejectUnauthorized?: boolean };
}

export function openSearchClient(options: OpenSearchClientOptions): Client {
  // OpenSearch has no API keys: such an endpoint gets the header as given (a proxy in front may take it).
  const { auth, ...rest } = options;
  const apiKey = auth && 'apiKey' in auth ? auth.apiKey : undefined;
  return new Client({
    ...rest,
    ...(auth && 'username' in auth ? { auth } : {}),
    ...(apiKey ? { headers: { authorization: `ApiKey ${apiKey}` } } : {}),
    Serializer: ExactSerializer,
  } as any);
}
