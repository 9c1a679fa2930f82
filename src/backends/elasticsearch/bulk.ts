/**
 * The bulk request that never overwrites, and the reading of its answer item by item: pure, so every
 * outcome (created, live write won, retry, refused) is tested without a server.
 */
import type { Rejection } from '../../coordination/workNode';
import { exactJson, RawNumber } from '../exactJson';
import { sizeRefusal, withSize } from '../http';
import type { SourceDoc } from '../types';
import { writeMembers, type RawObject } from '../rawJson';

/** Elasticsearch's largest version (a Java long). */
const MAX_VERSION = 2n ** 63n - 1n;

/** A document's external version from its version field, or null when it holds none usable. */
export function versionOf(value: unknown): bigint | null {
  let v: bigint;
  if (typeof value === 'bigint') v = value;
  else if (typeof value === 'number' && Number.isSafeInteger(value)) v = BigInt(value);
  else if (typeof value === 'string' && /^\d{1,19}$/.test(value)) v = BigInt(value);
  // A whole number written with a fraction of zeros (`7.0`): its value is the version, as before.
  else if (value instanceof RawNumber && /^\d{1,19}\.0+$/.test(value.text)) v = BigInt(value.text.split('.')[0]);
  else return null;
  return v >= 0n && v <= MAX_VERSION ? v : null;
}

/**
 * The write parameters of a document copied at its source version: replaces only a strictly older
 * target version (seed 003). Shared by the bulk copy and the verifier's repair.
 */
export function externalVersion(version: bigint): { version: bigint; version_type: 'external' } {
  return { version, version_type: 'external' };
}

/** Why a document cannot be written with external versioning. */
export function noVersionReason(d: SourceDoc, versionField: string): string {
  return `no usable version in "${versionField}" (${exactJson.stringify(d.fields[versionField] ?? null).slice(0, 40)}): external versioning needs a whole number >= 0`;
}

export interface BulkRequest {
  /**
   * NDJSON, one action line and one source line per document, each ending with a newline: UTF-8
   * bytes written once, which the clients send as they are (a string body was joined, then copied
   * into bytes again by the client: two more copies of a page of up to 1.5 × batch.bytes).
   */
  body: Buffer;
  /** The documents in the body, in order: item i of the answer is sent[i]. */
  sent: SourceDoc[];
  /** Refused before sending (no usable version, or no index: target.indexPattern). */
  refused: Rejection[];
  /** With target.indexPattern: the indices the body writes into (each action names its `_index`). */
  indices: Set<string>;
}

/** target.indexPattern's choice for one document (indexPattern.ts), or undefined: the URL's index. */
export type IndexChooser = (d: SourceDoc) => { index: string } | { reason: string };

/**
 * `create` (fails with 409 if the document exists: the live write won), or with a version field,
 * `index` with `version_type: external`: written only over a strictly older version; a target that
 * holds the same version or a newer one answers 409 (the live write won: it stays, counted skipped).
 * Never `external_gte`: it would replace a live write that carries the same version as the source.
 */
export function bulkRequest(docs: SourceDoc[], versionField?: string, indexOf?: IndexChooser): BulkRequest {
  const lines: Array<string | RawObject> = [];
  const sent: SourceDoc[] = [];
  const refused: Rejection[] = [];
  const indices = new Set<string>();
  for (const d of docs) {
    const meta: Record<string, unknown> = { _id: d.id };
    if (indexOf) {
      const chosen = indexOf(d);
      if ('reason' in chosen) {
        refused.push({ id: d.id, reason: chosen.reason });
        continue;
      }
      meta._index = chosen.index;
    }
    if (d.routing !== undefined) meta.routing = d.routing;
    let action: Record<string, unknown>;
    if (versionField) {
      const version = versionOf(d.fields[versionField]);
      if (version === null) {
        refused.push({ id: d.id, reason: noVersionReason(d, versionField) });
        continue;
      }
      action = { index: { ...meta, ...externalVersion(version) } };
    } else {
      action = { create: meta };
    }
    // A document read raw (rawPage.ts) goes as the bytes of its _source; one parsed, as its fields.
    lines.push(exactJson.stringify(action), d.json ?? exactJson.stringify(d.fields));
    sent.push(d);
    if (typeof meta._index === 'string') indices.add(meta._index);
  }
  return { body: ndjsonBytes(lines), sent, refused, indices };
}

/**
 * Lines as one NDJSON body: each line's UTF-8 bytes and a newline, into one buffer sized once. A
 * line may be a raw object (a _source as it came: rawJson.ts), written as its bytes.
 */
export function ndjsonBytes(lines: Array<string | RawObject>): Buffer {
  let size = 0;
  for (const l of lines) size += (typeof l === 'string' ? Buffer.byteLength(l) : l.bytes) + 1;
  const body = Buffer.allocUnsafe(size);
  let at = 0;
  for (const l of lines) {
    if (typeof l === 'string') at += body.write(l, at);
    else {
      body[at++] = 0x7b;
      at = writeMembers(l, body, at);
      body[at++] = 0x7d;
    }
    body[at++] = 0x0a;
  }
  return body;
}

/** Item errors worth sending again: the node was busy or a shard was briefly unavailable. */
const RETRYABLE_TYPES = new Set([
  'es_rejected_execution_exception', 'circuit_breaking_exception', 'timeout_exception', 'process_cluster_event_timeout_exception',
  'unavailable_shards_exception', 'no_shard_available_action_exception', 'node_not_connected_exception', 'node_closed_exception',
  'connect_transport_exception', 'receive_timeout_transport_exception', 'primary_missing_action_exception',
]);

/** Item errors about the index, not the document: refusing every document for them would hide the real problem. */
const INDEX_TYPES = new Set(['index_not_found_exception', 'cluster_block_exception', 'security_exception', 'index_closed_exception']);

export interface BulkOutcome {
  written: number;
  /** 409: the target already had the document (or, with a version field, the same or a newer version of it). */
  skipped: number;
  rejected: Rejection[];
  /** To send again (429, 5xx, busy or unavailable shards). */
  retry: SourceDoc[];
  /** Why the last of `retry` failed (for the log and the final error). */
  retryReason: string | null;
  /** An error about the index itself (blocked, missing, forbidden): the whole batch fails. */
  indexProblem: string | null;
}

function describeItemError(error: any): string {
  if (!error) return 'no reason given';
  if (typeof error === 'string') return error;
  const cause = error.caused_by ? ` (${error.caused_by.type}: ${error.caused_by.reason})` : '';
  return `${error.type}: ${error.reason}${cause}`.slice(0, 300);
}

/** Reads a bulk answer against the documents sent, in order. */
export function bulkOutcome(sent: SourceDoc[], response: any): BulkOutcome {
  const out: BulkOutcome = { written: 0, skipped: 0, rejected: [], retry: [], retryReason: null, indexProblem: null };
  const items: any[] = response?.items ?? [];
  if (items.length !== sent.length) {
    throw new Error(`the bulk answer has ${items.length} items for ${sent.length} documents sent`);
  }
  items.forEach((item, i) => {
    const result = item.create ?? item.index ?? Object.values(item)[0];
    const status = Number(result?.status);
    const type: string | undefined = result?.error?.type;
    if (status >= 200 && status < 300) out.written++;
    else if (status === 409) out.skipped++;
    else if (status === 429 || status >= 500 || status === 408 || (type && RETRYABLE_TYPES.has(type))) {
      out.retry.push(sent[i]);
      out.retryReason = `HTTP ${status} ${describeItemError(result?.error)}`;
    } else if ((type && INDEX_TYPES.has(type)) || status === 401 || status === 403 || status === 404) {
      out.indexProblem ??= `HTTP ${status} ${describeItemError(result?.error)}`;
    } else {
      // Refused for its size (an immense term, a limit of the target): the reason says how big it is.
      const reason = describeItemError(result?.error);
      out.rejected.push({ id: sent[i].id, reason: sizeRefusal(status, reason) ? withSize(reason, sent[i].bytes) : reason });
    }
  });
  return out;
}
