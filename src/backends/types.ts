/**
 * The one interface both backends implement. The planner, worker and verifier speak only this, so a
 * Solr source can one day feed an Elasticsearch target without either side knowing.
 */
import type { Rejection, SliceBounds } from '../coordination/workNode';
import type { RawObject } from './rawJson';

/** Half-open [from, to) in ms since the epoch, and how many documents fall in it (a histogram bucket). */
export interface Bucket {
  from: number;
  to: number;
  count: number;
}

/** What planning needs of one customer: its documents, those without a timestamp, its time range. */
export interface CustomerShape {
  total: number;
  noTimestamp: number;
  minTs: number | null;
  maxTs: number | null;
}

/** A document as read from the source: field → value. Numbers keep their text (exactJson: BigInt, RawNumber). */
export type Doc = Record<string, unknown>;

/** A document in flight, with what the target needs besides its fields. */
export interface SourceDoc {
  id: string;
  fields: Doc;
  /** Elasticsearch custom routing, carried over as is. */
  routing?: string;
  /** Serialized size in bytes (for byte-bounded batches). */
  bytes: number;
  /** Read by readVersionedPage only (copy.mode in-place): the version token, as VersionedDoc.version. */
  version?: string;
  /**
   * The document's JSON as the source answered it (the fields not copied cut out), when it was read
   * without building `fields` (a raw page: solr/rawPage.ts); a writer that writes JSON writes these
   * bytes as they are; gone once `fields` is read: from then on the object is the document. A raw
   * document is not copied by spreading (its fields are an accessor of its class: rawDoc.ts).
   */
  readonly json?: RawObject;
  /** The customer field's value as a raw page's reader saw it (a string; null for anything else). */
  customer?: string | null;
}

export interface Page {
  docs: SourceDoc[];
  /** Cursor to resume after this page. */
  nextCursor: string;
  /** No more documents in the slice after this page. */
  done: boolean;
}

/**
 * The customers a read covers: one customer (null = the documents with no customer value), or a set
 * of customers read together (a packed slice: one filter, never one request per customer).
 */
export type Customers = string | null | ReadonlyArray<string | null>;

/** One customer's shape, from the aggregate planning pass (customerShapes). */
export interface CustomerShapeRow extends CustomerShape {
  /** null = documents with no customer value. */
  customer: string | null;
}

export interface CustomerCount {
  /** null = documents with no customer value. */
  customer: string | null;
  count: number;
}

export interface WriteResult {
  written: number;
  /** The target already had the document: a live write won (or a re-copy after a crash). */
  skipped: number;
  rejected: Rejection[];
}

/** A document as the cluster holds it now, with the token that conditional writes check against. */
export interface VersionedDoc {
  doc: SourceDoc;
  /** Solr `_version_`, Elasticsearch `<seq_no>:<primary_term>`: changes with every write of the document. */
  version: string;
}

/** Outcome of a conditional write: applied, or refused because the document changed (or appeared) meanwhile. */
export type ConditionalResult = 'applied' | 'conflict';

export interface SourceReader {
  /** Reachable, collection present, fields as the spec says: else a UserError saying what to fix. */
  check(): Promise<void>;
  customers(): Promise<CustomerCount[]>;
  shape(customer: string | null): Promise<CustomerShape>;
  /**
   * Every customer holding at least one document (null = documents with no customer value), with its
   * total, no-timestamp count and min/max timestamp, from paged aggregations: a few requests whatever
   * the number of customers, each giving exactly what shape(customer) gives. `only`: restrict to these
   * customers (an explicit customer list; those without documents are absent). Sorted by customer as
   * the index orders terms (UTF-8 bytes), null last.
   */
  customerShapes(only?: ReadonlyArray<string | null>): Promise<CustomerShapeRow[]>;
  histogram(customer: string | null, from: number, to: number, buckets: number): Promise<Bucket[]>;
  count(customers: Customers, bounds: SliceBounds): Promise<number>;
  /**
   * One page of the slice after `cursor` (null = from the start), sorted on the unique key: the
   * documents of one customer or of a set of customers (a packed slice) within the bounds.
   * `signal`: see TargetWriter.writeBatch. `maxBytes`: an answer larger than this is not read
   * (ResponseTooLargeError, http.ts): the caller asks again with fewer rows.
   */
  readPage(customers: Customers, bounds: SliceBounds, cursor: string | null, rows: number, signal?: AbortSignal, maxBytes?: number): Promise<Page>;
}

export interface TargetWriter {
  check(): Promise<void>;
  /** The credentials may write to the target (else a UserError saying so), found before anything is written; absent: nothing to check. */
  checkWritable?(): Promise<void>;
  /**
   * Creates the documents that the target does not have; never replaces one it has. Throws
   * RetryableError for transient trouble (429, 503, timeouts); reports per-document refusals.
   * `signal` is the claim's (SliceClaim.signal): it goes with every request, and is checked before
   * every retry or halving step inside the backend; once aborted nothing more is sent, and its reason
   * (a FencedError) is thrown — a worker that lost its claim must not land a stale write.
   */
  writeBatch(docs: SourceDoc[], signal?: AbortSignal): Promise<WriteResult>;
  /** Makes written documents visible to searches (tests and the end of a slice). */
  refresh(): Promise<void>;
  /** Merges segments after the copy (target.optimize): drops deleted documents, or merges to one segment. */
  optimize?(mode: 'expunge-deletes' | 'force-merge'): Promise<void>;
  /** Segments of the collection (primaries / shard leaders) and the documents they still hold as deleted. */
  segmentStats?(): Promise<{ segments: number; deleted: number } | null>;
}

/** What verify-integrity and its repair need: point reads, and writes that never clobber a newer live write. */
export interface Repairer {
  /** Of these ids, the ones a search finds now (committed / refreshed): what readers of the cluster see. */
  searchableIds?(ids: string[]): Promise<Set<string>>;
  /**
   * Of these documents, the ids that exist now, committed or not (real-time get / mget, ids only): the
   * worker asks the source after writing a page, to find documents deleted live after it read them.
   */
  presentIds(docs: Array<{ id: string; routing?: string }>, signal?: AbortSignal): Promise<Set<string>>;
  /** The documents with these ids that exist now (committed or not: real-time get / mget); `maxBytes` as readPage's. */
  getByIds(ids: string[], maxBytes?: number): Promise<Map<string, VersionedDoc>>;
  /** Replaces the document only if it is still at `version` (nobody wrote it since we read it). */
  replaceIfUnchanged(doc: SourceDoc, version: string): Promise<ConditionalResult>;
  /** Deletes the document only if it is still at `version`. */
  deleteIfUnchanged(id: string, version: string, routing?: string): Promise<ConditionalResult>;
}

/**
 * What a live application's writes need (dualwrite/dualWriter.ts): plain writes, as the application
 * itself would send them — the document replaces whatever the cluster holds under its id, with no
 * version condition (the application's own order is the order; the dual writer serializes per id).
 * Never used by the copy or the verifier, which never overwrite.
 */
export interface LiveWriter {
  /** Writes the whole document under its id (index or whole-document update), replacing what is there. */
  putDocument(doc: SourceDoc): Promise<void>;
  /** Deletes the document; one that is not there is no error. */
  deleteDocument(id: string, routing?: string): Promise<void>;
}

/** Outcome of a bulk conditional write (InPlaceWriter.writeIfUnchanged). */
export interface ConditionalWriteResult {
  /** Written at the version they were read at. */
  applied: number;
  /** Not written (or not known to be written): the document changed (or went) since it was read — a live write landed. */
  conflicts: string[];
  rejected: Rejection[];
}

/**
 * copy.mode in-place (issue 17): the source collection rewritten where it is. Used only by the worker
 * and verifier of an in-place migration, whose target is its source; never in copy mode.
 */
export interface InPlaceWriter {
  /** readPage, with each document's real version token (Solr `_version_`, Elasticsearch `<seq_no>:<primary_term>`). */
  readVersionedPage(customers: Customers, bounds: SliceBounds, cursor: string | null, rows: number, signal?: AbortSignal, maxBytes?: number): Promise<Page>;
  /**
   * Writes each document (whole) only while it is still at its `version`: one request per batch.
   * A document that changed since is a conflict, never overwritten. `signal`: as TargetWriter.writeBatch.
   */
  writeIfUnchanged(docs: VersionedDoc[], signal?: AbortSignal): Promise<ConditionalWriteResult>;
}

/**
 * How a collection holds nested (child) documents, as found on the server (schema and data).
 * flat: no child documents (every document is its own block). anonymous: `_childDocuments_` children
 * in a schema without _nest_path_. labelled: children in labelled fields, told apart by _nest_path_.
 */
export interface Nesting {
  mode: 'flat' | 'anonymous' | 'labelled';
  hasRoot: boolean;
  hasNestPath: boolean;
  /** Documents that are another's child. */
  children: number;
  /** Children without a _nest_path_ in a schema that has one: Solr itself reads them as top-level documents. */
  orphaned: number;
}

export interface Backend extends SourceReader, TargetWriter, Repairer, LiveWriter, Partial<InPlaceWriter> {
  /** "solr 8.11.4 at http://host:8983/solr, collection events" — never with credentials. */
  describe(): string;
  version(): Promise<string>;
  /** One cheap request that proves the cluster answers (readiness probes). Throws when it does not. */
  ping?(): Promise<void>;
  /** Solr: how the collection holds nested (child) documents; absent = it holds none (plan-time checks). */
  nesting?(): Promise<Nesting>;
  close(): Promise<void>;
}

/** The two index settings bulk loading changes; null = not set on the index (its default applies). */
export interface BulkSettings {
  refresh_interval: string | null;
  number_of_replicas: string | null;
}

/** What a target must do for preparation (prepare/targetPrep.ts). Each call is idempotent (it may be repeated after a crash). */
export interface IndexPreparer {
  indexExists(): Promise<boolean>;
  /**
   * Creates the index from the endpoint's prepare files (or with these mappings, and the settings
   * file: a mapping translated from a Solr source's schema); succeeds if it exists already.
   */
  createIndex(mappings?: Record<string, unknown>): Promise<void>;
  /** refresh_interval and number_of_replicas of every concrete index behind the name. */
  readBulkSettings(): Promise<Record<string, BulkSettings>>;
  applyBulkSettings(values: Record<string, BulkSettings>): Promise<void>;
  /** target.indexPattern: the concrete indices of the set that exist now (they are tuned and restored with `collection`). */
  indicesOfSet?(): Promise<string[]>;
}
