/**
 * Solr (SolrCloud 8.x / 9.x) as source and target, over plain HTTP.
 * Reading: cursorMark paging sorted on the unique key, the slice as filter queries.
 * Writing: `_version_ = -1` (create only) with failOnVersionConflicts=false, so a document the live
 * flow already wrote is skipped, not overwritten, and does not reject the rest of its batch.
 */
import type { Endpoint, Spec } from '../../config/spec';
import type { Rejection, SliceBounds } from '../../coordination/workNode';
import { inWildcard, parseIndexPattern, type IndexPattern } from '../../config/indexPattern';
import { RetryableError, UserError } from '../../errors';
import { log, safeUrl } from '../../log';
import { withBackoff } from '../../retry';
import { chunked } from '../../util';
import { exactJson, numberText } from '../exactJson';
import type { SolrSchema } from './schemaMapping';
import { rawSolrPages, type RawSolrPage } from './rawPage';
import { routeOf, shardRoutes, type ShardRoute } from './shardRouting';
import { writeMembers } from '../rawJson';
import { walked } from '../rawDoc';
import { HttpClient, HttpStatusError, jsonBytes, sizeRefusal, unreachable, withSize } from '../http';
import type {
  Backend, Bucket, ConditionalResult, ConditionalWriteResult, CustomerCount, CustomerShape, Customers, CustomerShapeRow, Doc, Nesting, Page, SourceDoc, VersionedDoc, WriteResult,
} from '../types';
import {
  anyOfFilter, boundsFilter, customerFilter, customersAfter, customersFilter, parseSolrDate, rangeGap, rootsFilter, shapesFacet, shapesPage,
} from './queries';

export interface SolrBackendOptions {
  /** Customers per page of the planning facet (customerShapes). */
  facetPageSize?: number;
  /**
   * Pages of flat documents are read from the answer's bytes without building the documents
   * (rawPage.ts: the copy's source, issue 15); `fields` is then parsed only when asked for.
   */
  rawPages?: boolean;
  /** How long shard leaders read from CLUSTERSTATUS are used before being read again (default 30 s). */
  routesTtlMs?: number;
}

/** What a collection of the pattern's set is created with: the template collection's shape. */
interface CollectionShape {
  configName: string;
  params: Record<string, string>;
}

/** Fields Solr maintains itself: never copied. */
const SOLR_INTERNAL = new Set(['_version_', '_root_', '_nest_path_', '_nest_parent_', 'score']);

/** The [child] transformer: a block's children, all levels, all of them (limit=-1; the default is 10). */
const WITH_CHILDREN = '*,[child limit=-1]';

/**
 * Pages are read without the 19-digit `_version_` of every document (and child): Solr's fl has no
 * exclusion, but a [value] pseudo-field of the same name replaces the stored one (Solr 8 and 9, at
 * every level of a block). `_version_` is never copied (SOLR_INTERNAL); read as it is, one such number
 * a document sends every page down exactJson's slower path (marked copy of the text, unmark walk).
 * Every other field is still `*`: the document arrives exactly as stored.
 */
const WITHOUT_VERSION = '_version_:[value v=0]';
/**
 * How answers with documents are asked for: JSON, not indented. Solr 7 and later indent by default;
 * a page's documents, each member on a line of its own, came 13% larger (wide documents), and a raw
 * page (rawPage.ts) would carry the indentation into the target's documents.
 */
const ANSWER = { wt: 'json', indent: 'false' } as const;

/** A look by ids only (which still exist): ids a request, and bytes of ids a form (Jetty takes 200 KB by default). */
const ID_LOOK = { ids: 5000, bytes: 128 * 1024 };

/** How long a collection's shard leaders are trusted before CLUSTERSTATUS is read again (a leader can move). */
const ROUTES_TTL_MS = 30_000;
/** Direct writes to shard leaders failing in a row before this process writes through the endpoint only. */
const DIRECT_GIVE_UP = 3;

const PAGE_FL = { flat: `*,${WITHOUT_VERSION}`, nested: `${WITH_CHILDREN},${WITHOUT_VERSION}` };

export class SolrBackend implements Backend {
  private readonly http: HttpClient;
  /** The same, answers parsed natively: for answers only counted (a write's `adds`), never copied. */
  private readonly plainHttp: HttpClient;
  private readonly base: string;
  private readonly exclude: Set<string>;
  private serverVersion: string | null = null;
  private nestingFound: Promise<Nesting> | null = null;
  /**
   * target.indexPattern (issue 17, one collection into many; the endpoint's own, which spec
   * validation allows on the target only): each document is written into the collection the pattern
   * names for it, created on demand with the configset, shards and replicas of `collection` (the
   * template, never one of the set); reads, counts and lookups go to every collection of the set at
   * once (`collection=a,b,c`), listed by the pattern's wildcard. Null: one collection.
   */
  private readonly pattern: IndexPattern | null;
  /** Collections of the pattern's set known to exist (created or found, and active) by this process. */
  private readonly knownCollections = new Map<string, Promise<void>>();
  /** Of those, the ones ready (written into by this process, or about to be). */
  private readonly readyCollections = new Set<string>();
  /** The shape new collections of the set take (the template's), read once. */
  private setShape: Promise<CollectionShape> | null = null;
  /** aliasMembers(), once read (aliasChanged reads it again). */
  private members: Promise<string[] | null> | null = null;
  /**
   * Each written collection's shard leaders (shardRouting.ts), read from CLUSTERSTATUS and again
   * after ROUTES_TTL_MS or a direct write that failed; null routes: written through the endpoint.
   */
  private readonly routes = new Map<string, { at: number; routes: Promise<ShardRoute[] | null> }>();
  /** Direct writes to shard leaders that failed in a row; at DIRECT_GIVE_UP they stop for this process. */
  private directFailures = 0;

  constructor(readonly endpoint: Endpoint, private readonly fields: Spec['fields'], excludeFields: string[] = [],
    private readonly commitWithinMs = 10_000, private readonly opts: SolrBackendOptions = {}) {
    const url = Array.isArray(endpoint.url) ? endpoint.url[0] : endpoint.url;
    this.base = url.replace(/\/+$/, '');
    this.http = new HttpClient({ timeoutMs: endpoint.requestTimeout, auth: endpoint.auth, tls: endpoint.tls });
    this.plainHttp = new HttpClient({ ...this.http.opts, json: 'plain' });
    this.exclude = new Set([...SOLR_INTERNAL, ...excludeFields]);
    this.pattern = endpoint.indexPattern ? parseIndexPattern(endpoint.indexPattern) : null;
    this.rawPage = opts.rawPages ? rawSolrPages({ uniqueKey: fields.uniqueKey, customer: fields.customer, exclude: this.exclude }) : null;
  }

  /** Reads a raw page's answer (opts.rawPages), or null. */
  private readonly rawPage: ((b: Buffer) => RawSolrPage | null) | null;

  describe(): string {
    const server = `solr${this.serverVersion ? ` ${this.serverVersion}` : ''} at ${safeUrl(this.base)}`;
    return this.pattern ? `${server}, collections ${this.pattern.text} (${this.pattern.wildcard}; template ${this.endpoint.collection})` : `${server}, collection ${this.endpoint.collection}`;
  }

  private coll(path: string, params: Record<string, string | number | boolean | string[]> = {}, collection = this.endpoint.collection): string {
    return `${this.base}/${encodeURIComponent(collection)}${path}?${query(params)}`;
  }

  /**
   * target.indexPattern: the collections of the set that exist now, sorted (Collections API LIST,
   * filtered by the pattern's wildcard; the template is never one of them: spec validation). [] without a pattern.
   */
  async collectionsOfSet(): Promise<string[]> {
    if (!this.pattern) return [];
    const res = await this.http.request('GET', `${this.base}/admin/collections?action=LIST&wt=json`);
    const wildcard = this.pattern.wildcard;
    return (res?.collections ?? []).map(String).filter((c: string) => c !== this.endpoint.collection && inWildcard(wildcard, c)).sort();
  }

  /** The collections a write or a commit goes to: the collection, or every collection of the set. */
  private async writtenCollections(): Promise<string[]> {
    return this.pattern ? this.collectionsOfSet() : [this.endpoint.collection];
  }

  /**
   * target.indexPattern: the collection exists (and its shards have leaders) before anything is
   * written into it: created once with the template's shape; "already exists" (another worker
   * created it at the same moment) is fine.
   */
  private ensureCollection(name: string): Promise<void> {
    let p = this.knownCollections.get(name);
    if (!p) {
      p = this.createCollection(name).then(() => void this.readyCollections.add(name));
      this.knownCollections.set(name, p);
      p.catch(() => this.knownCollections.delete(name));
    }
    return p;
  }

  private async createCollection(name: string): Promise<void> {
    if ((await this.collectionsOfSet()).includes(name)) return this.untilActive(name);
    const shape = await this.shapeOfSet();
    // Creating a collection waits for its replicas: its own timeout, not the endpoint's.
    const slow = new HttpClient({ ...this.http.opts, timeoutMs: Math.max(this.http.opts.timeoutMs ?? 0, 180_000) });
    const qs = new URLSearchParams({ action: 'CREATE', name, 'collection.configName': shape.configName, ...shape.params, wt: 'json' });
    try {
      const res = await slow.request('GET', `${this.base}/admin/collections?${qs}`);
      if (res?.failure) throw new Error(`Solr could not create collection "${name}" of ${this.pattern?.text}: ${JSON.stringify(res.failure).slice(0, 300)}`);
      log.info({ collection: name, pattern: this.pattern?.text, configName: shape.configName, ...shape.params }, 'collection of the pattern created');
    } catch (e) {
      if (!(e instanceof HttpStatusError && e.status === 400 && /already exists/i.test(solrMessage(e)))) throw e;
    }
    await this.untilActive(name);
  }

  /** Every shard of the collection has an active leader (one created by another worker may still be starting). */
  private async untilActive(name: string): Promise<void> {
    await withBackoff(async () => {
      const st = await this.http.request('GET', `${this.base}/admin/collections?action=CLUSTERSTATUS&collection=${encodeURIComponent(name)}&wt=json`);
      const shards = Object.values<any>(st?.cluster?.collections?.[name]?.shards ?? {});
      const led = shards.length > 0 && shards.every((sh) => Object.values<any>(sh?.replicas ?? {}).some((r) => (r.leader === 'true' || r.leader === true) && r.state === 'active'));
      if (!led) throw new RetryableError(`collection "${name}" of ${this.pattern?.text} has a shard without an active leader yet`);
    }, { attempts: 30, initialDelayMs: 200, maxDelayMs: 5_000 });
  }

  /** The template collection's configset, shard count, replicas and router: what every collection of the set is created with. */
  private shapeOfSet(): Promise<CollectionShape> {
    this.setShape ??= (async () => {
      const name = this.endpoint.collection;
      const st = await this.http.request('GET', `${this.base}/admin/collections?action=CLUSTERSTATUS&collection=${encodeURIComponent(name)}&wt=json`);
      // An alias as the template: CLUSTERSTATUS answers with the collection behind it.
      const c = st?.cluster?.collections?.[name] ?? Object.values<any>(st?.cluster?.collections ?? {})[0];
      if (!c?.configName) throw new UserError(`Solr at ${safeUrl(this.base)} has no collection "${name}" to create the collections of target.indexPattern ${this.pattern?.text} like.`,
        'Create the template collection (target.collection) with the configset the daily collections should have; nothing was changed.');
      const shards = Object.keys(c.shards ?? {});
      const params: Record<string, string> = {};
      const implicit = c.router?.name === 'implicit';
      if (implicit) {
        params['router.name'] = 'implicit';
        params.shards = shards.join(',');
      } else params.numShards = String(shards.length || 1);
      if (c.router?.field) params['router.field'] = String(c.router.field);
      for (const k of ['nrtReplicas', 'tlogReplicas', 'pullReplicas', 'maxShardsPerNode'] as const) {
        if (c[k] !== undefined && c[k] !== null && String(c[k]) !== '') params[k] = String(c[k]);
      }
      if (params.nrtReplicas === undefined && c.replicationFactor !== undefined) params.replicationFactor = String(c.replicationFactor);
      return { configName: String(c.configName), params };
    })();
    this.setShape.catch(() => (this.setShape = null));
    return this.setShape;
  }

  async version(): Promise<string> {
    if (this.serverVersion) return this.serverVersion;
    let info: any;
    try {
      info = await this.http.request('GET', `${this.base}/admin/info/system?wt=json`);
    } catch (e) {
      if (e instanceof HttpStatusError && e.status === 404) {
        throw new UserError(`${safeUrl(this.base)} does not look like a Solr base URL (no /admin/info/system).`,
          'Give the URL up to and including /solr, e.g. http://solr-host:8983/solr.');
      }
      if (e instanceof HttpStatusError && e.status === 401) {
        throw new UserError(`Solr at ${safeUrl(this.base)} refused the credentials (HTTP 401)${this.endpoint.auth?.username ? ` of user "${this.endpoint.auth.username}"` : ': none were given'}.`,
          'Check the username/password (spec auth, or BLUEGREEN_SOURCE_USERNAME / BLUEGREEN_SOURCE_PASSWORD, BLUEGREEN_TARGET_USERNAME / BLUEGREEN_TARGET_PASSWORD).');
      }
      if (e instanceof HttpStatusError && e.status === 403) {
        throw new UserError(`Solr at ${safeUrl(this.base)} accepted the credentials of user "${this.endpoint.auth?.username ?? ''}" but refused it /admin/info/system (HTTP 403: not authorized).`,
          'Give the user a role with the permissions a migration needs (README "Secured Solr": read, schema-read, collection-admin-read and /admin/info/system; a target also update).');
      }
      throw unreachable('Solr', this.base, e);
    }
    this.serverVersion = String(info?.lucene?.['solr-spec-version'] ?? 'unknown');
    return this.serverVersion;
  }

  /**
   * A 403 from a collection's endpoint: the credentials were accepted (the 401 case is version()'s)
   * but the user's roles do not allow `what`: bad input, said plainly, not a raw HTTP error.
   */
  private forbidden(e: unknown, what: string, needs: string): unknown {
    if (!(e instanceof HttpStatusError && e.status === 403)) return e;
    const user = this.endpoint.auth?.username ? `user "${this.endpoint.auth.username}"` : 'an anonymous request';
    return new UserError(`Solr at ${safeUrl(this.base)} accepted the credentials of ${user} but it may not ${what} collection "${this.endpoint.collection}" (HTTP 403: not authorized).`,
      `Give that user a role with ${needs} on "${this.endpoint.collection}" (security.json, RuleBasedAuthorizationPlugin; README "Secured Solr"), or give this endpoint the credentials of a user that has it. Nothing was changed.`);
  }

  /**
   * The credentials may write to the collection (a target, before anything is planned or copied): an
   * empty update (no document, no commit: nothing changes) is authorized like any write to /update.
   */
  async checkWritable(): Promise<void> {
    try {
      await this.http.request('POST', this.coll('/update'), '[]');
    } catch (e) {
      // A collection made read-only (MODIFYCOLLECTION readOnly) refuses documents with 403 too (Solr 9.10
      // lets the empty update through; should another version refuse it): that is the collection's own
      // state, lifted by its operator (writes are retried meanwhile), not the user's roles.
      if (e instanceof HttpStatusError && e.status === 403 && /read-only/i.test(solrMessage(e))) return;
      throw this.forbidden(e, 'write to', 'the "update" permission');
    }
  }

  async ping(): Promise<void> {
    await this.http.request('GET', `${this.base}/admin/info/system?wt=json`);
  }

  async check(): Promise<void> {
    await this.version();
    let schema: any;
    try {
      schema = await this.http.request('GET', this.coll('/schema/uniquekey'));
    } catch (e) {
      if (e instanceof HttpStatusError && e.status === 404) {
        throw new UserError(`Solr at ${safeUrl(this.base)} has no collection "${this.endpoint.collection}".`,
          'Create it (or fix the collection name in the spec); bluegreen never creates Solr collections.');
      }
      throw this.forbidden(e, 'read the schema of', 'the "schema-read" permission');
    }
    if (schema?.uniqueKey !== this.fields.uniqueKey) {
      throw new UserError(`The uniqueKey of ${this.describe()} is "${schema?.uniqueKey}", but the spec says fields.uniqueKey: "${this.fields.uniqueKey}".`,
        'cursorMark paging sorts on the uniqueKey: set fields.uniqueKey to the collection\'s uniqueKey.');
    }
    for (const f of [this.fields.customer, this.fields.timestamp]) {
      try {
        await this.http.request('GET', this.coll(`/schema/fields/${encodeURIComponent(f)}`));
      } catch (e) {
        if (e instanceof HttpStatusError && e.status === 404) {
          throw new UserError(`${this.describe()} has no field "${f}" in its schema.`,
            'Set fields.customer / fields.timestamp in the spec to fields that exist in both collections.');
        }
        throw this.forbidden(e, 'read the schema of', 'the "schema-read" permission');
      }
    }
    await this.checkSelection();
    await this.aliasMembers();
  }

  /** The whole schema (Schema API): fields, dynamic fields, field types, copy fields, uniqueKey. */
  async schema(): Promise<SolrSchema> {
    await this.version();
    const res = await this.http.request('GET', this.coll('/schema'));
    return res.schema as SolrSchema;
  }

  /**
   * The collection's nesting, found once per process. With child documents, everything that plans,
   * reads or counts sees roots only: a block is planned, sliced, read and written with its root.
   */
  nesting(): Promise<Nesting> {
    if (!this.nestingFound) {
      this.nestingFound = this.findNesting();
      this.nestingFound.catch(() => (this.nestingFound = null));
    }
    return this.nestingFound;
  }

  private async hasField(name: string): Promise<boolean> {
    try {
      await this.http.request('GET', this.coll(`/schema/fields/${encodeURIComponent(name)}`));
      return true;
    } catch (e) {
      if (e instanceof HttpStatusError && e.status === 404) return false;
      throw e;
    }
  }

  private async findNesting(): Promise<Nesting> {
    const [hasRoot, hasNestPath] = await Promise.all([this.hasField('_root_'), this.hasField('_nest_path_')]);
    const flat: Nesting = { mode: 'flat', hasRoot, hasNestPath, children: 0, orphaned: 0 };
    if (!hasRoot) return flat; // no _root_: Solr cannot hold a block
    const count = async (fq?: string) => Number((await this.rawSelect({ q: '*:*', rows: 0, ...(fq ? { fq } : {}) })).response.numFound);
    const [total, roots] = await Promise.all([count(), count(rootsFilter('anonymous', this.fields.uniqueKey))]);
    if (total === roots) return flat;
    if (!hasNestPath) return { ...flat, mode: 'anonymous', children: total - roots };
    const withoutPath = await count(rootsFilter('labelled', this.fields.uniqueKey));
    return { ...flat, mode: 'labelled', children: total - roots, orphaned: withoutPath - roots };
  }

  /** Filter queries that keep roots only (none for a flat collection). */
  private async rootsOnly(): Promise<string[]> {
    const n = await this.nesting();
    return n.mode === 'flat' ? [] : [rootsFilter(n.mode, this.fields.uniqueKey)];
  }

  /**
   * A search over the blocks' roots (children travel with them, never on their own), within the
   * source's selection (source.query, one more filter query): every count, facet and page of a slice.
   */
  private async select(params: Record<string, string | number | boolean | string[]>, signal?: AbortSignal, maxBytes?: number): Promise<any> {
    return this.rawSelect(await this.selectionParams(params), signal, maxBytes);
  }

  /** The params with the filters every read of the collection takes (roots only, source.query). */
  private async selectionParams(params: Record<string, string | number | boolean | string[]>): Promise<Record<string, string | number | boolean | string[]>> {
    const extra = [...await this.rootsOnly(), ...this.selection()];
    if (extra.length === 0) return params;
    const fq = params.fq === undefined ? [] : Array.isArray(params.fq) ? params.fq : [String(params.fq)];
    return { ...params, fq: [...fq, ...extra] };
  }

  /** source.query as filter queries (none without one). */
  private selection(): string[] {
    const q = this.endpoint.query;
    return typeof q === 'string' && q.trim() !== '' ? [q] : [];
  }

  /** A selection Solr cannot parse is bad input, found before anything is planned or copied. */
  private async checkSelection(): Promise<void> {
    const [q] = this.selection();
    if (q === undefined) return;
    try {
      await this.rawSelect({ q: '*:*', rows: 0, fq: q });
    } catch (e) {
      if (e instanceof HttpStatusError && e.status === 400) {
        throw new UserError(`${this.describe()} refuses source.query ${JSON.stringify(q)}: ${solrMessage(e)}`,
          'Fix source.query: a Solr filter query such as "status:active" or "ts:[* TO 2020-01-01T00:00:00Z}". Nothing was changed.');
      }
      throw e;
    }
  }

  private async rawSelect(params: Record<string, string | number | boolean | string[]>, signal?: AbortSignal, maxBytes?: number): Promise<any> {
    const res = await this.http.request('POST', this.selectUrl(), await this.selectForm(params), 'application/x-www-form-urlencoded', signal, maxBytes);
    this.assertComplete(res?.responseHeader);
    return res;
  }

  /** Selects go through the template collection's handler (over a set too: selectForm). */
  private selectUrl(): string {
    return `${this.base}/${encodeURIComponent(this.endpoint.collection)}/select`;
  }

  /** A shard timed out or failed: this is not the end of the slice, and not a count to trust. */
  private assertComplete(responseHeader: { partialResults?: unknown } | undefined): void {
    if (responseHeader?.partialResults) throw new RetryableError(`Solr returned partial results for ${this.describe()}`);
  }

  /** A select's form; over target.indexPattern's set, the set's collections. */
  private async selectForm(params: Record<string, string | number | boolean | string[]>): Promise<string> {
    if (this.pattern) {
      // The whole set in one request (`collection=a,b,c`), asked through the template's handler; no
      // collection yet: the template asked for nothing (`-*:*`), so the answer has its usual shape.
      const members = await this.collectionsOfSet();
      const fq = params.fq === undefined ? [] : Array.isArray(params.fq) ? params.fq : [String(params.fq)];
      params = members.length ? { ...params, collection: members.join(',') } : { ...params, fq: [...fq, '-*:*'] };
    }
    return new URLSearchParams(Object.entries({ ...ANSWER, ...params }).flatMap(([k, v]) => (Array.isArray(v) ? v : [v]).map((x): [string, string] => [k, String(x)]))).toString();
  }

  async customers(): Promise<CustomerCount[]> {
    const res = await this.select({
      q: '*:*', rows: 0, facet: true, 'facet.field': this.fields.customer, 'facet.limit': -1,
      'facet.mincount': 1, 'facet.missing': true, 'facet.sort': 'index', 'json.nl': 'arrarr',
    });
    const pairs: Array<[string | null, number | bigint]> = res.facet_counts.facet_fields[this.fields.customer];
    return pairs.filter(([, n]) => Number(n) > 0).map(([c, n]) => ({ customer: c, count: Number(n) }));
  }

  async shape(customer: string | null): Promise<CustomerShape> {
    const res = await this.select({
      q: '*:*', rows: 0, fq: customerFilter(this.fields.customer, customer), stats: true, 'stats.field': this.fields.timestamp,
    });
    const st = res.stats?.stats_fields?.[this.fields.timestamp] ?? {};
    const toMs = (v: unknown) => (v === null || v === undefined ? null : parseSolrDate(String(v)));
    return {
      total: Number(res.response.numFound),
      noTimestamp: Number(st.missing ?? res.response.numFound),
      minTs: toMs(st.min),
      maxTs: toMs(st.max),
    };
  }

  /**
   * Pages of a JSON Facet terms facet in index order, each page after the last customer of the one
   * before (keyset, not offset: see customersAfter), every bucket with its timestamp stats. The
   * documents with no customer value come from the first page's missing bucket. Roots only (select).
   */
  async customerShapes(only?: ReadonlyArray<string | null>): Promise<CustomerShapeRow[]> {
    const pageSize = this.opts.facetPageSize ?? 10_000;
    const domain = only === undefined ? null : customersFilter(this.fields.customer, only);
    const wantMissing = only === undefined || only.includes(null);
    const out: CustomerShapeRow[] = [];
    let missing: CustomerShapeRow | null = null;
    let after: string | null = null;
    for (;;) {
      const fq = [...(domain ? [domain.fq] : []), ...(after === null ? [] : [customersAfter(this.fields.customer, after)])];
      const first = after === null;
      const res = await this.select({
        q: '*:*', rows: 0, ...(fq.length ? { fq } : {}), ...domain?.params,
        'json.facet': shapesFacet(this.fields, pageSize, first && wantMissing),
      });
      const page = shapesPage(res.facets);
      if (first) missing = page.missing;
      out.push(...page.rows);
      if (page.buckets < pageSize || page.last === null) break;
      after = page.last;
    }
    const wanted = only === undefined ? null : new Set(only);
    const rows = wanted ? out.filter((r) => wanted.has(r.customer)) : out;
    return missing ? [...rows, missing] : rows;
  }

  async histogram(customer: string | null, from: number, to: number, buckets: number): Promise<Bucket[]> {
    const { gapMs: gap, text: gapText } = rangeGap(from, to, buckets);
    const res = await this.select({
      q: '*:*', rows: 0, fq: customerFilter(this.fields.customer, customer),
      facet: true, 'facet.range': this.fields.timestamp,
      'facet.range.start': new Date(from).toISOString(), 'facet.range.end': new Date(to).toISOString(),
      'facet.range.gap': gapText, 'facet.range.hardend': true, 'facet.range.include': 'lower',
      'facet.mincount': 0, 'json.nl': 'arrarr',
    });
    const counts: Array<[string, number]> = res.facet_counts.facet_ranges[this.fields.timestamp].counts;
    const byStart = new Map(counts.map(([start, n]) => [parseSolrDate(start), Number(n)]));
    const out: Bucket[] = [];
    for (let start = from; start < to; start += gap) {
      out.push({ from: start, to: Math.min(start + gap, to), count: byStart.get(start) ?? 0 });
    }
    return out;
  }

  /** The slice as request parameters: its filter queries and the parameters they refer to. */
  private sliceParams(customers: Customers, bounds: SliceBounds): Record<string, string | string[]> {
    const c = customersFilter(this.fields.customer, customers);
    const time = boundsFilter(this.fields.timestamp, bounds);
    return { ...c.params, fq: time === null ? [c.fq] : [c.fq, time] };
  }

  async count(customers: Customers, bounds: SliceBounds): Promise<number> {
    const res = await this.select({ q: '*:*', rows: 0, ...this.sliceParams(customers, bounds) });
    return Number(res.response.numFound);
  }

  async readPage(customers: Customers, bounds: SliceBounds, cursor: string | null, rows: number, signal?: AbortSignal, maxBytes?: number): Promise<Page> {
    const cursorMark = cursor ?? '*';
    const flat = (await this.nesting()).mode === 'flat';
    const params = {
      q: '*:*', ...this.sliceParams(customers, bounds), sort: `${this.fields.uniqueKey} asc`,
      rows, cursorMark, fl: flat ? PAGE_FL.flat : PAGE_FL.nested,
    };
    const page = (docs: SourceDoc[], next: string): Page => ({ docs, nextCursor: next, done: docs.length === 0 || next === cursorMark });
    const parsed = (res: any): Page => page((res.response.docs as Doc[]).map((d) => this.toSourceDoc(d)), String(res.nextCursorMark));
    if (!this.rawPage || !flat) return parsed(await this.select(params, signal, maxBytes));
    // The page's bytes, its documents kept as spans of them (rawPage.ts); a document that is not
    // flat after all, or an answer the walker does not take, is parsed as it always was.
    const bytes = await this.http.requestBytes('POST', this.selectUrl(), await this.selectForm(await this.selectionParams(params)), 'application/x-www-form-urlencoded', signal, maxBytes);
    const raw = walked(this.rawPage, bytes);
    if (raw !== null && raw.nextCursorMark !== null) {
      this.assertComplete({ partialResults: raw.partialResults });
      return page(raw.docs, raw.nextCursorMark);
    }
    const res = exactJson.parse(bytes.toString('utf8'));
    this.assertComplete(res?.responseHeader);
    return parsed(res);
  }

  /** readPage with the real `_version_` of every document (copy.mode in-place: the writes are conditional on it). */
  async readVersionedPage(customers: Customers, bounds: SliceBounds, cursor: string | null, rows: number, signal?: AbortSignal, maxBytes?: number): Promise<Page> {
    const cursorMark = cursor ?? '*';
    const res = await this.select({
      q: '*:*', ...this.sliceParams(customers, bounds), sort: `${this.fields.uniqueKey} asc`,
      rows, cursorMark, fl: (await this.nesting()).mode === 'flat' ? '*' : WITH_CHILDREN,
    }, signal, maxBytes);
    const docs: SourceDoc[] = (res.response.docs as Doc[]).map((d) => ({ ...this.toSourceDoc(d), version: versionText(d._version_) }));
    const next = String(res.nextCursorMark);
    return { docs, nextCursor: next, done: docs.length === 0 || next === cursorMark };
  }

  /**
   * One update of the documents, each with its positive `_version_` (Solr applies a document only
   * while it is still at that version) and failOnVersionConflicts=false, so a document changed since
   * is dropped, not the batch. Solr's answer does not say which were dropped: a real-time get after
   * the write tells — a document not holding what was sent is a conflict (a live write landed; its
   * content may also just be Solr's normal form of what was sent, e.g. a date: the caller re-reads
   * and finds it transformed). A 400/409/413 for the batch (one bad document; Solr 8 does not pass
   * failOnVersionConflicts to other shard leaders) sends the documents one by one.
   */
  async writeIfUnchanged(docs: VersionedDoc[], signal?: AbortSignal): Promise<ConditionalWriteResult> {
    signal?.throwIfAborted();
    const out: ConditionalWriteResult = { applied: 0, conflicts: [], rejected: [] };
    if (docs.length === 0) return out;
    const body = (list: VersionedDoc[]) => `[${list.map(({ doc, version }) => exactJson.stringify({ ...doc.fields, _version_: BigInt(version) })).join(',')}]`;
    try {
      await this.http.request('POST', this.coll('/update', { failOnVersionConflicts: false, commitWithin: this.commitWithinMs }), body(docs), 'application/json', signal);
    } catch (e) {
      if (!(e instanceof HttpStatusError) || (e.status !== 400 && e.status !== 409 && e.status !== 413)) throw e;
      for (const d of docs) {
        signal?.throwIfAborted();
        try {
          await this.http.request('POST', this.coll('/update', { commitWithin: this.commitWithinMs }), body([d]), 'application/json', signal);
          out.applied++;
        } catch (e1) {
          if (!(e1 instanceof HttpStatusError) || (e1.status !== 400 && e1.status !== 409 && e1.status !== 413)) throw e1;
          if (e1.status === 409) out.conflicts.push(d.doc.id);
          else out.rejected.push({ id: d.doc.id, reason: solrMessage(e1) });
        }
      }
      return out;
    }
    const now = new Map<string, Doc>();
    for (let i = 0; i < docs.length; i += 500) {
      for (const d of await this.realTimeGet(docs.slice(i, i + 500).map((x) => x.doc.id), (await this.nesting()).mode === 'flat' ? '*' : WITH_CHILDREN, signal)) {
        now.set(String(d[this.fields.uniqueKey]), this.withoutInternal(d));
      }
    }
    for (const { doc } of docs) {
      const got = now.get(doc.id);
      if (got && exactJson.stringify(sortedKeys(got)) === exactJson.stringify(sortedKeys(doc.fields))) out.applied++;
      else out.conflicts.push(doc.id);
    }
    return out;
  }

  private toSourceDoc(d: Doc): SourceDoc {
    const fields = this.withoutInternal(d);
    // Measured, not written out: a second copy of a 5 MB document only to count its bytes is the
    // memory this bound is for.
    return { id: String(d[this.fields.uniqueKey]), fields, bytes: jsonBytes(fields) };
  }

  /**
   * The document without what Solr maintains, its children (labelled fields or `_childDocuments_`:
   * the only object values a Solr document has) likewise, at every level.
   */
  private withoutInternal(d: Doc): Doc {
    const out: Doc = {};
    // Plain objects only: a parser's number wrapper (a class instance) is a value, not a child.
    const isChild = (v: unknown): v is Doc => v !== null && typeof v === 'object' && [Object.prototype, null].includes(Object.getPrototypeOf(v));
    for (const [k, v] of Object.entries(d)) {
      if (this.exclude.has(k)) continue;
      if (isChild(v)) out[k] = this.withoutInternal(v);
      else if (Array.isArray(v) && v.some(isChild)) out[k] = v.map((x) => (isChild(x) ? this.withoutInternal(x) : x));
      else out[k] = v;
    }
    return out;
  }

  async writeBatch(docs: SourceDoc[], signal?: AbortSignal): Promise<WriteResult> {
    signal?.throwIfAborted();
    if (docs.length === 0) return { written: 0, skipped: 0, rejected: [] };
    if (!this.pattern) return this.writeInto(this.endpoint.collection, docs, signal);
    // target.indexPattern: one create-only write per collection the pattern names (each created first
    // if need be); a document it names none for is rejected with the reason, the others go on.
    const out: WriteResult = { written: 0, skipped: 0, rejected: [] };
    const groups = new Map<string, SourceDoc[]>();
    for (const d of docs) {
      const chosen = this.pattern.indexOf(d);
      if ('reason' in chosen) out.rejected.push({ id: d.id, reason: chosen.reason });
      else groups.set(chosen.index, [...(groups.get(chosen.index) ?? []), d]);
    }
    for (const [collection, group] of groups) {
      await this.ensureCollection(collection);
      const r = await this.writeInto(collection, group, signal);
      out.written += r.written;
      out.skipped += r.skipped;
      out.rejected.push(...r.rejected);
    }
    return out;
  }

  /**
   * writeBatch into one collection: create-only, what it holds already skipped. Each shard's documents
   * go straight to its leader (writeToLeaders) when the collection can be routed; otherwise, and for
   * documents no route holds, through the endpoint (writeThroughEndpoint).
   */
  private async writeInto(collection: string, docs: SourceDoc[], signal?: AbortSignal): Promise<WriteResult> {
    const routes = await this.routesOf(collection);
    if (!routes) return this.writeThroughEndpoint(collection, docs, signal);
    const groups = new Map<string | null, SourceDoc[]>();
    for (const d of docs) {
      const leader = routeOf(routes, d.id)?.leader ?? null;
      const group = groups.get(leader);
      if (group) group.push(d);
      else groups.set(leader, [d]);
    }
    // The shards at once; every request ends (or fails) before the batch's result or failure is known.
    const settled = await Promise.allSettled([...groups].map(([leader, group]) => (leader ? this.writeToLeader(collection, group, leader, signal) : this.writeThroughEndpoint(collection, group, signal))));
    const out: WriteResult = { written: 0, skipped: 0, rejected: [] };
    for (const r of settled) {
      if (r.status === 'rejected') throw r.reason;
      out.written += r.value.written;
      out.skipped += r.value.skipped;
      out.rejected.push(...r.value.rejected);
    }
    return out;
  }

  /**
   * One shard's documents at its leader, create-only, with no look first: the leader applies
   * failOnVersionConflicts itself (Solr 8 too: no 409 for a document it holds), and its
   * `versions=true` answer lists exactly the documents it added — a document it held already (a live
   * write, or a resumed page written before a crash) is left out of it, and counted skipped. (A
   * document it forwards, were the hash ever to disagree with Solr's, is listed with version 0 whether
   * it landed or not: counted written, the count may flatter, the data cannot suffer.) If the leader
   * fails, the routes are read again and the documents go through the endpoint.
   */
  private async writeToLeader(collection: string, docs: SourceDoc[], leader: string, signal?: AbortSignal): Promise<WriteResult> {
    let r: Awaited<ReturnType<SolrBackend['createOnly']>>;
    try {
      r = await this.createOnly(docs, signal, collection, leader);
      this.directFailures = 0;
    } catch (e) {
      if (signal?.aborted) throw e;
      this.routes.delete(collection);
      this.directFailures++;
      const ctx = { collection, leader: safeUrl(leader), err: (e as Error).message?.slice(0, 300) };
      if (this.directFailures === DIRECT_GIVE_UP) log.warn({ ...ctx, failures: this.directFailures }, 'writes straight to the shard leaders keep failing: writing through the endpoint from now on (the leaders\' addresses in the cluster state may not be reachable from here)');
      else log.info(ctx, 'a write straight to a shard leader failed: sending it through the endpoint');
      return this.writeThroughEndpoint(collection, docs, signal);
    }
    const written = Math.min(r.added, docs.length - r.rejected.length);
    return { written, skipped: docs.length - r.rejected.length - written, rejected: r.rejected };
  }

  /** Through the endpoint's node (which forwards each document to its shard's leader): a look first. */
  private async writeThroughEndpoint(collection: string, docs: SourceDoc[], signal?: AbortSignal): Promise<WriteResult> {
    // Which documents the target already has (real-time get): those are not sent at all — fewer bytes,
    // and no 409 halving cascade on Solr 8 for a resumed page the target holds already — and they are
    // the skip count. (The versions=true answer of a node that forwards cannot say: it gives 0 for every
    // document forwarded to another shard's leader.) What is sent still goes `_version_=-1`: a live
    // write landing between this look and the write is skipped by Solr (counted as a conflict, or as
    // written when Solr 9 does not say: the count may flatter, the data cannot suffer).
    const existing = await this.existingIds(docs.map((d) => d.id), signal, collection);
    const send = docs.filter((d) => !existing.has(d.id));
    if (send.length === 0) return { written: 0, skipped: docs.length, rejected: [] };
    const { rejected, conflicts } = await this.createOnly(send, signal, collection);
    const rejectedIds = new Set(rejected.map((r) => r.id));
    let skipped = docs.length - send.length;
    for (const d of send) if (!rejectedIds.has(d.id) && conflicts.has(d.id)) skipped++;
    return { written: docs.length - rejected.length - skipped, skipped, rejected };
  }

  /** Ids (of these) present in the collection now, committed or not (real-time get). */
  private async existingIds(ids: string[], signal?: AbortSignal, collection = this.endpoint.collection): Promise<Set<string>> {
    return new Set((await this.realTimeGet(ids, this.fields.uniqueKey, signal, undefined, collection)).map((d) => String(d[this.fields.uniqueKey])));
  }

  /**
   * Whether the collection holds every one of these ids now, committed or not: a real-time get that
   * returns only the `[docid]` transformer (no stored field read; -1 for a document still in the
   * update log), counted. It answers at most one document per distinct id asked for, so the count
   * equals the distinct ids only when every one is there.
   */
  private async allPresent(ids: string[], signal?: AbortSignal): Promise<boolean> {
    const distinct = [...new Set(ids)];
    return (await this.realTimeGet(distinct, '[docid]', signal)).length === distinct.length;
  }

  /**
   * A real-time get reads one collection (Solr does not spread it over `collection=a,b`), and through
   * an alias of several collections only the first of them (Solr 8 and 9): a document of any other
   * would look deleted to the live-delete look and to verification, and be taken out of the target.
   * So through such an alias each collection behind it is asked, in turn, for the ids the ones before
   * it did not have (the answer then also carries the uniqueKey, to tell which).
   */
  private async realTimeGet(ids: string[], fl: string, signal?: AbortSignal, maxBytes?: number, collection = this.endpoint.collection): Promise<Doc[]> {
    const members = collection === this.endpoint.collection ? await this.aliasMembers() : null;
    if (members === null) return this.realTimeGetIn(ids, fl, signal, maxBytes, collection);
    const key = this.fields.uniqueKey;
    const named = fl.split(',').some((f) => f === '*' || f === key) ? fl : `${fl},${key}`;
    const out: Doc[] = [];
    let rest = [...new Set(ids)];
    for (const c of members) {
      if (rest.length === 0) break;
      const found = await this.realTimeGetIn(rest, named, signal, maxBytes, c);
      const had = new Set(found.map((d) => String(d[key])));
      out.push(...found);
      rest = rest.filter((id) => !had.has(id));
    }
    return out;
  }

  /** The collections behind endpoint.collection (readAliasMembers), read once, read again after a failed read. */
  private aliasMembers(): Promise<string[] | null> {
    if (!this.members) {
      const reading = this.readAliasMembers();
      this.members = reading;
      reading.catch(() => { if (this.members === reading) this.members = null; });
    }
    return this.members;
  }

  /**
   * The collections behind endpoint.collection when it is an alias of more than one (LISTALIASES),
   * else null (a collection, an alias of one, or a Solr not in SolrCloud mode, which has no aliases).
   */
  private async readAliasMembers(): Promise<string[] | null> {
    let res: any;
    try {
      res = await this.http.request('GET', `${this.base}/admin/collections?action=LISTALIASES&wt=json`);
    } catch (e) {
      if (e instanceof HttpStatusError && (e.status === 400 || e.status === 404)) return null;
      throw this.forbidden(e, 'list the aliases that may name', 'the "collection-admin-read" permission');
    }
    const list = String(res?.aliases?.[this.endpoint.collection] ?? '').split(',').map((c) => c.trim()).filter(Boolean);
    return list.length > 1 ? list : null;
  }

  /**
   * Whether the collections behind endpoint.collection are other now than when last read (read again
   * now). A look by id takes what it misses for deleted: before it does, this makes sure the alias it
   * asked through has not gained a collection since (a time-routed alias adds one as time passes;
   * an alias of one may become an alias of two). Asked only on a miss, never on a write's look.
   */
  private async aliasChanged(): Promise<boolean> {
    if (this.pattern) return false;
    const before = (await this.aliasMembers())?.join(',') ?? null;
    this.members = null;
    return ((await this.aliasMembers())?.join(',') ?? null) !== before;
  }

  private async realTimeGetIn(ids: string[], fl: string, signal?: AbortSignal, maxBytes?: number, collection = this.endpoint.collection): Promise<Doc[]> {
    const form = new URLSearchParams({ ...ANSWER, fl });
    for (const id of ids) form.append('id', id);
    const res = await this.http.request('POST', `${this.base}/${encodeURIComponent(collection)}/get`, form.toString(), 'application/x-www-form-urlencoded', signal, maxBytes);
    return res?.response?.docs ?? (res?.doc ? [res.doc] : []);
  }

  /**
   * target.indexPattern: the documents with these ids in the set, each with its real `_version_`. A
   * real-time get reads one collection: one in each collection this process writes into (what it
   * wrote is seen before any commit: the worker's live-delete check looks right after its write), then
   * a search over the whole set for the rest (committed documents only).
   */
  private async lookupInSet(ids: string[], fl: string, signal?: AbortSignal, maxBytes?: number): Promise<Doc[]> {
    const key = this.fields.uniqueKey;
    const out = new Map<string, Doc>();
    for (const c of [...this.readyCollections].sort()) {
      const rest = ids.filter((id) => !out.has(id));
      if (!rest.length) break;
      for (const d of await this.realTimeGet(rest, fl, signal, maxBytes, c)) out.set(String(d[key]), d);
    }
    const rest = ids.filter((id) => !out.has(id));
    if (rest.length) for (const d of await this.searchedDocs(rest, fl, maxBytes)) if (!out.has(String(d[key]))) out.set(String(d[key]), d);
    return [...out.values()];
  }

  /** A search over the set for these ids (committed documents only). */
  private async searchedDocs(ids: string[], fl: string, maxBytes?: number): Promise<Doc[]> {
    const key = this.fields.uniqueKey;
    const res = await this.rawSelect({ q: '*:*', fq: anyOfFilter(key, ids), fl, rows: ids.length }, undefined, maxBytes);
    return res.response.docs as Doc[];
  }

  /** target.indexPattern: the collection of the set that holds this id now (real-time get in each, those this process writes into first), or null. */
  private async collectionHolding(id: string): Promise<string | null> {
    const ready = [...this.readyCollections].sort();
    for (const c of [...ready, ...(await this.collectionsOfSet()).filter((x) => !this.readyCollections.has(x))]) {
      if ((await this.existingIds([id], undefined, c)).has(id)) return c;
    }
    return null;
  }

  async presentIds(docs: Array<{ id: string }>, signal?: AbortSignal): Promise<Set<string>> {
    const out = await this.presentNow(docs, signal);
    const missing = docs.filter((d) => !out.has(d.id));
    if (missing.length > 0 && (await this.aliasChanged())) for (const id of await this.presentNow(missing, signal)) out.add(id);
    return out;
  }

  /** presentIds, through the alias members as last read. */
  private async presentNow(docs: Array<{ id: string }>, signal?: AbortSignal): Promise<Set<string>> {
    const out = new Set<string>();
    // Ids only, both ways: a few thousand a request (a request costs more than its ids: issue 15).
    // Over a set, what no real-time get finds is searched: 500 terms a query (maxBooleanClauses is 1,024).
    for (const run of chunked(docs, this.pattern ? 500 : ID_LOOK.ids, ID_LOOK.bytes, (d) => encodeURIComponent(d.id).length + 4)) {
      const ids = run.map((d) => d.id);
      // Most looks find every id (nothing was deleted): a count settles that, for about half the
      // source's CPU of naming them (no stored field is read). Any other count asks which.
      if (!this.pattern && (await this.allPresent(ids, signal))) {
        for (const id of ids) out.add(id);
        continue;
      }
      const found = this.pattern ? (await this.lookupInSet(ids, this.fields.uniqueKey, signal)).map((d) => String(d[this.fields.uniqueKey])) : await this.existingIds(ids, signal);
      for (const id of found) out.add(id);
    }
    return out;
  }

  /** Which of these ids a search finds now (committed, visible), unlike the real-time get above. */
  async searchableIds(ids: string[]): Promise<Set<string>> {
    const key = this.fields.uniqueKey;
    const out = new Set<string>();
    for (let i = 0; i < ids.length; i += 500) {
      const chunk = ids.slice(i, i + 500);
      const res = await this.rawSelect({ q: '*:*', fq: anyOfFilter(key, chunk), fl: key, rows: chunk.length });
      for (const d of res.response.docs as any[]) out.add(String(d[key]));
    }
    return out;
  }

  async getByIds(ids: string[], maxBytes?: number): Promise<Map<string, VersionedDoc>> {
    const out = await this.getNow(ids, maxBytes);
    const missing = ids.filter((id) => !out.has(id));
    if (missing.length > 0 && (await this.aliasChanged())) for (const [id, d] of await this.getNow(missing, maxBytes)) out.set(id, d);
    return out;
  }

  /** getByIds, through the alias members as last read. */
  private async getNow(ids: string[], maxBytes?: number): Promise<Map<string, VersionedDoc>> {
    const out = new Map<string, VersionedDoc>();
    for (let i = 0; i < ids.length; i += 500) {
      const chunk = ids.slice(i, i + 500);
      const fl = (await this.nesting()).mode === 'flat' ? '*' : WITH_CHILDREN;
      for (const d of this.pattern ? await this.lookupInSet(chunk, fl, undefined, maxBytes) : await this.realTimeGet(chunk, fl, undefined, maxBytes)) {
        const doc = this.toSourceDoc(d);
        out.set(doc.id, { doc, version: String(d._version_) });
      }
    }
    return out;
  }

  async replaceIfUnchanged(doc: SourceDoc, version: string): Promise<ConditionalResult> {
    const target = await this.writeCollection(doc);
    if ('reason' in target) {
      log.warn({ collection: this.endpoint.collection, id: doc.id, reason: target.reason }, 'not repaired: the document names no collection of target.indexPattern');
      return 'conflict';
    }
    return this.conditional(`[${exactJson.stringify({ ...doc.fields, _version_: BigInt(version) })}]`, target.collection);
  }

  async deleteIfUnchanged(id: string, version: string): Promise<ConditionalResult> {
    const collection = this.pattern ? await this.collectionHolding(id) : this.endpoint.collection;
    if (collection === null) return 'conflict';
    return this.conditional(exactJson.stringify({ delete: { id, _version_: BigInt(version) } }), collection);
  }

  /** The collection a write of this document goes to: the collection, or the pattern's choice (created if need be). */
  private async writeCollection(doc: SourceDoc): Promise<{ collection: string } | { reason: string }> {
    if (!this.pattern) return { collection: this.endpoint.collection };
    const chosen = this.pattern.indexOf(doc);
    if ('reason' in chosen) return chosen;
    await this.ensureCollection(chosen.index);
    return { collection: chosen.index };
  }

  /** A plain update (overwrite=true, Solr's default): the live application's write. */
  async putDocument(doc: SourceDoc): Promise<void> {
    const target = await this.writeCollection(doc);
    if ('reason' in target) throw new Error(`document ${doc.id}: ${target.reason}`);
    await this.http.request('POST', this.coll('/update', { commitWithin: this.commitWithinMs }, target.collection), `[${exactJson.stringify(doc.fields)}]`);
  }

  /** Solr answers a delete of an id it does not hold like any other. */
  async deleteDocument(id: string): Promise<void> {
    const collection = this.pattern ? await this.collectionHolding(id) : this.endpoint.collection;
    if (collection === null) return;
    await this.http.request('POST', this.coll('/update', { commitWithin: this.commitWithinMs }, collection), exactJson.stringify({ delete: { id } }));
  }

  /** An update carrying `_version_`: Solr applies it only while the document is still at that version. */
  private async conditional(body: string, collection = this.endpoint.collection): Promise<ConditionalResult> {
    try {
      await this.http.request('POST', this.coll('/update', { commitWithin: this.commitWithinMs }, collection), body);
      return 'applied';
    } catch (e) {
      if (e instanceof HttpStatusError && e.status === 409) return 'conflict';
      throw e;
    }
  }

  /**
   * Sends the documents with `_version_=-1`. 400: one bad document rejects a whole Solr batch.
   * 409: Solr 8.x does not pass failOnVersionConflicts on to other shard leaders, so one existing
   * document fails the batch. 413 (or Solr's "too large"): the request or a document is over the
   * target's size limit. Either way, halve until the culprits stand alone (create-only makes
   * re-sending harmless); a document refused for its size is rejected with its size, not retried. Every halving step is a request of its own, so each one first checks the
   * claim's signal: a worker that lost its claim sends no more halves.
   */
  private async createOnly(docs: SourceDoc[], signal?: AbortSignal, collection = this.endpoint.collection, leader?: string, halved = false): Promise<{ rejected: Rejection[]; conflicts: Set<string>; added: number }> {
    signal?.throwIfAborted();
    try {
      const body = createOnlyBody(docs);
      if (!leader) {
        await this.http.request('POST', this.coll('/update', { failOnVersionConflicts: false, commitWithin: this.commitWithinMs }, collection), body, 'application/json', signal);
        return { rejected: [], conflicts: new Set(), added: docs.length };
      }
      // At a shard leader: the answer lists the documents added, each with its version (none: no `adds`).
      const url = `${leader}/update?${query({ failOnVersionConflicts: false, commitWithin: this.commitWithinMs, versions: true, indent: false })}`;
      const res = await this.plainHttp.request('POST', url, body, 'application/json', signal);
      // A half of a refused batch: Solr stops at the refused document, and those before it were added
      // by the refused request already (absent from this answer): counted written, as through the endpoint.
      if (halved) return { rejected: [], conflicts: new Set(), added: docs.length };
      return { rejected: [], conflicts: new Set(), added: Array.isArray(res?.adds) ? Math.floor(res.adds.length / 2) : 0 };
    } catch (e) {
      if (!(e instanceof HttpStatusError) || (e.status !== 400 && e.status !== 409 && e.status !== 413)) throw e;
      if (docs.length === 1) {
        if (e.status === 409) return { rejected: [], conflicts: new Set([docs[0].id]), added: 0 };
        const reason = solrMessage(e);
        return { rejected: [{ id: docs[0].id, reason: sizeRefusal(e.status, reason) ? withSize(reason, docs[0].bytes) : reason }], conflicts: new Set(), added: 0 };
      }
      const mid = Math.ceil(docs.length / 2);
      const a = await this.createOnly(docs.slice(0, mid), signal, collection, leader, true);
      const b = await this.createOnly(docs.slice(mid), signal, collection, leader, true);
      return { rejected: [...a.rejected, ...b.rejected], conflicts: new Set([...a.conflicts, ...b.conflicts]), added: a.added + b.added };
    }
  }

  /** The collection's shard routes (cached for ROUTES_TTL_MS), or null: written through the endpoint. */
  private routesOf(collection: string): Promise<ShardRoute[] | null> {
    if (this.directFailures >= DIRECT_GIVE_UP) return Promise.resolve(null);
    const known = this.routes.get(collection);
    if (known && performance.now() - known.at < (this.opts.routesTtlMs ?? ROUTES_TTL_MS)) return known.routes;
    const routes = this.readRoutes(collection).catch((e: unknown) => {
      // Not allowed to read the cluster state (a secured cluster), or it failed: the endpoint, as before.
      log.debug({ collection, err: (e as Error).message?.slice(0, 300) }, 'shard leaders not read: writing through the endpoint');
      return null;
    });
    this.routes.set(collection, { at: performance.now(), routes });
    return routes;
  }

  private async readRoutes(collection: string): Promise<ShardRoute[] | null> {
    const st = await this.http.request('GET', `${this.base}/admin/collections?action=CLUSTERSTATUS&collection=${encodeURIComponent(collection)}&wt=json`);
    // An alias answers with the collection(s) behind it, under their own names: written through the
    // alias, as Solr routes it (a routed alias picks the collection by the document).
    const c = st?.cluster?.collections?.[collection];
    if (!c) return null;
    const live = new Set<string>((st.cluster.live_nodes ?? []).map(String));
    const scheme = new URL(this.base).protocol;
    const baseOf = (nodeName: string) => {
      // A node's name is host:port_context (Solr 9 may leave base_url out of the replicas).
      const m = /^([^_]+)_(.*)$/.exec(nodeName);
      return m ? `${scheme}//${m[1]}/${decodeURIComponent(m[2])}` : null;
    };
    // Only when the endpoint is itself one of the cluster's nodes: an endpoint in front of the nodes
    // (a load balancer, a Kubernetes Service, an auth or audit proxy) is where the operator wants the
    // requests to go, and the nodes' own addresses may not even be reachable from here.
    const self = new URL(this.base);
    const isSelf = (base: string | null) => {
      try {
        const u = new URL(base ?? '');
        return u.host === self.host && u.pathname.replace(/\/+$/, '') === self.pathname.replace(/\/+$/, '');
      } catch {
        return false;
      }
    };
    if (![...live].some((n) => isSelf(baseOf(n)))) return null;
    return shardRoutes(c, live, (r) => (typeof r.base_url === 'string' && r.base_url ? r.base_url : baseOf(String(r.node_name ?? ''))));
  }

  /** Commits the collection, or with target.indexPattern every collection of the set. */
  async refresh(): Promise<void> {
    for (const c of await this.writtenCollections()) {
      await this.http.request('POST', this.coll('/update', { commit: true, openSearcher: true }, c), '[]');
    }
  }

  /** A merge can take long on a big collection: its own request timeout (an hour), not the endpoint's. */
  async optimize(mode: 'expunge-deletes' | 'force-merge'): Promise<void> {
    const slow = new HttpClient({ ...this.http.opts, timeoutMs: 3_600_000 });
    const params: Record<string, boolean | number> = mode === 'force-merge' ? { optimize: true, maxSegments: 1, waitSearcher: true } : { commit: true, expungeDeletes: true, waitSearcher: true };
    for (const c of await this.writtenCollections()) await slow.request('POST', this.coll('/update', params, c), '[]');
  }

  /** Segments and deleted documents over the collection's shards: each shard leader's core, asked by the Luke handler. */
  async segmentStats(): Promise<{ segments: number; deleted: number } | null> {
    const plain = new HttpClient({ ...this.http.opts, json: 'plain' });
    const names = await this.writtenCollections();
    const collections: any[] = [];
    for (const name of names) {
      const st = await plain.request('GET', `${this.base}/admin/collections?action=CLUSTERSTATUS&wt=json&collection=${encodeURIComponent(name)}`);
      // An alias names its collection(s) in the answer: every one of them counts.
      collections.push(...Object.values<any>(st?.cluster?.collections ?? {}));
    }
    const total = { segments: 0, deleted: 0 };
    for (const c of collections) {
      for (const shard of Object.values<any>(c?.shards ?? {})) {
        const leader = Object.values<any>(shard?.replicas ?? {}).find((r) => r.leader === 'true' || r.leader === true);
        if (!leader) return null;
        const luke = await plain.request('GET', `${String(leader.base_url).replace(/\/+$/, '')}/${encodeURIComponent(leader.core)}/admin/luke?numTerms=0&wt=json`);
        const n = luke?.index?.deletedDocs;
        if (n === undefined) return null;
        total.deleted += Number(n);
        total.segments += Number(luke.index.segmentCount ?? 0);
      }
    }
    return total;
  }

  async close(): Promise<void> {
    /* HTTP keep-alive sockets close with the process. */
  }
}

/** The member that makes a Solr write create-only, and the document's end. */
const CREATE_ONLY = '"_version_":-1}';

/**
 * `[doc,doc,...]` with `_version_: -1`, as bytes: each document is written out and encoded on its
 * own, so the heap never holds the whole batch twice (the pieces and their join) besides the pages.
 */
/** A request's query string, JSON answers asked for. */
function query(params: Record<string, string | number | boolean | string[]>): URLSearchParams {
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries({ wt: 'json', ...params })) {
    for (const item of Array.isArray(v) ? v : [v]) qs.append(k, String(item));
  }
  return qs;
}

export function createOnlyBody(docs: SourceDoc[]): Buffer {
  // One buffer of the batch's measured size (grown if escapes made a document longer), each
  // document written into it as soon as it is serialized; a document read raw (rawPage.ts) is
  // written as its bytes came, with `_version_` after its members.
  let buf = Buffer.allocUnsafe(docs.reduce((n, d) => n + d.bytes + 20, 2));
  let at = 0;
  const room = (need: number) => {
    if (at + need <= buf.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(buf.length * 2, at + need));
    buf.copy(bigger, 0, 0, at);
    buf = bigger;
  };
  const put = (text: string) => {
    room(Buffer.byteLength(text));
    at += buf.write(text, at);
  };
  put('[');
  docs.forEach((d, i) => {
    if (i > 0) put(',');
    const raw = d.json;
    if (!raw) {
      put(exactJson.stringify({ ...d.fields, _version_: -1 }));
      return;
    }
    room(raw.bytes + CREATE_ONLY.length + 1);
    buf[at++] = 0x7b;
    at = writeMembers(raw, buf, at);
    put(raw.spans.length ? `,${CREATE_ONLY}` : CREATE_ONLY);
  });
  put(']');
  return buf.subarray(0, at);
}

/** `_version_` as its digits (exactJson may hand it over as a BigInt or a number's text). */
function versionText(v: unknown): string {
  return numberText(v) ?? String(v);
}

/** The fields with their keys in order (top level: Solr returns stored fields in its own order). */
function sortedKeys(d: Doc): Doc {
  const out: Doc = {};
  for (const k of Object.keys(d).sort()) out[k] = d[k];
  return out;
}

function solrMessage(e: HttpStatusError): string {
  try {
    const body = exactJson.parse(e.body);
    return String(body?.error?.msg ?? e.body).slice(0, 300);
  } catch {
    return e.body.slice(0, 300);
  }
}

