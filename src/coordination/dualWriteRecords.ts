/**
 * The ids a dual write left on one side only (dualwrite/dualWriter.ts), kept under the migration in
 * ZooKeeper until verify-integrity finds the id equal on both sides (verifier/recorded.ts):
 *
 *   <base>/dualwrite/<bucket>/<id>     one node per id (the latest failure of that id stands)
 *
 * One node per id, whatever the number of failed writes to it: a record is overwritten, never
 * appended. Ids are hash-bucketed (layout.ts, DUAL_WRITE_BUCKETS) so no listing grows without bound.
 * A record is removed only at the version it was read at: a failure recorded again meanwhile stays.
 */
import type { z } from 'zod';
import { Layout } from './layout';
import type { MigrationStore } from './migration';
import type { dualWriteSchema } from './nodes';
import { encodeJson, isNoNode, isNodeExists, isBadVersion, type ZkSession } from './zk';

export type DualWriteRecord = z.output<typeof dualWriteSchema>;

export interface StoredRecord {
  record: DualWriteRecord;
  path: string;
  version: number;
}

export class DualWriteRecords {
  readonly layout: Layout;

  constructor(private readonly zk: ZkSession, private readonly store: Pick<MigrationStore, 'decode' | 'layout'>) {
    this.layout = store.layout;
  }

  /** Records (or re-records) the id: the latest failure says which side is the truth now. */
  async record(r: DualWriteRecord): Promise<void> {
    const path = this.layout.dualWrite(r.id);
    const data = encodeJson(r);
    for (let attempt = 0; ; attempt++) {
      try {
        await this.zk.setData(path, data, -1);
        return;
      } catch (e) {
        if (!isNoNode(e) || attempt > 2) throw e;
      }
      try {
        await this.zk.mkdirp(path.slice(0, path.lastIndexOf('/')));
        await this.zk.create(path, data);
        return;
      } catch (e) {
        // Another process recorded it first (overwrite theirs: ours is later), or its bucket was
        // emptied and removed meanwhile (create it again).
        if (!(isNodeExists(e) || isNoNode(e)) || attempt > 2) throw e;
      }
    }
  }

  async read(id: string): Promise<StoredRecord | null> {
    const path = this.layout.dualWrite(id);
    const got = await this.zk.getDataOrNull(path);
    if (!got) return null;
    return { record: (await this.store.decode('dualWrite', got.data, path)) as DualWriteRecord, path, version: got.stat.version };
  }

  /** Every recorded id, bucket by bucket (one bucket's listing in memory at a time). */
  async *all(): AsyncGenerator<StoredRecord> {
    for (const bucket of (await this.zk.childrenOrEmpty(this.layout.dualWrites)).sort()) {
      const dir = this.layout.dualWriteBucket(bucket);
      for (const name of (await this.zk.childrenOrEmpty(dir)).sort()) {
        const path = `${dir}/${name}`;
        const got = await this.zk.getDataOrNull(path);
        if (got) yield { record: (await this.store.decode('dualWrite', got.data, path)) as DualWriteRecord, path, version: got.stat.version };
      }
    }
  }

  /** Whether any id is recorded (one listing: emptied buckets are removed). */
  async any(): Promise<boolean> {
    return (await this.zk.childrenOrEmpty(this.layout.dualWrites)).length > 0;
  }

  /** How many ids are recorded now. */
  async count(): Promise<number> {
    let n = 0;
    for (const bucket of await this.zk.childrenOrEmpty(this.layout.dualWrites)) n += (await this.zk.childrenOrEmpty(this.layout.dualWriteBucket(bucket))).length;
    return n;
  }

  /** Removes the record if nobody re-recorded it since it was read; false when it was (it stays). */
  async remove(r: StoredRecord): Promise<boolean> {
    try {
      await this.zk.remove(r.path, r.version);
    } catch (e) {
      if (isBadVersion(e)) return false;
      if (!isNoNode(e)) throw e;
    }
    // An emptied bucket goes too (another record landing in it meanwhile keeps it: not empty).
    await this.zk.remove(r.path.slice(0, r.path.lastIndexOf('/'))).catch(() => undefined);
    return true;
  }
}
