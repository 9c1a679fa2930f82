/**
 * Elasticsearch (7.x, 8.x and 9.x) as source and target, through the official clients (client.ts);
 * OpenSearch (2.x, 3.x) is the same backend with OpenSearch's client (../opensearch/osBackend.ts).
 * Reading: `search_after` sorted on the unique key (a keyword field holding `_id`), the slice as a
 * filter; the cursor is the last sort values, so it survives any restart (a scroll or point-in-time
 * id expires). Writing: bulk `create` (409 = the live write won), or `index` with
 * `version_type: external` when the spec names a version field (an equal or newer target version
 * is a live write that won). `_id` and `_routing` are kept.
 */
import type { Endpoint, Spec } from '../../config/spec';
import type { Rejection, SliceBounds } from '../../coordination/workNode';
import { RetryableError, UserError, describeError } from '../../errors';
import { log, safeUrl } from '../../log';
import { withBackoff } from '../../retry';
import type {
  Backend, Bucket, BulkSettings, ConditionalResult, ConditionalWriteResult, CustomerCount, CustomerShape, Customers, CustomerShapeRow, Doc, IndexPreparer, Page, SourceDoc, VersionedDoc, WriteResult,
} from '../types';
import { bulkOutcome, bulkRequest, externalVersion, ndjsonBytes, noVersionReason, versionOf } from './bulk';
import { EsApi, EsStatusError, detectServer, type Distribution } from './client';
import { exactJson } from '../exactJson';
import { jsonBytes, withSize } from '../http';
import { mappingProblems, readPrepareFile, unwrapMappings, unwrapSettings } from './mapping';
import { sourceExcluder, type SourceExcluder } from './sourceFilter';
import { parseIndexPattern, type IndexPattern } from '../../config/indexPattern';
import {
  aggDate, customersRequest, encodeCursor, histogramBuckets, histogramRequest, incompleteReason, MAX_PAGE, pageRequest,
  shapeRequest, shapeRows, shapesRequest, selectBody, sliceQuery, withSelection, type FieldNames, type Query,
} from './queries';
import { rawEsPages, type RawEsPage } from './rawPage';
import { walked } from '../rawDoc';
import { chunked } from '../../util';

export interface EsBackendOptions {
  /** The source is checked for documents the cursor cannot page (no unique key value). */
  role: 'source' | 'target';
  excludeFields?: string[];
  /** copy.versionField: external versioning (only a strictly older version is replaced) instead of create-only. */
  versionField?: string;
  /** Retries of the documents of one bulk that the target was too busy to take (spec worker.requestRetries). */
  itemRetries?: number;
  /** Customers per composite aggregation page (customers and customerShapes). */
  customersPageSize?: number;
  /** Which distribution `GET /` must find (the spec's kind); default elasticsearch. */
  distribution?: Distribution;
  /**
   * Target of a Solr source with target.prepare: a missing index is created from the mapping translated
   * from the Solr schema (backends/solr/schemaMapping.ts), checked there before anything is written.
   */
  mappingFromSource?: boolean;
  /**
   * Target only, target.indexPattern (issue 17, one index into many): each document is written into the
   * index the pattern names for it, created on demand with the mapping of `collection` (or
   * target.prepare.mappingsFile); reads, counts and lookups go to the whole set (the pattern's wildcard).
   */
  indexPattern?: string;
  /**
   * The copy's source, into Elasticsearch or OpenSearch, without copy.excludeFields: pages read from
   * the answer's bytes, each `_source` kept as it came and written as it is (rawPage.ts, issue 15).
   */
  rawPages?: boolean;
}

/** Ids per mget request. */
const MGET_CHUNK = 500;
/** A look by ids only (which still exist, `_source: false`): ids a request, and bytes of them a body. */
const ID_LOOK = { ids: 5000, bytes: 512 * 1024 };

export class ElasticsearchBackend implements Backend, IndexPreparer {
  private api: Promise<EsApi> | null = null;
  private serverVersion: string | null = null;
  /** copy.excludeFields, applied to each `_source` as read (sourceFilter.ts: never by the server). */
  private readonly exclude: SourceExcluder;
  /** target.indexPattern, parsed; null: one index. */
  private readonly pattern: IndexPattern | null;
  /** Indices of the pattern's set known to exist (created or found) by this process. */
  private readonly knownIndices = new Set<string>();
  /**
   * target.indexPattern: indices of the set this process wrote into since it last refreshed them. Over
   * the set a look-up by id is a search (mget reads one index), which sees refreshed documents only; a
   * look-up refreshes these first, so this process finds what it wrote itself a moment ago (the look
   * for live deletes right after a page's writes: liveDeletes.ts).
   */
  private readonly unrefreshed = new Set<string>();
  /** indicesBehind(), once read (indicesChanged reads it again). */
  private behind: Promise<string[] | null> | null = null;
  /** The definition new indices of the set are created with, read once. */
  private setDefinition: Promise<Record<string, unknown>> | null = null;

  constructor(readonly endpoint: Endpoint, private readonly fields: FieldNames, private readonly opts: EsBackendOptions) {
    this.exclude = sourceExcluder(opts.excludeFields ?? []);
    this.pattern = opts.indexPattern ? parseIndexPattern(opts.indexPattern) : null;
    // The exclusion patterns reach into objects (sourceFilter.ts): with any, pages are parsed.
    this.rawPage = opts.rawPages && !(opts.excludeFields ?? []).length ? rawEsPages(fields.customer) : null;
  }

  /** Reads a raw page's answer (opts.rawPages), or null. */
  private readonly rawPage: ((b: Buffer) => RawEsPage | null) | null;

  static forSpec(endpoint: Endpoint, spec: Spec, extra: Pick<EsBackendOptions, 'rawPages'> = {}): ElasticsearchBackend {
    return new ElasticsearchBackend(endpoint, spec.fields, { ...ElasticsearchBackend.optionsFor(endpoint, spec), ...extra });
  }

  /** The backend options a spec gives one of its endpoints. */
  static optionsFor(endpoint: Endpoint, spec: Spec): EsBackendOptions {
    return {
      role: endpoint === spec.source ? 'source' : 'target',
      excludeFields: spec.copy.excludeFields,
      versionField: spec.copy.versionField,
      itemRetries: spec.worker.requestRetries,
      distribution: endpoint.kind === 'opensearch' ? 'opensearch' : 'elasticsearch',
      mappingFromSource: endpoint === spec.target && spec.source.kind === 'solr' && !!endpoint.prepare,
      ...(endpoint === spec.target && endpoint.indexPattern ? { indexPattern: endpoint.indexPattern } : {}),
    };
  }

  private get distribution(): Distribution {
    return this.opts.distribution ?? 'elasticsearch';
  }

  /** What is read, counted, refreshed: the index, or with target.indexPattern the whole set (`events-*`). */
  private get index(): string {
    return this.pattern ? this.pattern.wildcard : this.endpoint.collection;
  }

  private get baseUrl(): string {
    return (Array.isArray(this.endpoint.url) ? this.endpoint.url[0] : this.endpoint.url).replace(/\/+$/, '');
  }

  describe(): string {
    return this.pattern ? `${this.cluster()}, indices ${this.pattern.text} (${this.pattern.wildcard})` : `${this.cluster()}, index ${this.index}`;
  }

  /** "elasticsearch 8.19.4 at http://host:9200", "opensearch 3.6.0 at ..." */
  private cluster(): string {
    return `${this.distribution}${this.serverVersion ? ` ${this.serverVersion}` : ''} at ${safeUrl(this.baseUrl)}`;
  }

  /** The client for the server's major, opened on first use (`GET /` decides which). */
  private client(): Promise<EsApi> {
    if (!this.api) {
      this.api = EsApi.open(this.endpoint, this.distribution).then((api) => {
        this.serverVersion = api.info.version;
        return api;
      });
      this.api.catch(() => (this.api = null));
    }
    return this.api;
  }

  async version(): Promise<string> {
    await this.client();
    return this.serverVersion!;
  }

  /** `GET /` every time (not the cached version): readiness must see the cluster go away. */
  async ping(): Promise<void> {
    await detectServer(this.endpoint, this.distribution);
  }

  async check(): Promise<void> {
    const api = await this.client();
    let mappings: Record<string, { mappings: any }>;
    try {
      mappings = await api.getMapping(this.endpoint.collection);
    } catch (e) {
      if (!(e instanceof EsStatusError && e.status === 404)) throw e;
      return this.checkMissingIndex();
    }
    const problems = Object.entries(mappings).flatMap(([name, m]) =>
      mappingProblems(m.mappings, this.fields, this.opts.versionField).map((p) => (Object.keys(mappings).length > 1 ? `${name}: ${p}` : p)));
    if (problems.length) {
      throw new UserError(`The ${this.opts.role} index "${this.endpoint.collection}" on ${this.cluster()} cannot be migrated:\n  - ${problems.join('\n  - ')}`,
        'Map the fields as the README section "Elasticsearch" says (a keyword copy of the id as fields.uniqueKey, the customer as keyword, '
        + 'the timestamp as date), or point fields.* in the spec at fields that are.');
    }
    if (this.opts.role === 'source') {
      const res = await api.count(this.index, { bool: { must_not: [{ exists: { field: this.fields.uniqueKey } }] } });
      const without = Number(res.count);
      if (without > 0) {
        throw new UserError(`${without} document(s) of ${this.describe()} have no value in "${this.fields.uniqueKey}" (fields.uniqueKey): the cursor sorts on it and could not page past them.`,
          `Give every document its _id in "${this.fields.uniqueKey}" (an update by query, or re-index them), or point fields.uniqueKey at a keyword field every document has.`);
      }
      const selection = this.selection();
      if (selection) {
        try {
          await api.count(this.index, selection);
        } catch (e) {
          if (!(e instanceof EsStatusError && e.status === 400)) throw e;
          throw new UserError(`${this.describe()} refuses source.query ${JSON.stringify(selection)}: ${e.reason}`,
            'Fix source.query: one Elasticsearch query clause, e.g. { range: { timestamp: { lt: "2020-01-01" } } }. Nothing was changed.');
        }
      }
    }
  }

  /** No such index: fine for a target that `target.prepare` will create from a mappings file, else a UserError. */
  private checkMissingIndex(): void {
    const prepare = this.endpoint.prepare;
    // Solr source: the mapping comes from its schema (and the file, if any), checked by target.prepare.
    if (this.opts.role === 'target' && this.opts.mappingFromSource) return;
    if (this.opts.role === 'target' && prepare?.mappingsFile) {
      const problems = mappingProblems(this.definition().mappings, this.fields, this.opts.versionField);
      if (problems.length) {
        throw new UserError(`The mappings file ${prepare.mappingsFile} (target.prepare.mappingsFile) would create an index bluegreen cannot migrate into:\n  - ${problems.join('\n  - ')}`,
          'Fix the mappings file: the README section "Elasticsearch" says what the mapping must provide.');
      }
      return;
    }
    throw new UserError(`${capitalize(this.cluster())} has no index (or alias) "${this.endpoint.collection}".`,
      this.opts.role === 'source'
        ? 'Fix source.collection in the spec: it names the index or alias to copy from.'
        : 'Create the target index with its mapping (or set target.prepare.mappingsFile so that `bluegreen plan` creates it), or fix target.collection.');
  }

  /** The index definition from target.prepare's files (JSON or YAML). */
  private definition(): { mappings: Record<string, unknown>; settings?: Record<string, unknown> } {
    const prepare: NonNullable<Endpoint['prepare']> = this.endpoint.prepare ?? { tuneForBulk: false, mappingsFileMode: 'merge' };
    const read = readPrepareFile;
    if (!prepare.mappingsFile) {
      throw new UserError(`${capitalize(this.cluster())} has no index "${this.endpoint.collection}", and there is no target.prepare.mappingsFile to create it from.`,
        'Create the index yourself, or set target.prepare.mappingsFile.');
    }
    const mappings = unwrapMappings(read(prepare.mappingsFile, 'target.prepare.mappingsFile'));
    return { mappings, ...this.settingsDefinition() };
  }

  /** target.prepare.settingsFile, if any, as the `settings` of the index to create. */
  private settingsDefinition(): { settings?: Record<string, unknown> } {
    const file = this.endpoint.prepare?.settingsFile;
    if (!file) return {};
    return { settings: unwrapSettings(readPrepareFile(file, 'target.prepare.settingsFile')) };
  }

  /** source.query (an Elasticsearch query object), or undefined: narrows every search and count of the source. */
  private selection(): Query | undefined {
    const q = this.endpoint.query;
    return q && typeof q === 'object' ? (q as Query) : undefined;
  }

  /** One search that must be complete: partial answers are retried, never taken for the truth. */
  private async search(body: Record<string, unknown>, params: Record<string, unknown> = {}, signal?: AbortSignal, maxBytes?: number): Promise<any> {
    const api = await this.client();
    const res = await api.search(this.index, selectBody(body, this.selection()), { allow_partial_search_results: false, ...params }, signal, maxBytes);
    this.assertComplete(res);
    return res;
  }

  /** A search answer that is not complete (timed out, failed shards) is retried, never taken for the truth. */
  private assertComplete(res: unknown): void {
    const why = incompleteReason(res);
    if (why) throw new RetryableError(`partial results from ${this.describe()}: ${why}`);
  }

  async customers(): Promise<CustomerCount[]> {
    const out: CustomerCount[] = [];
    const pageSize = this.opts.customersPageSize ?? 1000;
    let after: Record<string, unknown> | undefined;
    for (;;) {
      const res = await this.search(customersRequest(this.fields.customer, pageSize, after));
      const agg = res.aggregations.customers;
      for (const b of agg.buckets as Array<{ key: { customer: unknown }; doc_count: number }>) {
        if (Number(b.doc_count) > 0) out.push({ customer: b.key.customer === null ? null : String(b.key.customer), count: Number(b.doc_count) });
      }
      if (agg.buckets.length < pageSize || !agg.after_key) return out;
      after = agg.after_key;
    }
  }

  async shape(customer: string | null): Promise<CustomerShape> {
    const res = await this.search(shapeRequest(this.fields, customer));
    const total = Number(res.hits.total?.value ?? res.hits.total);
    return { total, noTimestamp: Number(res.aggregations.noTs.doc_count), minTs: aggDate(res.aggregations.minTs), maxTs: aggDate(res.aggregations.maxTs) };
  }

  /** Pages of a composite aggregation by `after_key`, each bucket with the aggregations of shape(). */
  async customerShapes(only?: ReadonlyArray<string | null>): Promise<CustomerShapeRow[]> {
    const pageSize = this.opts.customersPageSize ?? 1000;
    const rows: CustomerShapeRow[] = [];
    let after: Record<string, unknown> | undefined;
    for (;;) {
      const res = await this.search(shapesRequest(this.fields, pageSize, only, after));
      const agg = res.aggregations.customers;
      rows.push(...shapeRows(agg.buckets));
      if (agg.buckets.length < pageSize || !agg.after_key) break;
      after = agg.after_key;
    }
    // The missing bucket comes first in a composite's ascending order: last here, as in Solr's answer.
    return [...rows.filter((r) => r.customer !== null), ...rows.filter((r) => r.customer === null)];
  }

  async histogram(customer: string | null, from: number, to: number, buckets: number): Promise<Bucket[]> {
    const { gap, body } = histogramRequest(this.fields, customer, from, to, buckets);
    const res = await this.search(body);
    return histogramBuckets(from, to, gap, res.aggregations.histogram.buckets);
  }

  async count(customers: Customers, bounds: SliceBounds): Promise<number> {
    const api = await this.client();
    const res = await api.count(this.index, withSelection(sliceQuery(this.fields, customers, bounds), this.selection())!);
    const why = incompleteReason(res);
    if (why) throw new RetryableError(`partial count from ${this.describe()}: ${why}`);
    return Number(res.count);
  }

  async readPage(customers: Customers, bounds: SliceBounds, cursor: string | null, rows: number, signal?: AbortSignal, maxBytes?: number): Promise<Page> {
    // No filter_path and no _source filter: either makes the server re-render `_source` through
    // doubles (`1.0` stays, but `1E+2` → `100.0`, `1e-400` → `0.0`, 40 digits → 17). Unfiltered, the
    // `_source` comes back byte for byte as stored, and exactJson keeps every number's text.
    const request = pageRequest(this.fields, customers, bounds, cursor, rows);
    const page = (docs: SourceDoc[], lastSort: unknown[] | null): Page => ({
      docs,
      nextCursor: lastSort ? encodeCursor(lastSort) : cursor ?? '',
      // A short page is the last one: search_after has nothing more after it.
      done: docs.length < Math.min(rows, MAX_PAGE),
    });
    let res: any;
    if (this.rawPage) {
      // The answer's bytes, each _source kept as it came (rawPage.ts); an answer the walker does not
      // take is parsed as it always was (no second request).
      const api = await this.client();
      const bytes = await api.searchBytes(this.index, selectBody(request, this.selection()), { allow_partial_search_results: false }, signal, maxBytes);
      const raw = walked(this.rawPage, bytes);
      if (raw) {
        this.assertComplete(raw.header);
        return page(raw.docs, raw.lastSort === null ? null : exactJson.parse(raw.lastSort));
      }
      res = exactJson.parse(bytes.toString('utf8'));
      this.assertComplete(res);
    } else {
      res = await this.search(request, {}, signal, maxBytes);
    }
    const hits: any[] = res.hits?.hits ?? [];
    const last = hits[hits.length - 1];
    return page(hits.map((h) => this.toSourceDoc(h)), last ? last.sort : null);
  }

  /** readPage with `seq_no_primary_term`: each document carries its `<seq_no>:<primary_term>` (copy.mode in-place). */
  async readVersionedPage(customers: Customers, bounds: SliceBounds, cursor: string | null, rows: number, signal?: AbortSignal, maxBytes?: number): Promise<Page> {
    const res = await this.search({ ...pageRequest(this.fields, customers, bounds, cursor, rows), seq_no_primary_term: true }, {}, signal, maxBytes);
    const hits: any[] = res.hits?.hits ?? [];
    const last = hits[hits.length - 1];
    return {
      docs: hits.map((h) => ({ ...this.toSourceDoc(h), version: `${h._seq_no}:${h._primary_term}` })),
      nextCursor: last ? encodeCursor(last.sort) : cursor ?? '',
      done: hits.length < Math.min(rows, MAX_PAGE),
    };
  }

  /**
   * One bulk of `index` actions, each with if_seq_no / if_primary_term (and its routing): item 409 is
   * a conflict (written since, or deleted), never retried; busy items (429, 5xx) are sent again at
   * the same version; other item errors reject the document.
   */
  async writeIfUnchanged(docs: VersionedDoc[], signal?: AbortSignal): Promise<ConditionalWriteResult> {
    const api = await this.client();
    const out: ConditionalWriteResult = { applied: 0, conflicts: [], rejected: [] };
    let pending = docs;
    const retries = this.opts.itemRetries ?? 6;
    await withBackoff(async () => {
      if (pending.length === 0) return;
      signal?.throwIfAborted();
      const lines: string[] = [];
      for (const { doc, version } of pending) {
        lines.push(exactJson.stringify({ index: { _id: doc.id, ...seqNoParams(version), ...(doc.routing !== undefined ? { routing: doc.routing } : {}) } }), exactJson.stringify(doc.fields));
      }
      const res = await api.bulk(this.index, ndjsonBytes(lines), signal);
      const items: any[] = res.items ?? [];
      if (items.length !== pending.length) throw new Error(`the bulk answer has ${items.length} items for ${pending.length} documents sent`);
      const again: VersionedDoc[] = [];
      let reason = '';
      items.forEach((item, i) => {
        const r = item.index ?? Object.values(item)[0];
        const status = Number(r?.status);
        const type: string | undefined = r?.error?.type;
        if (status >= 200 && status < 300) out.applied++;
        else if (status === 409 || status === 404) out.conflicts.push(pending[i].doc.id);
        else if (status === 429 || status >= 500 || status === 408) {
          again.push(pending[i]);
          reason = `HTTP ${status} ${type ?? ''}`;
        } else if (type === 'index_not_found_exception' || type === 'cluster_block_exception' || status === 401 || status === 403) {
          throw new Error(`the index refused the batch: HTTP ${status} ${type ?? ''} ${r?.error?.reason ?? ''}`);
        } else out.rejected.push({ id: pending[i].doc.id, reason: `${type ?? `HTTP ${status}`}: ${r?.error?.reason ?? 'no reason given'}`.slice(0, 300) });
      });
      pending = again;
      if (again.length) throw new ItemsToRetry(again.length, reason);
    }, {
      attempts: retries + 1, initialDelayMs: 500, maxDelayMs: 30_000, retryable: (e) => e instanceof ItemsToRetry, signal,
      onRetry: (e, attempt, delayMs) => log.warn({ index: this.index, attempt, delayMs, err: describeError(e) }, 'index busy: sending the refused conditional writes again'),
    });
    return out;
  }

  private toSourceDoc(hit: { _id: string; _routing?: string; _source?: Doc }): SourceDoc {
    const fields = this.exclude(hit._source ?? {});
    return {
      id: String(hit._id),
      fields,
      ...(hit._routing !== undefined && hit._routing !== null ? { routing: String(hit._routing) } : {}),
      // Measured, not written out (no second copy of a large document only to count it).
      bytes: jsonBytes(fields),
    };
  }

  /**
   * A bulk over the target's size limit (HTTP 413: http.max_content_length) is sent again in halves;
   * a document refused for its size on its own is rejected with its size, never retried.
   */
  async writeBatch(docs: SourceDoc[], signal?: AbortSignal): Promise<WriteResult> {
    try {
      return await this.writeBulk(docs, signal);
    } catch (e) {
      if (!(e instanceof EsStatusError) || e.status !== 413 || docs.length === 0) throw e;
      if (docs.length === 1) {
        return { written: 0, skipped: 0, rejected: [{ id: docs[0].id, reason: withSize(`HTTP ${e.status} ${e.reason || 'request entity too large'}`, docs[0].bytes) }] };
      }
      const mid = Math.ceil(docs.length / 2);
      const a = await this.writeBatch(docs.slice(0, mid), signal);
      const b = await this.writeBatch(docs.slice(mid), signal);
      return { written: a.written + b.written, skipped: a.skipped + b.skipped, rejected: [...a.rejected, ...b.rejected] };
    }
  }

  private async writeBulk(docs: SourceDoc[], signal?: AbortSignal): Promise<WriteResult> {
    signal?.throwIfAborted();
    const api = await this.client();
    const indexOf = this.pattern ? (d: SourceDoc) => this.pattern!.indexOf(d) : undefined;
    const first = bulkRequest(docs, this.opts.versionField, indexOf);
    await this.ensureIndices(first.indices);
    const result: WriteResult = { written: 0, skipped: 0, rejected: [...first.refused] };
    let pending = first;
    const retries = this.opts.itemRetries ?? 6;
    try {
      await withBackoff(async () => {
        if (pending.sent.length === 0) return;
        // A whole-request 429/503 or a lost connection throws RetryableError from here, to the worker.
        // With a pattern every action names its _index; the URL's is the mapping's index, never used.
        const res = await api.bulk(this.pattern ? this.endpoint.collection : this.index, pending.body, signal);
        const outcome = res.errors === false
          ? { written: pending.sent.length, skipped: 0, rejected: [] as Rejection[], retry: [], retryReason: null, indexProblem: null }
          : bulkOutcome(pending.sent, res);
        if (outcome.indexProblem) throw new Error(`the target index refused the batch: ${outcome.indexProblem}`);
        result.written += outcome.written;
        result.skipped += outcome.skipped;
        result.rejected.push(...outcome.rejected);
        if (outcome.retry.length) {
          pending = bulkRequest(outcome.retry, this.opts.versionField, indexOf);
          throw new ItemsToRetry(outcome.retry.length, outcome.retryReason!);
        }
      }, {
        attempts: retries + 1,
        initialDelayMs: 500,
        maxDelayMs: 30_000,
        retryable: (e) => e instanceof ItemsToRetry,
        // The claim's: a worker that lost its claim sends none of the refused documents again.
        signal,
        onRetry: (e, attempt, delayMs) => log.warn({ index: this.index, attempt, delayMs, err: describeError(e) }, 'target busy: sending the refused documents again'),
      });
    } catch (e) {
      if (!(e instanceof ItemsToRetry)) throw e;
      // Not a RetryableError: the worker would send the whole batch again. The attempt fails and the
      // slice resumes from its checkpoint later (what was written meanwhile then counts as skipped).
      throw new Error(`${e.message}, still, after ${retries} retries`);
    }
    return result;
  }

  /**
   * target.indexPattern: the indices a batch writes into exist before it is sent, each created (once,
   * idempotent: another worker may create it at the same moment) with the set's definition.
   */
  private async ensureIndices(indices: Iterable<string>): Promise<void> {
    const api = await this.client();
    for (const name of indices) {
      this.unrefreshed.add(name);
      if (this.knownIndices.has(name)) continue;
      if (!(await api.indexExists(name))) {
        try {
          await api.createIndex(name, await this.definitionOfNewIndex());
          log.info({ index: name, pattern: this.pattern?.text }, 'index of the pattern created');
        } catch (e) {
          if (!(e instanceof EsStatusError && e.type === 'resource_already_exists_exception')) throw e;
        }
      }
      this.knownIndices.add(name);
    }
  }

  /**
   * An index of the set as it is created now: with target.prepare.tuneForBulk it takes the bulk
   * settings `collection` has at this moment (tuned during the copy, restored after it: targetPrep
   * gives the indices of the set what it gives `collection`), so one created mid-copy starts tuned
   * and one created after the restore (a repair) does not stay tuned.
   */
  private async definitionOfNewIndex(): Promise<Record<string, unknown>> {
    const def = await this.definitionOfSet();
    if (!this.endpoint.prepare?.tuneForBulk) return def;
    const now = Object.values(await this.readBulkSettings())[0];
    return now ? withBulkSettings(def, now) : def;
  }

  /** target.indexPattern: the indices of the set that exist now (none: []). */
  async indicesOfSet(): Promise<string[]> {
    if (!this.pattern) return [];
    return Object.keys(await (await this.client()).getSettings(this.pattern.wildcard, ['index.number_of_replicas'])).sort();
  }

  /** target.prepare.mappingsFile (and settingsFile), else a copy of the mapping of `collection`. */
  private definitionOfSet(): Promise<Record<string, unknown>> {
    this.setDefinition ??= (async () => {
      if (this.endpoint.prepare?.mappingsFile) return this.definition();
      const mappings = await (await this.client()).getMapping(this.endpoint.collection);
      const own = Object.values(mappings)[0]?.mappings;
      if (!own) throw new Error(`no mapping found for ${this.endpoint.collection} to create the indices of ${this.pattern?.text}`);
      return { mappings: own, ...this.settingsDefinition() };
    })();
    this.setDefinition.catch(() => (this.setDefinition = null));
    return this.setDefinition;
  }

  /** The concrete index of the set that holds this id now (target.indexPattern), or null. */
  private async indexHolding(id: string): Promise<string | null> {
    await this.refreshWritten();
    const found = await this.search({ size: 1, track_total_hits: false, _source: false, query: { ids: { values: [id] } } });
    const hit = found.hits.hits[0];
    return hit ? String(hit._index) : null;
  }

  /** The index a write of this document goes to: the collection, or the pattern's choice (created if need be). */
  private async writeIndex(doc: SourceDoc): Promise<{ index: string } | { reason: string }> {
    if (!this.pattern) return { index: this.index };
    const chosen = this.pattern.indexOf(doc);
    if ('index' in chosen) await this.ensureIndices([chosen.index]);
    return chosen;
  }

  async refresh(): Promise<void> {
    await (await this.client()).refresh(this.index);
  }

  /** target.indexPattern: the indices this process wrote into since the last time, refreshed (see `unrefreshed`). */
  private async refreshWritten(): Promise<void> {
    if (!this.pattern || this.unrefreshed.size === 0) return;
    const names = [...this.unrefreshed];
    this.unrefreshed.clear();
    try {
      await (await this.client()).refresh(names.join(','));
    } catch (e) {
      // Looked up unrefreshed then (a miss means: left as it is); tried again at the next look-up.
      for (const n of names) this.unrefreshed.add(n);
      log.warn({ indices: names.slice(0, 10), err: describeError(e) }, 'could not refresh the indices written into before a look-up by id');
    }
  }

  async optimize(mode: 'expunge-deletes' | 'force-merge'): Promise<void> {
    await (await this.client()).forceMerge(this.index, mode === 'force-merge' ? { max_num_segments: 1 } : { only_expunge_deletes: true });
  }

  async segmentStats(): Promise<{ segments: number; deleted: number } | null> {
    const p = (await (await this.client()).docStats(this.index))?._all?.primaries;
    if (p?.docs?.deleted === undefined || p?.segments?.count === undefined) return null;
    return { segments: Number(p.segments.count), deleted: Number(p.docs.deleted) };
  }

  /**
   * Real-time mget by id. mget finds a document by hashing its id to a shard, so a document written
   * with custom routing may not be found that way on a multi-shard index: ids mget does not find are
   * looked for again with an `ids` search, which sees every shard (but only refreshed documents).
   */
  /** Which of these ids a search finds now (refreshed, visible), unlike mget's real-time read. */
  async searchableIds(ids: string[]): Promise<Set<string>> {
    const out = new Set<string>();
    for (let i = 0; i < ids.length; i += MGET_CHUNK) {
      const chunk = ids.slice(i, i + MGET_CHUNK);
      const found = await this.search({ size: chunk.length, track_total_hits: false, _source: false, query: { ids: { values: chunk } } });
      for (const h of found.hits.hits as any[]) out.add(String(h._id));
    }
    return out;
  }

  async presentIds(docs: Array<{ id: string; routing?: string }>, signal?: AbortSignal): Promise<Set<string>> {
    // mget reads one index: over the pattern's set the ids are searched (refreshed documents only).
    if (this.pattern) return this.searchableIds(docs.map((d) => d.id));
    const { present, errored } = await this.presentNow(docs, signal);
    // A miss is taken for a delete, and an error for present: first make sure the alias looked through
    // has not gained an index since it was read (a rollover adds one; an alias of one becomes two).
    const doubtful = docs.filter((d) => !present.has(d.id) || errored.has(d.id));
    if (doubtful.length > 0 && (await this.indicesChanged())) {
      const again = await this.presentNow(doubtful, signal);
      for (const d of doubtful) {
        if (again.present.has(d.id)) present.add(d.id);
        else present.delete(d.id);
      }
    }
    return present;
  }

  /** presentIds through the indices behind the name as last read; `errored`: the ids counted present for an item error. */
  private async presentNow(docs: Array<{ id: string; routing?: string }>, signal?: AbortSignal): Promise<{ present: Set<string>; errored: Set<string> }> {
    const api = await this.client();
    const present = new Set<string>();
    const errored = new Set<string>();
    // An alias of several indices: mget through it answers every item with an error (and an error
    // counts present below, so no live delete would ever be seen). Each id is asked of every index
    // behind it instead, in the same request; found in any, it is there.
    const behind = await this.indicesBehind();
    const perId = behind?.length ?? 1;
    // Ids only, both ways: a few thousand a request (a request costs more than its ids: issue 15).
    for (const run of chunked(docs, Math.max(1, Math.floor(ID_LOOK.ids / perId)), ID_LOOK.bytes, (d) => (d.id.length + (d.routing?.length ?? 0) + 24) * perId)) {
      signal?.throwIfAborted();
      const items = run.map((d) => (d.routing === undefined ? { _id: d.id } : { _id: d.id, routing: d.routing }));
      const chunk = behind ? items.flatMap((item) => behind.map((_index) => ({ _index, ...item }))) : items;
      const res = await api.mget(this.index, chunk, { _source: false });
      for (const d of res.docs as any[]) {
        // An item error (a routing the mapping requires, a shard unavailable) is not "gone": count it present.
        if (d.found || d.error) present.add(String(d._id));
        if (d.error) errored.add(String(d._id));
      }
    }
    return { present, errored };
  }

  /** The indices behind endpoint.collection (readIndicesBehind), read once, read again after a failed read. */
  private indicesBehind(): Promise<string[] | null> {
    if (!this.behind) {
      const reading = this.readIndicesBehind();
      this.behind = reading;
      reading.catch(() => { if (this.behind === reading) this.behind = null; });
    }
    return this.behind;
  }

  /** The indices behind endpoint.collection when it names more than one (an alias of several indices), else null (from its mappings, as check() reads them). */
  private async readIndicesBehind(): Promise<string[] | null> {
    let mappings: Record<string, unknown>;
    try {
      mappings = await (await this.client()).getMapping(this.endpoint.collection);
    } catch (e) {
      if (e instanceof EsStatusError && e.status === 404) return null; // no such index (yet): one name, as before
      throw e;
    }
    const names = Object.keys(mappings);
    return names.length > 1 ? names.sort() : null;
  }

  /** Whether the indices behind endpoint.collection are other now than when last read (read again now). */
  private async indicesChanged(): Promise<boolean> {
    const before = (await this.indicesBehind())?.join(',') ?? null;
    this.behind = null;
    return ((await this.indicesBehind())?.join(',') ?? null) !== before;
  }

  async getByIds(ids: string[], maxBytes?: number): Promise<Map<string, VersionedDoc>> {
    const api = await this.client();
    await this.refreshWritten();
    const out = new Map<string, VersionedDoc>();
    for (let i = 0; i < ids.length; i += MGET_CHUNK) {
      const chunk = ids.slice(i, i + MGET_CHUNK);
      // The whole _source (as readPage): _source_excludes would have the server re-render it.
      // Over the pattern's set (mget reads one index) only the search below looks.
      const res = this.pattern ? { docs: [] } : await api.mget(this.index, chunk.map((_id) => ({ _id })), {}, maxBytes);
      for (const d of res.docs as any[]) {
        // An item error (e.g. routing required by the mapping) is a miss here: the search below finds it.
        if (d.found) out.set(String(d._id), this.versioned(d));
      }
      const missing = chunk.filter((id) => !out.has(id));
      if (missing.length === 0) continue;
      const found = await this.search({
        size: missing.length, track_total_hits: false, seq_no_primary_term: true, query: { ids: { values: missing } },
      }, {}, undefined, maxBytes);
      for (const h of found.hits.hits as any[]) out.set(String(h._id), this.versioned(h));
    }
    return out;
  }

  private versioned(d: any): VersionedDoc {
    return { doc: this.toSourceDoc(d), version: `${d._seq_no}:${d._primary_term}` };
  }

  /**
   * Without a version field: only while the target document is still at the seq_no/primary_term the
   * re-check saw. With copy.versionField: at the source document's own version with
   * `version_type: external`, as the copy writes (bulk.ts), so it replaces only a strictly older
   * target version and never an equal or newer one (a live write), whatever happened since the
   * re-check (Elasticsearch takes no seq_no condition together with an external version).
   */
  async replaceIfUnchanged(doc: SourceDoc, version: string): Promise<ConditionalResult> {
    const api = await this.client();
    const routing = doc.routing !== undefined ? { routing: doc.routing } : {};
    const field = this.opts.versionField;
    const target = await this.writeIndex(doc);
    if ('reason' in target) {
      log.warn({ index: this.index, id: doc.id, reason: target.reason }, 'not repaired: the document names no index of target.indexPattern');
      return 'conflict';
    }
    const index = target.index;
    if (field) {
      const v = versionOf(doc.fields[field]);
      if (v === null) {
        log.warn({ index: this.index, id: doc.id, reason: noVersionReason(doc, field) }, 'not repaired: the source document has no usable version');
        return 'conflict';
      }
      const { version: ext, version_type } = externalVersion(v);
      return this.conditional(() => api.index(index, doc.id, doc.fields, { version: ext.toString(), version_type, ...routing }));
    }
    return this.conditional(() => api.index(index, doc.id, doc.fields, { ...seqNoParams(version), ...routing }));
  }

  async deleteIfUnchanged(id: string, version: string, routing?: string): Promise<ConditionalResult> {
    const api = await this.client();
    const index = this.pattern ? await this.indexHolding(id) : this.index;
    if (index === null) return 'conflict';
    return this.conditional(() => api.delete(index, id, { ...seqNoParams(version), ...(routing !== undefined ? { routing } : {}) }));
  }

  /** The live application's write: `index` (create or replace), no condition. */
  async putDocument(doc: SourceDoc): Promise<void> {
    const api = await this.client();
    const target = await this.writeIndex(doc);
    if ('reason' in target) throw new Error(`document ${doc.id}: ${target.reason}`);
    await api.index(target.index, doc.id, doc.fields, doc.routing !== undefined ? { routing: doc.routing } : {});
  }

  /** A document that is not there (404 not_found) is no error: it is deleted. */
  async deleteDocument(id: string, routing?: string): Promise<void> {
    const api = await this.client();
    const index = this.pattern ? await this.indexHolding(id) : this.index;
    if (index === null) return;
    try {
      await api.delete(index, id, routing !== undefined ? { routing } : {});
    } catch (e) {
      if (!(e instanceof EsStatusError && e.status === 404 && e.type !== 'index_not_found_exception')) throw e;
    }
  }

  /** if_seq_no / if_primary_term: applied only while nobody wrote the document since it was read. */
  private async conditional(write: () => Promise<unknown>): Promise<ConditionalResult> {
    try {
      await write();
      return 'applied';
    } catch (e) {
      // 409: written since (or deleted: "no document was found"); 404: gone.
      if (e instanceof EsStatusError && (e.status === 409 || e.status === 404)) return 'conflict';
      throw e;
    }
  }

  // ---- IndexPreparer (target.prepare): each call is idempotent, targetPrep.ts records the steps.

  async indexExists(): Promise<boolean> {
    return (await this.client()).indexExists(this.endpoint.collection);
  }

  async createIndex(mappings?: Record<string, unknown>): Promise<void> {
    const api = await this.client();
    const definition = mappings ? { mappings, ...this.settingsDefinition() } : this.definition();
    try {
      await api.createIndex(this.endpoint.collection, definition);
    } catch (e) {
      if (e instanceof EsStatusError && e.type === 'resource_already_exists_exception') return;
      if (e instanceof EsStatusError && e.status === 400) {
        throw new UserError(`${this.describe()} refused to create the index from target.prepare: ${e.type}: ${e.reason}`,
          'Fix the mappings/settings files (target.prepare) and run `bluegreen plan` again: it resumes where it stopped.');
      }
      throw e;
    }
  }

  async readBulkSettings(): Promise<Record<string, BulkSettings>> {
    const res = await (await this.client()).getSettings(this.endpoint.collection, ['index.refresh_interval', 'index.number_of_replicas']);
    const out: Record<string, BulkSettings> = {};
    for (const [name, { settings }] of Object.entries(res)) {
      const value = (k: string) => (settings[k] === undefined || settings[k] === null ? null : String(settings[k]));
      out[name] = { refresh_interval: value('index.refresh_interval'), number_of_replicas: value('index.number_of_replicas') };
    }
    return out;
  }

  async applyBulkSettings(values: Record<string, BulkSettings>): Promise<void> {
    const api = await this.client();
    for (const [name, v] of Object.entries(values)) {
      // null puts a setting back to its default (it was not set on the index before).
      await api.putSettings(name, { index: { refresh_interval: v.refresh_interval, number_of_replicas: v.number_of_replicas } });
    }
  }

  async close(): Promise<void> {
    const api = this.api;
    this.api = null;
    if (api) await (await api.catch(() => null))?.close();
  }
}

/** Documents of a bulk the target was too busy to take: sent again by writeBatch, never by the worker. */
class ItemsToRetry extends Error {
  constructor(count: number, reason: string) {
    super(`${count} document(s) of the batch refused for now (${reason})`);
    this.name = 'ItemsToRetry';
  }
}

/** An index definition with these bulk settings in place of any it had (flat or nested; a null leaves the default). */
export function withBulkSettings(def: Record<string, unknown>, v: BulkSettings): Record<string, unknown> {
  const settings: Record<string, any> = { ...((def.settings as Record<string, unknown> | undefined) ?? {}) };
  const index: Record<string, unknown> = { ...(settings.index && typeof settings.index === 'object' ? settings.index : {}) };
  for (const k of ['refresh_interval', 'number_of_replicas'] as const) {
    delete settings[k];
    delete settings[`index.${k}`];
    delete index[k];
    if (v[k] !== null) index[k] = v[k];
  }
  return { ...def, settings: { ...settings, index } };
}

/** A target.prepare file (JSON or YAML), or a UserError naming it. */

const capitalize = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

function seqNoParams(version: string): { if_seq_no: number; if_primary_term: number } {
  const m = /^(\d+):(\d+)$/.exec(version);
  if (!m) throw new Error(`"${version}" is not an Elasticsearch version token (<seq_no>:<primary_term>)`);
  return { if_seq_no: Number(m[1]), if_primary_term: Number(m[2]) };
}

