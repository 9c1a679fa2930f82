/**
 * The migration spec: one YAML or JSON file, then environment variables, then flags, validated once
 * here. Every other module receives a `Spec` and trusts it.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import yaml from 'js-yaml';
import { z } from 'zod';
import { UserError } from '../errors';
import { parseBytes, parseDuration } from './units';

const size = z.union([z.number().int().positive(), z.string()]).transform((v, ctx) => {
  try {
    return parseBytes(v);
  } catch (e) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: (e as Error).message });
    return z.NEVER;
  }
});
const duration = z.union([z.number().int().nonnegative(), z.string()]).transform((v, ctx) => {
  try {
    return parseDuration(v);
  } catch (e) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: (e as Error).message });
    return z.NEVER;
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
    kind: z.enum(['solr', 'elasticsearch']),
    /** Base URL(s): Solr up to and including /solr; Elasticsearch the node URL. */
    url: z.union([httpUrl, z.array(httpUrl).nonempty()]),
    /** Solr collection (or alias) / Elasticsearch index (or alias). */
    collection: z.string().min(1),
    auth: auth.optional(),
    tls: tls.optional(),
    requestTimeout: duration.default(60_000),
    /**
     * Target only, opt-in: create the index (Elasticsearch) from these files when it is missing, and
     * tune it for bulk loading during the copy (refresh off, no replicas), restored when every slice is done.
     */
    prepare: z
      .object({
        mappingsFile: z.string().optional(),
        settingsFile: z.string().optional(),
        tuneForBulk: z.boolean().default(false),
      })
      .strict()
      .optional(),
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
        connect: z.string().min(1),
        root: z.string().regex(/^\/[^\s]*[^/\s]$|^\/$/, 'an absolute ZooKeeper path such as /bluegreen').default('/bluegreen'),
        sessionTimeout: duration.default(15_000),
        connectTimeout: duration.default(15_000),
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
        default: z.union([z.literal('derived'), duration]).default('derived'),
        perCustomer: z.record(z.union([z.literal('derived'), duration])).default({}),
      })
      .strict()
      .default({}),
    slicing: z
      .object({
        /** About this many documents per slice: what one worker copies in reasonable time. */
        targetDocsPerSlice: z.number().int().positive().default(100_000),
        /** Histogram buckets asked for per customer before refining the busy ones. */
        histogramBuckets: z.number().int().min(2).max(10_000).default(200),
        /** Never cut a slice narrower than this (the timestamp's resolution is milliseconds). */
        minSliceWidth: duration.default(1000),
      })
      .strict()
      .default({}),
    batch: z
      .object({
        docs: z.number().int().positive().max(100_000).default(500),
        bytes: size.default('8MB'),
      })
      .strict()
      .default({}),
    worker: z
      .object({
        slicesInFlight: z.number().int().positive().max(64).default(2),
        /** 0 = no limit. Shared by all slices of one worker process. */
        docsPerSecond: z.number().nonnegative().default(0),
        /** Attempts of one slice (across workers) before it is marked failed. */
        maxAttempts: z.number().int().positive().default(5),
        /** Retries of one page read or one batch write before the attempt fails. */
        requestRetries: z.number().int().nonnegative().default(6),
        /** Rejections kept (ids + reasons) in a work node; more are counted only. */
        keepRejections: z.number().int().nonnegative().max(200).default(20),
      })
      .strict()
      .default({}),
    copy: z
      .object({
        /** Fields never copied (e.g. copyField destinations that the target schema fills itself). */
        excludeFields: z.array(z.string()).default([]),
        /**
         * Elasticsearch: a numeric field holding the document's version. When set, writes use
         * external_gte versioning on it (a newer live write wins) instead of create-only.
         */
        versionField: z.string().min(1).optional(),
      })
      .strict()
      .default({}),
    verify: z
      .object({
        /** A difference is re-checked after this long; only one that persists is reported. Above the commit interval. */
        gracePeriod: duration.default(30_000),
        /** Re-checks before a difference counts as persistent. */
        rechecks: z.number().int().min(1).max(10).default(1),
        /** Fields left out of the content comparison (besides each backend's own, such as _version_). */
        ignoreFields: z.array(z.string()).default([]),
      })
      .strict()
      .default({}),
    cutover: z
      .object({
        /** The alias applications read through (Solr collection alias / Elasticsearch alias), moved at cutover. */
        readAlias: z.string().min(1).optional(),
        /** A passing verification older than this does not allow a cutover: verify again (the dual write may have broken since). */
        maxVerificationAge: duration.default(86_400_000),
      })
      .strict()
      .default({}),
    status: z
      .object({
        /** A claimed slice whose cursor has not moved for this long is shown as stuck. */
        stuckAfter: duration.default(600_000),
      })
      .strict()
      .default({}),
  })
  .strict()
  .superRefine((spec, ctx) => {
    if (spec.source.prepare) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['source', 'prepare'], message: 'prepare is for the target only: bluegreen never changes the source' });
    }
    if (!spec.customers.discover && !spec.customers.list?.length) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['customers'], message: 'with discover: false, give customers.list' });
    }
    const same = spec.source.kind === spec.target.kind && JSON.stringify(spec.source.url) === JSON.stringify(spec.target.url)
      && spec.source.collection === spec.target.collection;
    if (same) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['target', 'collection'], message: 'source and target are the same collection on the same cluster' });
    }
  });

export type Spec = z.output<typeof specSchema>;
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
const ENV_OVERRIDES: Array<[string, (raw: any, value: string) => void]> = [
  ['BLUEGREEN_ZK_CONNECT', (r, v) => ((r.zookeeper ??= {}).connect = v)],
  ['BLUEGREEN_ZK_AUTH', (r, v) => ((r.zookeeper ??= {}).auth = v)],
  ['BLUEGREEN_MIGRATION', (r, v) => (r.migration = v)],
  ['BLUEGREEN_SOURCE_URL', (r, v) => ((r.source ??= {}).url = v)],
  ['BLUEGREEN_TARGET_URL', (r, v) => ((r.target ??= {}).url = v)],
  ['BLUEGREEN_SOURCE_USERNAME', (r, v) => (((r.source ??= {}).auth ??= {}).username = v)],
  ['BLUEGREEN_SOURCE_PASSWORD', (r, v) => (((r.source ??= {}).auth ??= {}).password = v)],
  ['BLUEGREEN_SOURCE_API_KEY', (r, v) => (((r.source ??= {}).auth ??= {}).apiKey = v)],
  ['BLUEGREEN_TARGET_USERNAME', (r, v) => (((r.target ??= {}).auth ??= {}).username = v)],
  ['BLUEGREEN_TARGET_PASSWORD', (r, v) => (((r.target ??= {}).auth ??= {}).password = v)],
  ['BLUEGREEN_TARGET_API_KEY', (r, v) => (((r.target ??= {}).auth ??= {}).apiKey = v)],
];

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
export function validateSpec(raw: unknown, origin = '(inline)'): Spec {
  const result = specSchema.safeParse(raw);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const where = issue.path.length ? issue.path.join('.') : '(top level)';
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
  for (const [name, apply] of ENV_OVERRIDES) {
    const value = env[name];
    if (value !== undefined && value !== '') apply(raw, value);
  }
  if (overrides.zk) (raw.zookeeper ??= {}).connect = overrides.zk;
  if (overrides.migration) raw.migration = overrides.migration;
  return validateSpec(raw, file);
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
    source: { kind: spec.source.kind, collection: spec.source.collection },
    target: { kind: spec.target.kind, collection: spec.target.collection },
    fields: spec.fields,
    customers: spec.customers,
    retention: spec.retention,
    slicing: spec.slicing,
    copy: { excludeFields: spec.copy.excludeFields, versionField: spec.copy.versionField },
  };
  return createHash('sha256').update(JSON.stringify(decisive)).digest('hex').slice(0, 16);
}
