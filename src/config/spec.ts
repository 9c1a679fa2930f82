/**
 * The migration spec: one YAML or JSON file, then environment variables, then flags, validated once
 * here. Every other module receives a `Spec` and trusts it.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import yaml from 'js-yaml';
import { z } from 'zod';
import { UserError } from '../errors';
import { loadTransform, resolveModule } from './transformModule';
import { parseZkConnect, sameNodes } from './endpoints';
import { indexPatternProblem, inWildcard, parseIndexPattern } from './indexPattern';
import { formatBytes, formatMs, parseBytes, parseDuration } from './units';

/** How a value is shown in a message: strings quoted, NaN and Infinity as such. */
export function showValue(v: unknown): string {
  if (typeof v === 'number') return String(v);
  if (typeof v === 'string') return JSON.stringify(v);
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

/** "an integer from 1 to 64", "a number from 0 to 1000000 (0: no limit)" */
export function describeRange(r: { min: number; max: number; integer?: boolean; note?: string }): string {
  return `${r.integer === false ? 'a number' : 'an integer'} from ${r.min} to ${r.max}${r.note ? ` (${r.note})` : ''}`;
}

/** A number with its allowed range: finite, an integer unless `integer: false`, min..max. The message names the value and the range. */
export function numberIn(min: number, max: number, opts: { integer?: boolean; note?: string } = {}) {
  const range = describeRange({ min, max, ...opts });
  return z
    .number({ errorMap: (issue, ctx) => ({ message: issue.code === z.ZodIssueCode.invalid_type && issue.received !== 'undefined'
      ? `Expected number, received ${issue.received} (${showValue(ctx.data)}); allowed: ${range}` : `${ctx.defaultError}; allowed: ${range}` }) })
    .superRefine((v, ctx) => {
      if (!Number.isFinite(v) || (opts.integer !== false && !Number.isInteger(v)) || v < min || v > max) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, message: `${showValue(v)} is out of range: allowed ${range}` });
      }
    });
}

/** A size ("8MB", or bytes) with its allowed range. */
function sizeIn(min: number, max: number) {
  return z.unknown().transform((v, ctx) => {
    let bytes: number;
    try {
      if (typeof v !== 'number' && typeof v !== 'string') throw new Error(`${showValue(v)} is not a size (examples: 1048576, 512KB, 5MB)`);
      bytes = parseBytes(v);
    } catch (e) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: `${(e as Error).message}; allowed: ${formatBytes(min)} to ${formatBytes(max)}` });
      return z.NEVER;
    }
    if (bytes < min || bytes > max) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: `${showValue(v)}${typeof v === 'string' ? ` (${bytes} bytes)` : ' bytes'} is out of range: allowed ${formatBytes(min)} to ${formatBytes(max)}` });
      return z.NEVER;
    }
    return bytes;
  });
}

/** A duration ("30s", or milliseconds) with its allowed range. */
function durationIn(min: number, max: number, note?: string) {
  const range = `${formatMs(min)} to ${formatMs(max)}${note ? ` (${note})` : ''}`;
  return z.unknown().transform((v, ctx) => {
    let ms: number;
    try {
      if (typeof v !== 'number' && typeof v !== 'string') throw new Error(`${showValue(v)} is not a duration (examples: 1500, 30s, 15m, 6h, 90d, 1y)`);
      ms = parseDuration(v);
    } catch (e) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: `${(e as Error).message}; allowed: ${range}` });
      return z.NEVER;
    }
    if (ms < min || ms > max) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: `${showValue(v)}${typeof v === 'string' ? ` (${ms} ms)` : ' ms'} is out of range: allowed ${range}` });
      return z.NEVER;
    }
    return ms;
  });
}

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const YEAR = 365 * DAY;
const KB = 1024;
const MB = 1024 * KB;

/** A ZooKeeper connect string: host:port[,host:port...][/chroot], IPv6 in brackets. */
const zkConnect = z.string().superRefine((v, ctx) => {
  const parsed = parseZkConnect(v);
  if (typeof parsed === 'string') {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: `${showValue(v)} is not a ZooKeeper connect string: ${parsed} (expected host:port[,host:port...][/chroot], e.g. zk-1:2181,zk-2:2181,[::1]:2181/bluegreen)` });
  }
});

const httpUrl = z.string().regex(/^https?:\/\/[^\s/]+/, 'an http:// or https:// URL, e.g. http://solr-host:8983/solr');

const auth = z
  .object({
    username: z.string().min(1).optional(),
    password: z.string().optional(),
    apiKey: z.string().min(1).optional(),
  })
  .strict();

const tls = z
  .object({
    caFile: z.string().optional(),
    certFile: z.string().optional(),
    keyFile: z.string().optional(),
    rejectUnauthorized: z.boolean().default(true),
  })
  .strict();

const endpoint = z
  .object({
    kind: z.enum(['solr', 'elasticsearch', 'opensearch']),
    /** Base URL(s): Solr up to and including /solr; Elasticsearch the node URL. */
    url: z.union([httpUrl, z.array(httpUrl).nonempty()]),
    /** Solr collection (or alias) / Elasticsearch index (or alias). */
    collection: z.string().min(1),
    auth: auth.optional(),
    tls: tls.optional(),
    requestTimeout: durationIn(SECOND, HOUR).default(60_000),
    /**
     * Target only, opt-in: create the index (Elasticsearch) from these files when it is missing, and
     * tune it for bulk loading during the copy (refresh off, no replicas), restored when every slice is done.
     */
    prepare: z
      .object({
        mappingsFile: z.string().optional(),
        /**
         * Solr source, Elasticsearch / OpenSearch target: the mapping is translated from the Solr
         * schema; `merge` lays mappingsFile over it (the file wins field by field), `replace` uses the file alone.
         */
        mappingsFileMode: z.enum(['merge', 'replace']).default('merge'),
        settingsFile: z.string().optional(),
        tuneForBulk: z.boolean().default(false),
      })
      .strict()
      .optional(),
    /**
     * Target only, opt-in: once every slice is done, merge the target's segments — `expunge-deletes`
     * drops the deleted documents that re-copied pages and live updates leave behind, `force-merge`
     * merges down to one segment (seed 004). Once per copy; slow on big indices.
     */
    optimize: z.enum(['expunge-deletes', 'force-merge']).optional(),
    /**
     * Source only: the documents to migrate — a Solr filter query (a string) or an Elasticsearch query
     * (an object such as { range: { ts: { lt: '2020-01-01' } } }). It narrows every slice's reads, the
     * planner's counts and verification's reads of the source.
     */
    query: z.union([z.string(), z.record(z.unknown())]).optional(),
    /**
     * Target only (issue 17, one index into many): the index (Solr: collection) each document is
     * written into, from a date field of the (transformed) document in UTC, e.g.
     * `events-{timestamp:yyyy.MM.dd}`. Indices are created on demand with the mapping of `collection`
     * (or target.prepare.mappingsFile); Solr collections with the configset, shards and replicas of
     * `collection`. The target is read, verified and aliased as the whole set (`events-*`).
     */
    indexPattern: z.string().min(1).optional(),
  })
  .strict();

const customerName = z.string().min(1);

export const specSchema = z
  .object({
    migration: z
      .string()
      .regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,99}$/, 'letters, digits, "_", "." and "-" only, starting with a letter or digit'),
    zookeeper: z
      .object({
        connect: zkConnect,
        root: z.string().regex(/^\/[^\s]*[^/\s]$|^\/$/, 'an absolute ZooKeeper path such as /bluegreen').default('/bluegreen'),
        sessionTimeout: durationIn(2 * SECOND, 10 * MINUTE, 'the server may grant less').default(15_000),
        connectTimeout: durationIn(500, 10 * MINUTE).default(15_000),
        /**
         * "user:password" for ZooKeeper digest auth (better: BLUEGREEN_ZK_AUTH). When set, every node
         * the migration creates gets an ACL that only this identity may change (others may read).
         */
        auth: z.string().regex(/^[^:]+:.+$/, 'user:password').optional(),
      })
      .strict(),
    source: endpoint,
    target: endpoint,
    fields: z
      .object({
        customer: z.string().min(1).default('customer'),
        timestamp: z.string().min(1).default('timestamp'),
        uniqueKey: z.string().min(1).default('id'),
      })
      .strict()
      .default({}),
    customers: z
      .object({
        /** Facet the customer field for the list (plus one slice set for documents with no customer). */
        discover: z.boolean().default(true),
        /** Exactly these customers (with discover: false). */
        list: z.array(customerName).optional(),
      })
      .strict()
      .default({}),
    retention: z
      .object({
        /** "derived": the customer's own oldest document; or a duration such as 365d. */
        default: z.union([z.literal('derived'), durationIn(SECOND, 200 * YEAR)]).default('derived'),
        perCustomer: z.record(z.union([z.literal('derived'), durationIn(SECOND, 200 * YEAR)])).default({}),
      })
      .strict()
      .default({}),
    slicing: z
      .object({
        /** About this many documents per slice: what one worker copies in reasonable time. */
        targetDocsPerSlice: numberIn(1, 100_000_000).default(100_000),
        /** Histogram buckets asked for per customer before refining the busy ones. */
        histogramBuckets: numberIn(2, 10_000).default(200),
        /** Never cut a slice narrower than this (the timestamp's resolution is milliseconds). */
        minSliceWidth: durationIn(1, 10 * YEAR).default(1000),
      })
      .strict()
      .default({}),
    batch: z
      .object({
        docs: numberIn(1, 100_000).default(500),
        bytes: sizeIn(KB, 100 * MB).default('8MB'),
      })
      .strict()
      .default({}),
    worker: z
      .object({
        slicesInFlight: numberIn(1, 64).default(2),
        /** 0 = no limit. Shared by all slices of one worker process. */
        docsPerSecond: numberIn(0, 10_000_000, { integer: false, note: '0: no limit' }).default(0),
        /** Attempts of one slice (across workers) before it is marked failed. */
        maxAttempts: numberIn(1, 1000).default(5),
        /** Retries of one page read or one batch write before the attempt fails. */
        requestRetries: numberIn(0, 100).default(6),
        /** Rejections kept (ids + reasons) in a work node; more are counted only. */
        keepRejections: numberIn(0, 200).default(20),
        /**
         * 0 (the default): every page is checkpointed, and a killed worker's slice re-copies at most
         * the page in flight. Above 0: pages a lane has written are checkpointed together (with one
         * look for live deletes) at most this long after the first of them was written (sliceCopier.ts,
         * TAIL_GROUP): fewer ZooKeeper writes and source requests; a crash copies that much again.
         */
        checkpointEvery: durationIn(0, MINUTE, '0: every page').default(0),
      })
      .strict()
      .default({}),
    copy: z
      .object({
        /**
         * `copy` (the default): source → target, create-only. `in-place` (issue 17): the target is the
         * source collection/index itself; each selected document is read, transformed and written back
         * only while it is still at the version read (README "In place").
         */
        mode: z.enum(['copy', 'in-place']).default('copy'),
        /** Fields never copied (e.g. copyField destinations that the target schema fills itself). */
        excludeFields: z.array(z.string()).default([]),
        /**
         * Elasticsearch: a numeric field holding the document's version. When set, writes use
         * external versioning on it (a live write at the same or a newer version wins) instead of create-only.
         */
        versionField: z.string().min(1).optional(),
      })
      .strict()
      .default({}),
    verify: z
      .object({
        /** A difference is re-checked after this long; only one that persists is reported. Above the commit interval. */
        gracePeriod: durationIn(0, DAY).default(30_000),
        /** Re-checks before a difference counts as persistent. */
        rechecks: numberIn(1, 10).default(1),
        /** Fields left out of the content comparison (besides each backend's own, such as _version_). */
        ignoreFields: z.array(z.string()).default([]),
        /** Verification runs kept in ZooKeeper (the newest; older ones are pruned when a run finishes). */
        keepRuns: numberIn(1, 1000).default(5),
      })
      .strict()
      .default({}),
    cutover: z
      .object({
        /** The alias applications read through (Solr collection alias / Elasticsearch alias), moved at cutover. */
        readAlias: z.string().min(1).optional(),
        /** A passing verification older than this does not allow a cutover: verify again (the dual write may have broken since). */
        maxVerificationAge: durationIn(MINUTE, 365 * DAY).default(86_400_000),
      })
      .strict()
      .default({}),
    /**
     * A module (relative to the spec file, or absolute; .js, .cjs, .mjs or .ts) whose default export is
     * defineTransform({ version, map }): every document copied goes through map (README "Transforms").
     */
    transform: z
      .object({ module: z.string().min(1) })
      .strict()
      .optional(),
    status: z
      .object({
        /** A claimed slice whose cursor has not moved for this long is shown as stuck. */
        stuckAfter: durationIn(SECOND, 30 * DAY).default(600_000),
      })
      .strict()
      .default({}),
  })
  .strict()
  .superRefine((spec, ctx) => {
    if (spec.source.optimize) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['source', 'optimize'], message: 'optimize is for the target only: bluegreen never changes the source' });
    }
    if (spec.target.query !== undefined) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['target', 'query'], message: 'query is for the source only: it selects the documents to migrate (put it under source:)' });
    }
    if (spec.source.indexPattern !== undefined) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['source', 'indexPattern'], message: 'indexPattern is for the target only: it chooses the index each document is written into (put it under target:)' });
    }
    const pattern = spec.target.indexPattern;
    if (pattern !== undefined) {
      const where = ['target', 'indexPattern'];
      const problem = indexPatternProblem(pattern);
      const what = spec.target.kind === 'solr' ? 'collection' : 'index';
      if (problem) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, path: where, message: problem });
      } else if (spec.copy.mode === 'in-place') {
        ctx.addIssue({ code: z.ZodIssueCode.custom, path: where, message: 'in place the documents stay where they are: remove target.indexPattern (or drop copy.mode to copy into the daily indices)' });
      } else if (spec.target.kind === 'solr' && /[^a-z0-9._*-]/.test(parseIndexPattern(pattern).wildcard)) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, path: where, message: `"${pattern}" names collections Solr refuses: a Solr collection name holds only letters, digits, "." "-" and "_" (e.g. events-{timestamp:yyyy.MM.dd})` });
      } else if (inWildcard(parseIndexPattern(pattern).wildcard, spec.target.collection)) {
        const copies = spec.target.kind === 'solr' ? 'whose configset, shards and replicas new collections copy' : 'whose mapping new indices copy';
        ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['target', 'collection'], message: `with indexPattern, collection names the ${what} ${copies}; "${spec.target.collection}" is itself one of the set ${parseIndexPattern(pattern).wildcard}: name another ${what} (e.g. an empty events-template)` });
      } else if (spec.source.kind === spec.target.kind && sameNodes(spec.source.url, spec.target.url) && inWildcard(parseIndexPattern(pattern).wildcard, spec.source.collection)) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, path: where, message: `the source ${what} "${spec.source.collection}" on the same cluster is one of the set ${parseIndexPattern(pattern).wildcard}: the target would read and write it; choose a pattern whose ${what}s cannot be the source's (another prefix)` });
      }
    }
    const q = spec.source.query;
    if (q !== undefined && spec.source.kind === 'solr' && (typeof q !== 'string' || q.trim() === '')) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['source', 'query'], message: `a Solr source takes a filter query string (e.g. "status:active"), not ${showValue(q)}` });
    }
    if (q !== undefined && spec.source.kind === 'elasticsearch' && (typeof q !== 'object' || q === null || Array.isArray(q) || Object.keys(q).length !== 1)) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['source', 'query'], message: `an Elasticsearch source takes a query object with one clause (e.g. { term: { status: active } }), not ${showValue(q)}` });
    }
    if (spec.source.prepare) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['source', 'prepare'], message: 'prepare is for the target only: bluegreen never changes the source' });
    }
    if (!spec.customers.discover && !spec.customers.list?.length) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['customers'], message: 'with discover: false, give customers.list' });
    }
    // Every spelling of one server compares equal (trailing slash, localhost vs 127.0.0.1, default
    // port, a URL or a list): the cluster's own identity is checked too, before anything runs (identity.ts).
    const same = spec.source.kind === spec.target.kind && sameNodes(spec.source.url, spec.target.url)
      && spec.source.collection === spec.target.collection;
    if (spec.copy.mode === 'in-place') {
      const where = ['copy', 'mode'];
      if (!same) ctx.addIssue({ code: z.ZodIssueCode.custom, path: where, message: `in-place rewrites the source where it is: target must name the source itself (same kind, url and collection as source: ${spec.source.kind} "${spec.source.collection}" at ${JSON.stringify(spec.source.url)}); for a copy into another collection drop copy.mode` });
      if (!spec.transform) ctx.addIssue({ code: z.ZodIssueCode.custom, path: where, message: 'in-place needs a transform (transform.module): without one there is nothing to change' });
      if (spec.copy.excludeFields.length) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['copy', 'excludeFields'], message: 'in place, an excluded field would be dropped from every document written back: remove copy.excludeFields (drop fields in the transform instead)' });
      if (spec.copy.versionField) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['copy', 'versionField'], message: 'in place, writes are conditional on the version read (_version_ / seq_no): remove copy.versionField' });
      for (const k of ['prepare', 'optimize'] as const) {
        if (spec.target[k] !== undefined) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['target', k], message: `in place the target is the source: target.${k} would change it; remove it` });
      }
    } else if (same) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['target', 'collection'], message: `source and target are the same collection on the same cluster ("${spec.target.collection}" at ${JSON.stringify(spec.target.url)}): bluegreen would write into its own source` });
    }
  });

/** The validated spec; transform.module is absolute and transform.version is the module's own (validateSpec loads it). */
export type Spec = z.output<typeof specSchema> & { transform?: { module: string; version?: string } };
export type Endpoint = Spec['source'];

/** Flags that override the file (and the environment). */
export interface SpecOverrides {
  zk?: string;
  migration?: string;
}

/**
 * Environment variables: credentials belong here (or in a mounted Secret), not in the spec file.
 * Documented in the README.
 */
const ENV_OVERRIDES: Array<[string, string[]]> = [
  ['BLUEGREEN_ZK_CONNECT', ['zookeeper', 'connect']],
  ['BLUEGREEN_ZK_AUTH', ['zookeeper', 'auth']],
  ['BLUEGREEN_MIGRATION', ['migration']],
  ['BLUEGREEN_SOURCE_URL', ['source', 'url']],
  ['BLUEGREEN_TARGET_URL', ['target', 'url']],
  ['BLUEGREEN_SOURCE_USERNAME', ['source', 'auth', 'username']],
  ['BLUEGREEN_SOURCE_PASSWORD', ['source', 'auth', 'password']],
  ['BLUEGREEN_SOURCE_API_KEY', ['source', 'auth', 'apiKey']],
  ['BLUEGREEN_TARGET_USERNAME', ['target', 'auth', 'username']],
  ['BLUEGREEN_TARGET_PASSWORD', ['target', 'auth', 'password']],
  ['BLUEGREEN_TARGET_API_KEY', ['target', 'auth', 'apiKey']],
];

/** Sets raw[path] = value, creating the mappings on the way (a non-mapping in the way is replaced). */
function setPath(raw: any, path: string[], value: unknown): void {
  let at = raw;
  for (const k of path.slice(0, -1)) {
    if (at[k] === null || typeof at[k] !== 'object' || Array.isArray(at[k])) at[k] = {};
    at = at[k];
  }
  at[path[path.length - 1]] = value;
}

export function parseSpecText(text: string, origin: string): unknown {
  try {
    const raw = origin.endsWith('.json') ? JSON.parse(text) : yaml.load(text);
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
      throw new Error('the top level must be a mapping (migration:, zookeeper:, source:, target:, ...)');
    }
    return raw;
  } catch (e) {
    throw new UserError(`The spec ${origin} cannot be read: ${(e as Error).message.split('\n')[0]}`,
      'Fix the YAML/JSON syntax; `bluegreen --help` and the README show a complete example.');
  }
}

/** Validates a raw object (already merged with env and flags) into a Spec, or throws one UserError listing every problem. */
export function validateSpec(raw: unknown, origin = '(inline)', sources: Record<string, string> = {}, baseDir = process.cwd()): Spec {
  const result = specSchema.safeParse(raw);
  if (result.success) {
    const spec: Spec = result.data;
    if (!spec.transform) return spec;
    // Loaded (once per process) and checked now, before anything is read or written.
    const module = resolveModule(spec.transform.module, baseDir);
    return { ...spec, transform: { module, version: loadTransform(module).version } };
  }
  const problems = result.error.issues.map((issue) => {
    const path = issue.path.join('.');
    // A value from the environment or a flag is named as such: the file may not even have the field.
    const from = Object.entries(sources).find(([p]) => path === p || path.startsWith(`${p}.`))?.[1];
    const where = `${issue.path.length ? path : '(top level)'}${from ? ` (from ${from})` : ''}`;
    if (issue.code === z.ZodIssueCode.unrecognized_keys) return `${where}: unknown field(s) ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
    if (issue.code === z.ZodIssueCode.invalid_type && issue.received === 'undefined') return `${where}: required`;
    if (issue.code === z.ZodIssueCode.invalid_union
      && issue.unionErrors.every((u) => u.issues.some((i) => i.code === z.ZodIssueCode.invalid_type && i.received === 'undefined'))) {
      return `${where}: required`;
    }
    return `${where}: ${issue.message}`;
  });
  throw new UserError(`The spec ${origin} is not valid:\n  - ${problems.join('\n  - ')}`,
    'Correct the fields above; the README section "The migration spec" lists every field and its default.');
}

export function loadSpec(file: string, overrides: SpecOverrides = {}, env: NodeJS.ProcessEnv = process.env): Spec {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new UserError(`Cannot read the spec file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
      'Pass an existing file with --spec (or set BLUEGREEN_SPEC).');
  }
  const raw = parseSpecText(text, file) as any;
  const sources: Record<string, string> = {};
  for (const [name, path] of ENV_OVERRIDES) {
    const value = env[name];
    if (value === undefined || value === '') continue;
    setPath(raw, path, value);
    sources[path.join('.')] = name;
  }
  // A flag given empty (--zk "") is a mistake, not "use the file's value".
  if (overrides.zk !== undefined) {
    setPath(raw, ['zookeeper', 'connect'], overrides.zk);
    sources['zookeeper.connect'] = '--zk';
  }
  if (overrides.migration !== undefined) {
    raw.migration = overrides.migration;
    sources.migration = '--migration';
  }
  return validateSpec(raw, file, sources, dirname(file));
}

/** The spec without secrets: what is stored in ZooKeeper, shown by status and diagnostics. */
export function publicSpec(spec: Spec): Spec {
  const strip = (e: Endpoint): Endpoint => ({
    ...e,
    auth: e.auth ? { username: e.auth.username, password: e.auth.password ? '[redacted]' : undefined, apiKey: e.auth.apiKey ? '[redacted]' : undefined } : undefined,
  });
  const zookeeper = { ...spec.zookeeper, auth: spec.zookeeper.auth ? `${spec.zookeeper.auth.split(':')[0]}:[redacted]` : undefined };
  return JSON.parse(JSON.stringify({ ...spec, zookeeper, source: strip(spec.source), target: strip(spec.target) }));
}

/**
 * Hash of what decides the plan and the copy. A running migration refuses a spec whose hash differs
 * (batch sizes and rates may change freely: they are not part of it).
 */
export function specHash(spec: Spec): string {
  const decisive = {
    // Absent fields stay out of the JSON: specs without a query or a transform keep their old hash.
    source: { kind: spec.source.kind, collection: spec.source.collection, query: spec.source.query },
    target: { kind: spec.target.kind, collection: spec.target.collection, indexPattern: spec.target.indexPattern },
    fields: spec.fields,
    customers: spec.customers,
    retention: spec.retention,
    slicing: spec.slicing,
    copy: { excludeFields: spec.copy.excludeFields, versionField: spec.copy.versionField, mode: spec.copy.mode === 'in-place' ? 'in-place' : undefined },
    transform: spec.transform ? { version: spec.transform.version ?? loadTransform(spec.transform.module).version } : undefined,
  };
  return createHash('sha256').update(JSON.stringify(decisive)).digest('hex').slice(0, 16);
}
