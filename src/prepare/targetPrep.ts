/**
 * `target.prepare`: create the target index if it is missing and tune it for bulk loading before the
 * copy (the planner), put its settings back once every slice is finished (a worker). The steps and
 * their order are in steps.ts; this module runs them against ZooKeeper and the cluster. And
 * `target.optimize`: merge the target's segments once the copy is finished (optimizeTarget).
 *
 * Concurrency: every transition is a conditional write on the record's ZooKeeper version. Two
 * planners, or two workers finishing together, race harmlessly: the loser re-reads the record and
 * either finds nothing left to do or redoes an idempotent step.
 */
import { openBackend } from '../backends';
import type { Backend, IndexPreparer } from '../backends/types';
import type { Spec } from '../config/spec';
import { Layout } from '../coordination/layout';
import { assertNotSourceIndices, assertTargetIsNotSource } from '../backends/identity';
import { CorruptNodeError, decodeNode } from '../coordination/nodes';
import { MigrationStore } from '../coordination/migration';
import { CreateMode, ZkSession, encodeJson, isBadVersion, isNodeExists } from '../coordination/zk';
import { UserError, describeError } from '../errors';
import { log } from '../log';
import { requestRetry, withBackoff } from '../retry';
import { mappingProblems, readPrepareFile } from '../backends/elasticsearch/mapping';
import { SolrBackend } from '../backends/solr/solrBackend';
import { mergeMappings, translateSolrSchema, type Untranslated } from '../backends/solr/schemaMapping';
import { advance, bulkLoadFor, initialRecord, nextAction, prepRecordProblem, type BulkSettings, type PrepRecord } from './steps';

export type { BulkSettings, PrepRecord } from './steps';

export type { IndexPreparer };

export function isIndexPreparer(b: unknown): b is IndexPreparer {
  const p = b as Partial<IndexPreparer>;
  return typeof p?.indexExists === 'function' && typeof p.createIndex === 'function'
    && typeof p.readBulkSettings === 'function' && typeof p.applyBulkSettings === 'function';
}

export function targetPrepPath(spec: Spec): string {
  return `${new Layout(spec.zookeeper.root, spec.migration).base}/target`;
}

export async function readPrepRecord(zk: ZkSession, spec: Spec): Promise<{ record: PrepRecord; version: number } | null> {
  const path = targetPrepPath(spec);
  const got = await zk.getDataOrNull(path);
  if (!got) return null;
  const record = decodeNode('target', got.data, path) as PrepRecord;
  const problem = prepRecordProblem(record);
  if (problem) throw new CorruptNodeError(path, problem, 'target');
  return { record, version: got.stat.version };
}

/** The target mapping of a Solr → Elasticsearch / OpenSearch migration, as `plan --dry-run` shows it and target.prepare creates it. */
export interface TargetMapping {
  /** What the index is created with: the translation, with the operator's mappings file laid over it (or instead). */
  mappings: Record<string, any>;
  /** The translation alone. */
  translated: Record<string, any>;
  untranslated: Untranslated[];
  notes: string[];
  /** Fields the mappings file maps instead of the translation (merge). */
  overridden: string[];
  /** "translated from the Solr schema of ...", "+ mappingsFile x (merge)" */
  origin: string;
  /** What mappingProblems finds in `mappings` (empty: bluegreen can migrate into it). */
  problems: string[];
}

/** True for a migration whose target mapping comes from the source's Solr schema. */
export function translatesSchema(spec: Spec): boolean {
  return spec.source.kind === 'solr' && (spec.target.kind === 'elasticsearch' || spec.target.kind === 'opensearch');
}

/**
 * Solr source, Elasticsearch / OpenSearch target: the target mapping from the live Solr schema
 * (backends/solr/schemaMapping.ts), with target.prepare.mappingsFile merged over it or replacing it
 * (target.prepare.mappingsFileMode). Null for any other pair of kinds. Reads the source's schema only.
 */
export async function targetMapping(spec: Spec, source?: Backend): Promise<TargetMapping | null> {
  if (!translatesSchema(spec)) return null;
  const solr = source instanceof SolrBackend ? source : new SolrBackend(spec.source, spec.fields, spec.copy.excludeFields);
  try {
    const t = translateSolrSchema(await solr.schema(), { uniqueKey: spec.fields.uniqueKey });
    let mappings: Record<string, any> = t.mappings;
    let overridden: string[] = [];
    let origin = `translated from the Solr schema of ${solr.describe()}`;
    const file = spec.target.prepare?.mappingsFile;
    if (file) {
      const mode = spec.target.prepare!.mappingsFileMode;
      ({ mappings, overridden } = mergeMappings(t.mappings, readPrepareFile(file, 'target.prepare.mappingsFile'), mode));
      origin = mode === 'replace' ? `from ${file} (target.prepare.mappingsFile, mappingsFileMode: replace; the translation is not used)`
        : `${origin}, with ${file} (target.prepare.mappingsFile) merged over it`;
    }
    const problems = mappingProblems(mappings, spec.fields, spec.copy.versionField);
    return { mappings, translated: t.mappings, untranslated: t.untranslated, notes: t.notes, overridden, origin, problems };
  } finally {
    if (solr !== source) await solr.close();
  }
}

/**
 * Solr → Elasticsearch / OpenSearch with target.prepare: the mapping from the Solr schema for an index
 * still to create, or a UserError when bluegreen could not migrate into it. Null when there is nothing
 * to derive (other kinds, no target.prepare, or the index exists: the target's check() checks that one).
 * `plan` asks before it writes anything to ZooKeeper; the planner's prepare step asks again.
 */
export async function derivedTargetMapping(spec: Spec, target: Backend | IndexPreparer): Promise<TargetMapping | null> {
  if (!translatesSchema(spec) || !spec.target.prepare || !isIndexPreparer(target)) return null;
  if (await target.indexExists()) return null;
  const derived = await targetMapping(spec);
  if (derived?.problems.length) {
    throw new UserError(`The target mapping (${derived.origin}) would create an index bluegreen cannot migrate into:\n  - ${derived.problems.join('\n  - ')}`,
      'Map those fields in target.prepare.mappingsFile (merged over the translation; `bluegreen plan --dry-run` shows the result), or point fields.* at fields that are.');
  }
  return derived;
}

/**
 * The planner's step, before it plans: create the index and tune it, as `target.prepare` asks. Does
 * nothing (and writes nothing) without `target.prepare`.
 */
export async function prepareTarget(zk: ZkSession, spec: Spec, by: string, target?: Backend): Promise<PrepRecord | null> {
  const prepare = spec.target.prepare;
  if (!prepare) return null;
  const backend = target ?? openBackend(spec.target, spec);
  try {
    if (!isIndexPreparer(backend)) {
      throw new UserError(`target.prepare is set, but a ${spec.target.kind} target cannot be prepared by bluegreen.`,
        'Remove target.prepare from the spec and create the collection yourself; target.prepare is for Elasticsearch targets.');
    }
    const derived = await derivedTargetMapping(spec, backend);
    return await drive(zk, spec, 'prepare', backend, by, async () =>
      initialRecord(spec.target.collection, await backend.indexExists(), prepare.tuneForBulk, by), derived?.mappings);
  } finally {
    if (!target) await backend.close();
  }
}

/**
 * A worker's step once every slice is finished: put back the settings saved before tuning. Harmless
 * when there is nothing to restore, when it is done already, or when another process does it too.
 */
export async function restoreTarget(zk: ZkSession, spec: Spec, by: string, target: Backend): Promise<PrepRecord | null> {
  const got = await readPrepRecord(zk, spec);
  if (!got || nextAction(got.record, 'restore').kind === 'none') return got?.record ?? null;
  if (!isIndexPreparer(target)) {
    log.warn({ state: got.record.state }, 'the target was prepared for bulk loading, but this target cannot restore settings');
    return got.record;
  }
  return drive(zk, spec, 'restore', target, by);
}

async function drive(zk: ZkSession, spec: Spec, goal: 'prepare' | 'restore', target: IndexPreparer, by: string,
  init?: () => Promise<PrepRecord>, mappings?: Record<string, unknown>): Promise<PrepRecord | null> {
  const path = targetPrepPath(spec);
  // Never the source: not the index the spec names, nor one behind an alias (identity.ts). Asked
  // before the first record is written, so a refusal leaves ZooKeeper and both clusters as they were.
  await assertTargetIsNotSource(spec);
  // Transient cluster trouble (429, 503, timeouts) is retried here; anything else stops the step, recorded state intact.
  const cluster = <T>(what: string, fn: () => Promise<T>) => withBackoff(fn, {
    ...requestRetry(spec),
    onRetry: (err, attempt, delayMs) => log.warn({ step: what, attempt, delayMs, err: describeError(err) }, 'target preparation: backing off'),
  });
  for (;;) {
    const got = await readPrepRecord(zk, spec);
    if (!got) {
      if (!init) return null;
      const rec = await init();
      try {
        await zk.create(path, encodeJson(rec));
        log.info({ index: rec.index, state: rec.state }, 'target preparation recorded');
      } catch (e) {
        if (!isNodeExists(e)) throw e;
      }
      continue;
    }
    const { record, version } = got;
    const action = nextAction(record, goal);
    if (action.kind === 'none') return record;
    let patch: Partial<PrepRecord> = {};
    switch (action.kind) {
      case 'create-index':
        await cluster('create index', () => target.createIndex(mappings));
        break;
      case 'save-settings':
        patch = { original: await cluster('read settings', () => target.readBulkSettings()) };
        break;
      case 'apply-bulk-settings':
        await assertNotSourceIndices(spec, Object.keys(record.original!));
        await cluster('tune for bulk', () => target.applyBulkSettings(bulkLoadFor(record.original!)));
        await cluster('tune the indices of target.indexPattern', () => followedBySet(spec, target, bulkLoadFor(record.original!)));
        break;
      case 'announce-restore':
        break;
      case 'restore-settings':
        await assertNotSourceIndices(spec, Object.keys(record.original!));
        await cluster('restore settings', () => target.applyBulkSettings(record.original!));
        await cluster('restore the indices of target.indexPattern', () => followedBySet(spec, target, record.original!));
        break;
    }
    try {
      await zk.setData(path, encodeJson(advance(record, action.then, by, patch)), version);
      log.info({ index: record.index, from: record.state, to: action.then, ...(patch.original ? { saved: patch.original } : {}) }, 'target preparation step');
    } catch (e) {
      if (!isBadVersion(e)) throw e;
      // Another process moved the record meanwhile: read it again and carry on from there.
    }
  }
}

/**
 * target.indexPattern: the indices of the set created so far get the settings `collection` gets (its
 * first concrete index's); one created later takes them from `collection` when it is created
 * (esBackend.definitionOfNewIndex). Never an index of the source (asked first, as for `collection`).
 */
async function followedBySet(spec: Spec, target: IndexPreparer, values: Record<string, BulkSettings>): Promise<void> {
  const v = Object.values(values)[0];
  if (!spec.target.indexPattern || !target.indicesOfSet || !v) return;
  const names = await target.indicesOfSet();
  if (!names.length) return;
  await assertNotSourceIndices(spec, names);
  await target.applyBulkSettings(Object.fromEntries(names.map((n) => [n, v])));
  log.info({ pattern: spec.target.indexPattern, indices: names.length, settings: v }, 'target preparation: the indices of target.indexPattern follow the collection');
}

/**
 * target.optimize, once the copy is finished: one worker at a time (an ephemeral lock) merges the
 * target's segments, then records it (`optimized`), so the others and later runs skip it. A failure
 * is logged and leaves no record: the next worker that sees the copy finished tries again. Returns the
 * record (null: not asked for, another worker is at it, or it failed).
 */
export async function optimizeTarget(zk: ZkSession, spec: Spec, by: string, target: Backend): Promise<OptimizedRecord | null> {
  const mode = spec.target.optimize;
  if (!mode) return null;
  const layout = new Layout(spec.zookeeper.root, spec.migration);
  const store = new MigrationStore(zk, spec);
  const done = await zk.getDataOrNull(layout.optimized);
  if (done) return (await store.decode('optimized', done.data, layout.optimized)) as unknown as OptimizedRecord;
  if (!target.optimize) {
    log.warn({ mode }, `target.optimize is set, but a ${spec.target.kind} target cannot be optimized by bluegreen`);
    return null;
  }
  try {
    await zk.create(layout.optimizing, encodeJson({ by, since: Date.now() }), CreateMode.EPHEMERAL);
  } catch (e) {
    if (isNodeExists(e)) return null; // another worker is merging it
    throw e;
  }
  try {
    // Never the source (identity.ts), checked again right before the one heavy write of this step.
    await assertTargetIsNotSource(spec);
    const before = (await target.segmentStats?.().catch(() => null)) ?? null;
    const started = Date.now();
    log.info({ mode, segments: before?.segments, deleted: before?.deleted }, 'optimizing the target (target.optimize): merging segments');
    await withBackoff(() => target.optimize!(mode), requestRetry(spec));
    await target.refresh();
    const after = (await target.segmentStats?.().catch(() => null)) ?? null;
    const record: OptimizedRecord = {
      mode, by, at: Date.now(), ms: Date.now() - started,
      segmentsBefore: before?.segments ?? null, segmentsAfter: after?.segments ?? null, deletedBefore: before?.deleted ?? null, deletedAfter: after?.deleted ?? null,
    };
    await zk.create(layout.optimized, encodeJson(record)).catch((e) => {
      if (!isNodeExists(e)) throw e;
    });
    log.info({ ...record }, 'target optimized');
    return record;
  } catch (e) {
    log.error({ mode, err: describeError(e) }, 'could not optimize the target; the next worker that sees the copy finished tries again');
    return null;
  } finally {
    await zk.remove(layout.optimizing).catch(() => undefined);
  }
}

export interface OptimizedRecord {
  mode: 'expunge-deletes' | 'force-merge';
  by: string;
  at: number;
  ms: number;
  segmentsBefore: number | null;
  segmentsAfter: number | null;
  /**
   * Elasticsearch keeps soft-deleted documents for its retention leases (index.soft_deletes.retention_lease.period,
   * 12 h by default) whatever the merge: they go at a later merge. Solr drops them in this one.
   */
  deletedBefore: number | null;
  deletedAfter: number | null;
}
