/**
 * The ids the dual writer recorded (a write that reached one side only: dualwrite/dualWriter.ts),
 * checked by verify-integrity before any slice, and with --repair fixed first.
 *
 * For each record, `truth` is the side written first: it holds the document as the application last
 * wrote it. Equal on both sides (same content, or absent from both) → the record is removed. Else,
 * without repair: looked at again after verify.gracePeriod (a write may be in flight), and what still
 * differs fails the run. With repair, the truth side's current version is copied to the other side, the
 * way slice repair writes (verifier.ts): created where it is missing (create-only), replaced where it
 * differs — an overwrite by design, the truth side is the truth for that id, but only while the other
 * side is still at the version just read, so a live write landing meanwhile is not clobbered — and
 * deleted where the truth side no longer has it (a delete is never undone: nothing is ever copied
 * from the side that missed the write). The record goes once the id reads equal on both sides, at
 * the version it was read at (a failure recorded again meanwhile keeps it).
 *
 * After a cutover to new, `truth` may be the new cluster: repair then writes to the legacy cluster,
 * finishing the application's own dual write there (never anything the application did not write).
 */
import type { Backend, VersionedDoc } from '../backends/types';
import type { Spec } from '../config/spec';
import { DualWriteRecords, type StoredRecord } from '../coordination/dualWriteRecords';
import type { MigrationStore } from '../coordination/migration';
import type { ZkSession } from '../coordination/zk';
import { log } from '../log';
import { metrics } from '../metrics';
import { requestRetry, sleep, withBackoff } from '../retry';
import { contentHash } from './diff';

/** legacy = the spec's source, new = its target (cutover.ts's ReadSide; not imported: cutover depends on the verifier). */
type ReadSide = 'legacy' | 'new';

/** Records read and compared per round. */
const CHUNK = 200;
/** Ids kept in the report per outcome (counts are exact). */
const IDS_KEPT = 100;

export interface RecordedCheck {
  /** Records looked at. */
  checked: number;
  /** Equal on both sides at the check (the record removed). */
  equal: number;
  /** Made equal by repair (the record removed). */
  repaired: number;
  /** Still different (the record kept): fails the run. */
  different: number;
  /** The first of those ids. */
  ids: string[];
}

type Sides = Record<ReadSide, Backend>;

export async function checkRecorded(spec: Spec, zk: ZkSession, store: MigrationStore, sides: Sides, repair: boolean, ignore: ReadonlySet<string>): Promise<RecordedCheck> {
  const records = new DualWriteRecords(zk, store);
  const out: RecordedCheck = { checked: 0, equal: 0, repaired: 0, different: 0, ids: [] };
  const retry = requestRetry(spec);
  const read = async (chunk: StoredRecord[]) => {
    const ids = chunk.map((r) => r.record.id);
    const [legacy, next] = await Promise.all([withBackoff(() => sides.legacy.getByIds(ids), retry), withBackoff(() => sides.new.getByIds(ids), retry)]);
    return { legacy, new: next } as Record<ReadSide, Map<string, VersionedDoc>>;
  };
  const same = (a?: VersionedDoc, b?: VersionedDoc) => (!a && !b) || (a !== undefined && b !== undefined && contentHash(a.doc.fields, ignore) === contentHash(b.doc.fields, ignore));
  const isEqual = (r: StoredRecord, docs: Record<ReadSide, Map<string, VersionedDoc>>) => same(docs[r.record.truth].get(r.record.id), docs[r.record.behind].get(r.record.id));

  /** Removes the records of ids now equal; the others are returned. */
  const settle = async (chunk: StoredRecord[], docs: Record<ReadSide, Map<string, VersionedDoc>>, how: 'equal' | 'repaired') => {
    const left: StoredRecord[] = [];
    for (const r of chunk) {
      if (!isEqual(r, docs)) left.push(r);
      else if (await records.remove(r)) {
        out[how]++;
        metrics.dualWriteResolved.inc({ migration: spec.migration, how });
      } else left.push(r); // recorded again meanwhile: a newer failure, for the next run
    }
    return left;
  };

  // Without repair, what differs at first sight is looked at once more after the grace period (a
  // write may be in flight between the two sides): one wait for the whole list, not one per chunk.
  const later: StoredRecord[] = [];
  const finish = async (chunk: StoredRecord[]) => {
    let left = await settle(chunk, await read(chunk), 'equal');
    if (left.length && !repair) return void later.push(...left);
    if (left.length) {
      const docs = await read(left);
      const written = new Set<ReadSide>();
      for (const r of left) if (await repairOne(r, docs, sides)) written.add(r.record.behind);
      // Visible before the re-read (Elasticsearch's point read may search; a slice check reads by search).
      for (const side of written) await visible(side);
      left = await settle(left, await read(left), 'repaired');
    }
    stillDifferent(left);
  };
  const stillDifferent = (left: StoredRecord[]) => {
    out.different += left.length;
    for (const r of left) if (out.ids.length < IDS_KEPT) out.ids.push(r.record.id);
  };

  // Elasticsearch's point read falls back to a search for what its real-time get misses (routing): a
  // delete not yet refreshed would still be found there (and copied back). Made visible first, once.
  // A side that refuses it (a Solr collection made read-only) is read as it is.
  const visible = (side: ReadSide) => withBackoff(() => sides[side].refresh(), retry).catch((e) => log.warn({ side, err: String(e) }, 'could not refresh before checking the recorded ids'));
  if (await records.any()) await Promise.all([visible('legacy'), visible('new')]);
  let chunk: StoredRecord[] = [];
  for await (const r of records.all()) {
    out.checked++;
    chunk.push(r);
    if (chunk.length >= CHUNK) {
      await finish(chunk);
      chunk = [];
    }
  }
  if (chunk.length) await finish(chunk);
  if (later.length) {
    await sleep(spec.verify.gracePeriod);
    await Promise.all([visible('legacy'), visible('new')]);
    for (let i = 0; i < later.length; i += CHUNK) {
      const part = later.slice(i, i + CHUNK);
      stillDifferent(await settle(part, await read(part), 'equal'));
    }
  }
  if (out.checked) log.info({ ...out, ids: out.ids.slice(0, 10), repair }, 'ids recorded by the dual writer checked');
  return out;
}

/** Makes the side that missed the write hold what the truth side holds now (see the file's header). */
async function repairOne(r: StoredRecord, docs: Record<ReadSide, Map<string, VersionedDoc>>, sides: Sides): Promise<boolean> {
  const { id, truth, behind } = r.record;
  const t = docs[truth].get(id);
  const b = docs[behind].get(id);
  const target = sides[behind];
  let outcome: string;
  if (t && !b) outcome = (await target.writeBatch([t.doc])).written ? 'created' : 'conflict';
  else if (t && b) outcome = await target.replaceIfUnchanged(t.doc, b.version) === 'applied' ? 'replaced' : 'conflict';
  else if (!t && b) outcome = await target.deleteIfUnchanged(id, b.version, b.doc.routing ?? r.record.routing) === 'applied' ? 'deleted' : 'conflict';
  else outcome = 'equal';
  log.info({ id, truth, behind, outcome }, 'recorded id repaired');
  return outcome !== 'equal' && outcome !== 'conflict';
}
